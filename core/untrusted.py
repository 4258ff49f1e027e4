"""Text from a provider is untrusted: made safe to show on a terminal or in a log before it is shown.

A provider (or anything between it and us) chooses the bytes of its error messages, headers and
keys. Shown raw, they could drive the user's terminal (OSC 52 writes the clipboard, CSI clears
the screen, DCS talks to the terminal itself), forge lines (a CR or a line break followed by
``error: all good`` or ``hint: run ...``), or hide text behind bidi overrides and zero-width
characters. :func:`untrusted` makes such text inert and keeps it to one line of bounded length:

- line breaks of every kind (CR, LF, VT, FF, NEL, U+2028/2029) and tabs become a space, so one
  ``error:`` line stays one line;
- every other control character (C0, DEL, C1, ESC and so every escape sequence it would start),
  every bidi control and every other invisible format character, lone surrogates, and the
  non-characters are written as visible escapes (``\\x1b``, ``\\u202e``);
- text longer than ``limit`` characters is cut, saying how long it was.

It is idempotent: cleaning cleaned text changes nothing (a cut text stays within its limit).
"""

from __future__ import annotations

import re
import unicodedata

#: The longest provider text shown in one message (a provider may send a 256 KB error line).
MESSAGE_LIMIT = 2000
#: The longest hint (ours may list the paths of several saved images).
HINT_LIMIT = 8000
#: Line breaks (and the tab): shown as one space each.
_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]")
#: Code points never shown as themselves: controls, bidi and other format characters, surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
_CUT = " ... (cut: {} characters in all)"


def untrusted(text: object, limit: int | None = MESSAGE_LIMIT) -> str:
    """``text`` as it may be shown: one line, no control, escape, bidi or invisible characters.

    ``limit`` (None: no limit) bounds the length of the result, the cut included.
    """
    text = text if isinstance(text, str) else str(text)
    total = len(text)
    if limit is not None and total > limit:
        text = text[:limit]  # cleaning only ever lengthens: nothing past here could be shown
    if not text.isprintable():
        text = _UNSAFE.sub(_visible, _BREAKS.sub(" ", text))
        if not text.isascii():
            text = "".join(_visible_char(char) if _invisible(char) else char for char in text)
    if limit is not None and (len(text) > limit or total > limit):
        tail = _CUT.format(total)
        text = text[: max(limit - len(tail), 0)] + tail
    return text


def safe_lines(text: object) -> str:
    """Like :func:`untrusted` without a length limit, keeping line breaks (for multi-line log records).

    Every line break is made a plain LF, so a CR cannot overwrite what came before it, and every
    line after the first is indented, so no text inside a record can start a line of its own
    (a forged ``error:`` or ``imagegate:`` line).
    """
    text = text if isinstance(text, str) else str(text)
    first, *rest = re.split(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]", text)
    lines = [untrusted(first, None)]
    for line in rest:
        line = untrusted(line, None)
        lines.append(line if line.startswith((" ", "\t")) or not line else "   " + line)
    return "\n".join(lines)


def _invisible(char: str) -> bool:
    """A format character (Cf: bidi marks, zero-width joiners), a surrogate or an unassigned code point."""
    return char > "\u00a0" and unicodedata.category(char) in ("Cf", "Cs", "Cn")


def _visible(match: re.Match[str]) -> str:
    return _visible_char(match.group())


def _visible_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
