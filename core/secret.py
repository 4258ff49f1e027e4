"""The API key as a value that cannot leak by accident, and the redaction every output passes through."""

from __future__ import annotations

import contextlib
import io
import json
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
# Any 12 characters of a key in a row are enough to identify it, so every such piece is scrubbed.
_WINDOW = 12
_factory_installed = False
_scrubber: tuple[frozenset[str], re.Pattern[str], tuple[str, ...]] | None = None
# \uXXXX escapes of visible ASCII (not quote or backslash), decoded to find an escaped key.
_ESCAPE = re.compile(r"\\u00(2[1-9a-fA-F]|[3-4][0-9a-fA-F]|5[0-9abd-fABD-F]|6[0-9a-fA-F]|7[0-9a-eA-E])")


class Secret:
    """Holds a key; its repr and str never show it. Use :meth:`reveal` only to build auth headers."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        remember(value)

    def reveal(self) -> str:
        """The key itself: only for the header sent to the configured provider."""
        return self._value

    def prefixed(self, text: str) -> Secret:
        """``text`` followed by the key, still a Secret: an auth header value such as ``Bearer sk-...``."""
        return Secret(text + self._value)

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
    """Replace every known secret, any 12 characters of one in a row, and its escaped forms, with a marker.

    The escaped forms are how a key shows in a repr or in JSON (``\\n``, ``\\u0073``); the search
    is one regular expression, compiled once per set of known keys.
    """
    if not _known or not text:
        return text
    pattern, pieces = _scrubbing()
    if "\\u" in text:
        decoded = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
        if decoded != text and pattern.search(decoded):
            text = decoded
    match = pattern.search(text)
    if match is None:
        return text
    out, position = [], 0
    while match is not None:
        out += (text[position : match.start()], REDACTED)
        position = _extent(text, match, pieces)
        match = pattern.search(text, position)
    out.append(text[position:])
    return "".join(out)


def _scrubbing() -> tuple[re.Pattern[str], tuple[str, ...]]:
    """The pattern matching what :func:`redact` scrubs, and the texts a match may run on into."""
    global _scrubber
    known = frozenset(_known)
    if _scrubber is None or _scrubber[0] != known:
        forms = {form for value in known for form in _forms(value)}
        pieces = {form[i : i + _WINDOW] for form in forms for i in range(max(len(form) - _WINDOW, 0) + 1)}
        alternatives = sorted(pieces, key=len, reverse=True)
        _scrubber = known, re.compile("|".join(map(re.escape, alternatives))), tuple(forms)
    return _scrubber[1], _scrubber[2]


def _forms(value: str) -> set[str]:
    """A key as it may appear in text: itself, inside a repr, inside JSON (ASCII-escaped or not)."""
    return {value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def _extent(text: str, match: re.Match[str], forms: tuple[str, ...]) -> int:
    """Where the piece of a key found by ``match`` ends: the match, run on while the key goes on."""
    start, end, piece = match.start(), match.end(), match.group()
    for form in forms:
        at = form.find(piece)
        while at >= 0:
            length = len(piece)
            while (
                start + length < len(text)
                and at + length < len(form)
                and text[start + length] == form[at + length]
            ):
                length += 1
            end = max(end, start + length)
            at = form.find(piece, at + 1)
    return end


def redact_data(value: Any) -> Any:
    """:func:`redact` applied to every string inside a JSON-like value (what a provider answered)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return value


def redact_headers(headers: Mapping[str, str | Secret], secret_names: Collection[str] = ()) -> dict[str, str]:
    """Headers as they may be shown: credentials replaced by a marker, every other value redacted.

    ``secret_names`` (any case) are hidden as well as the headers in :data:`ALWAYS_SECRET` and
    every header whose value is a :class:`Secret`.
    """
    hidden = {name.lower() for name in secret_names} | ALWAYS_SECRET
    return {
        key: REDACTED if key.lower() in hidden or isinstance(value, Secret) else redact(value)
        for key, value in headers.items()
    }


def reveal_headers(headers: Mapping[str, str | Secret]) -> dict[str, str]:
    """The headers as sent: each :class:`Secret` value revealed. Only the sending code calls this."""
    return {key: value.reveal() if isinstance(value, Secret) else value for key, value in headers.items()}


def key_problem(value: str) -> str | None:
    """Why ``value`` cannot be an API key in an HTTP header (never quoting it), or None when it can.

    A header carries visible Latin-1 characters; a space, a line break or a control character
    in a key is a copy-and-paste slip that requests would refuse while quoting the key.
    """
    if not value:
        return "is empty"
    if any(char.isspace() for char in value):
        return "contains spaces or line breaks"
    if any(ord(char) > 255 for char in value):
        return "contains characters an HTTP header cannot carry (beyond Latin-1)"
    if not value.isprintable():
        return "contains control characters"
    return None


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
