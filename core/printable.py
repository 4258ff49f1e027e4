"""Provider text made safe to show on a terminal or in a tool error: one line, no control characters.

A provider chooses job ids, statuses and error messages; written as they are, an escape sequence
could rewrite the user's terminal and a line break could forge an ``error:`` or ``hint:`` line.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str) -> str:
    """``text`` with every non-printable character (controls, line breaks, bidi marks) escaped."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
