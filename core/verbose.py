"""``--verbose``: requests and responses described on stderr, with the key redacted.

The lines come from the ``imagegate`` loggers; this module turns them on for one command and
formats what they show. Secret headers are replaced before a line is built, and every record
is scrubbed by :mod:`imagegate.secret` when it is made.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .secret import redact, redact_headers

if TYPE_CHECKING:
    from .adapter import HttpRequest

log = logging.getLogger("imagegate")
BODY_TEXT_LIMIT = 300


@contextlib.contextmanager
def verbose_logging(enabled: bool, stream: Any = None) -> Iterator[None]:
    """Show imagegate's request/response lines on ``stream`` (stderr) while active, if ``enabled``."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    # Records are scrubbed when they are made (secret.remember installs a record factory)
    handler.setFormatter(logging.Formatter("imagegate: %(message)s"))
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


def describe_request(request: HttpRequest, attempt: int) -> str:
    """One request as ``--verbose`` shows it: method, URL, headers, body fields and file parts."""
    lines = [f"-> {request.method} {redact(request.url)}" + (f" (retry {attempt})" if attempt else "")]
    for key, value in redact_headers(request.headers, request.secret_headers).items():
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
    for key, value in redact_headers(headers, ("set-cookie",)).items():
        lines.append(f"   {key}: {value}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = redact(repr(value) if not isinstance(value, str) else value)
    return text if len(text) <= BODY_TEXT_LIMIT else text[:BODY_TEXT_LIMIT] + f"... ({len(text)} chars)"
