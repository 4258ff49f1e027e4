"""The API key as a value that cannot leak by accident, and the redaction every output passes through."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import threading
from collections.abc import Collection, Iterator, Mapping
from typing import Any, TextIO

REDACTED = "***redacted***"
#: Header names that carry credentials whatever the adapter says (shown redacted).
ALWAYS_SECRET = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"})
_known: set[str] = set()
# A tail of the key is enough to identify it, so tails are scrubbed too.
_TAIL = 12
_factory_installed = False


class Secret:
    """Holds a key; its repr and str never show it. Use :meth:`reveal` only to build auth headers."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        remember(value)

    def reveal(self) -> str:
        """The key itself: only for the header sent to the configured provider."""
        return self._value

    def fingerprint(self) -> str:
        """A short, safe identification such as ``sk-...a1b2``."""
        value = self._value
        if len(value) < 12:
            return "..." + value[-2:] if len(value) > 6 else "***"
        prefix = value[:3] if re.match(r"^[A-Za-z]{2}-", value) else ""
        return f"{prefix}...{value[-4:]}"

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # never pickled into a crash dump or a worker's arguments
        raise TypeError("a Secret cannot be pickled")


def remember(value: str) -> None:
    """Register a secret so :func:`redact` scrubs it (and its tail) from any text."""
    if value and len(value) >= 4:
        _known.add(value)
        _install_log_redaction()


def redact(text: str) -> str:
    """Replace every known secret, and the last characters of each, with a marker."""
    if not _known or not text:
        return text
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
        tail = value[-_TAIL:]
        if len(value) > _TAIL and tail in text:
            text = text.replace(tail, REDACTED)
    return text


def redact_headers(headers: Mapping[str, str], secret_names: Collection[str] = ()) -> dict[str, str]:
    """Headers as they may be shown: credentials replaced by a marker, every other value redacted.

    ``secret_names`` (any case) are hidden as well as the headers in :data:`ALWAYS_SECRET`.
    """
    hidden = {name.lower() for name in secret_names} | ALWAYS_SECRET
    return {key: REDACTED if key.lower() in hidden else redact(value) for key, value in headers.items()}


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render a log record's message, traceback and stack with every known secret scrubbed."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: show its template rather than fail
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def _install_log_redaction() -> None:
    """Make every log record of the process (urllib3's debug lines included) carry no known secret.

    A record factory sees each record once, whatever logger or handler it goes to, including
    handlers a caller configured before the key was read.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs known secrets line by line before passing text on.

    Lines are held until complete (or flushed), so a key printed in pieces by ``print()`` (as
    http.client's debug output does) is still recognised.
    """

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
            if cut >= 0:
                ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
                self.target.write(redact(ready))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.target.write(redact(self._pending))
                self._pending = ""
        self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.target.fileno()


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """While active, everything written to sys.stdout and sys.stderr passes through :func:`redact`.

    This catches what logging cannot: libraries that ``print()`` (http.client with a debuglevel).
    """
    if isinstance(sys.stdout, RedactingStream):
        yield
        return
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    try:
        yield
    finally:
        guards = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = saved
        for guard in guards:
            with contextlib.suppress(Exception):
                guard.flush()
