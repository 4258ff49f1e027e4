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

from .secret import guard_logs, redact, redact_headers
from .untrusted import untrusted

if TYPE_CHECKING:
    from .adapter import HttpRequest

log = logging.getLogger("imagegate")
BODY_TEXT_LIMIT = 300
HEADER_TEXT_LIMIT = 1000


@contextlib.contextmanager
def verbose_logging(enabled: bool, stream: Any = None) -> Iterator[None]:
    """Show imagegate's request/response lines on ``stream`` (stderr) while active, if ``enabled``."""
    if not enabled:
        yield
        return
    guard_logs()  # every record scrubbed and made terminal-safe, even with no key known yet
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
    retry = f" (retry {attempt})" if attempt else ""
    lines = [f"-> {request.method} {untrusted(redact(request.url), None)}{retry}"]
    for key, value in redact_headers(request.headers, request.secret_headers).items():
        lines.append(f"   {key}: {value}")
    fields: list[tuple[str, Any]] = list((request.json or {}).items()) + list(request.form)
    for key, value in fields:
        lines.append(f"   body {key} = {_short(value)}")
    for part in request.files:
        lines.append(f"   file {part.field} = {part.path} ({part.content_type})")
    return "\n".join(lines)


def describe_response(status: int, reason: str, headers: Mapping[str, str], seconds: float) -> str:
    """A response's status line and headers (cookies hidden) as ``--verbose`` shows them.

    Everything in it comes from the provider, so each piece is made one inert line of its own.
    """
    lines = [f"<- HTTP {status} {untrusted(reason, BODY_TEXT_LIMIT)} after {seconds:.2f} s"]
    for key, value in redact_headers(headers, ("set-cookie",)).items():
        lines.append(f"   {untrusted(key, BODY_TEXT_LIMIT)}: {untrusted(value, HEADER_TEXT_LIMIT)}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = untrusted(redact(repr(value) if not isinstance(value, str) else value), None)
    return text if len(text) <= BODY_TEXT_LIMIT else text[:BODY_TEXT_LIMIT] + f"... ({len(text)} chars)"
