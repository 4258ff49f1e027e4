"""``--verbose``: requests and responses described on stderr, with the key redacted.

The lines come from the ``imagegate`` loggers; this module turns them on for one command and
formats what they show. Secret headers are replaced before a line is built, and every line
passes :func:`~imagegate.secret.redact` again on its way out.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .secret import REDACTED, redact

if TYPE_CHECKING:
    from .adapter import HttpRequest

log = logging.getLogger("imagegate")
#: Header names that carry credentials whatever the adapter says (shown redacted).
ALWAYS_SECRET = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"})
BODY_TEXT_LIMIT = 300


class RedactingFormatter(logging.Formatter):
    """Formats a record, then scrubs every known secret from the result."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


@contextlib.contextmanager
def verbose_logging(enabled: bool, stream: Any = None) -> Iterator[None]:
    """Show imagegate's request/response lines on ``stream`` (stderr) while active, if ``enabled``."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter("imagegate: %(message)s"))
    previous = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False  # shown once, here, even when the root logger prints too
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous[0])
        log.propagate = previous[1]


def shown_headers(headers: Mapping[str, str], secret: frozenset[str] = frozenset()) -> dict[str, str]:
    """Headers as they may be shown: credentials replaced by a marker, the rest redacted."""
    hidden = {name.lower() for name in secret} | ALWAYS_SECRET
    return {key: REDACTED if key.lower() in hidden else redact(value) for key, value in headers.items()}


def describe_request(request: HttpRequest, attempt: int) -> str:
    """One request as ``--verbose`` shows it: method, URL, headers, body fields and file parts."""
    lines = [f"-> {request.method} {redact(request.url)}" + (f" (retry {attempt})" if attempt else "")]
    for key, value in shown_headers(request.headers, request.secret_headers).items():
        lines.append(f"   {key}: {value}")
    fields: list[tuple[str, Any]] = list((request.json or {}).items()) + list(request.form)
    for key, value in fields:
        lines.append(f"   body {key} = {_short(value)}")
    for part in request.files:
        lines.append(f"   file {part.field} = {part.path} ({part.content_type})")
    return "\n".join(lines)


def describe_response(status: int, reason: str, headers: Mapping[str, str], seconds: float) -> str:
    """A response's status line and headers (cookies hidden) as ``--verbose`` shows them."""
    lines = [f"<- HTTP {status} {reason} after {seconds:.2f} s"]
    for key, value in shown_headers(headers, frozenset({"set-cookie"})).items():
        lines.append(f"   {key}: {value}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = redact(repr(value) if not isinstance(value, str) else value)
    return text if len(text) <= BODY_TEXT_LIMIT else text[:BODY_TEXT_LIMIT] + f"... ({len(text)} chars)"
