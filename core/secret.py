"""The API key as a value that cannot leak by accident, and the redaction every output passes through."""

from __future__ import annotations

import re

REDACTED = "***redacted***"
_known: set[str] = set()
# A tail of the key is enough to identify it, so tails are scrubbed too.
_TAIL = 12


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


def redact_bytes(data: bytes) -> bytes:
    """Like :func:`redact` for raw bytes (a provider body that echoes the key back)."""
    if not _known:
        return data
    return redact(data.decode("utf-8", "replace")).encode("utf-8")
