"""Finding a known key in text in any form it may take (encoded, escaped, reversed, split) and cutting it out.

The registry of what is known lives in :mod:`imagegate.secret`; this is the search it runs.
"""

from __future__ import annotations

import base64
import html
import json
import re
from array import array
from typing import Any

REDACTED = "***redacted***"
# Any 12 characters of a key in a row are enough to identify it, so every such piece is scrubbed.
WINDOW = 12
# \uXXXX escapes of visible ASCII (not quote or backslash), decoded to find an escaped key.
_ESCAPE = re.compile(r"\\u00(2[1-9a-fA-F]|[3-4][0-9a-fA-F]|5[0-9abd-fABD-F]|6[0-9a-fA-F]|7[0-9a-eA-E])")
#: What the decoded view of a text decodes or drops: percent, HTML (numeric ones with or without
#: their ``;``, as browsers read them) and backslash escapes, white space, and invisible format
#: characters (zero-width spaces and joiners, bidi marks, soft hyphens).
_INVISIBLE_CHARS = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0"
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
NORMALISE = re.compile(
    r"%[0-9a-fA-F]{2}|&#[xX][0-9a-fA-F]{1,6};?|&#[0-9]{1,7};?|&[A-Za-z][A-Za-z0-9]{1,31};"
    r"|\\+u[0-9a-fA-F]{4}|\\+x[0-9a-fA-F]{2}|[\s" + _INVISIBLE_CHARS + "]+"
)
#: What may stand between the bytes of a key written in hex (``73:6b:2d``, as a MAC address is).
_HEX_SEPARATORS = ":- ."
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Scrubber = tuple[re.Pattern[str], tuple[str, ...]]


def scrub(text: str, scrubber: Scrubber) -> str:
    pattern, forms = scrubber
    if "\\u" in text:
        decoded = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
        if decoded != text and pattern.search(decoded.translate(_ASCII_LOWER)):
            text = decoded
    lowered = text.translate(_ASCII_LOWER)
    match = pattern.search(lowered)
    if match is None:
        return text
    out: list[str] = []
    position = 0
    while match is not None:
        out += (text[position : match.start()], REDACTED)
        position = _extent(lowered, match, forms)
        match = pattern.search(lowered, position)
    out.append(text[position:])
    return "".join(out)


def scrub_normalised(text: str, scrubber: Scrubber, spaces: bool = False) -> str:
    """Scrub what a key becomes once escapes are decoded and spaces and invisible characters dropped.

    The search runs on that decoded view; each piece found is cut out of the original text, from
    where its first character starts to where its last one ends. With ``spaces`` a run of white
    space stays in the view as one space (for short secrets, which words run together could spell).
    """
    view, starts, ends = _view(text, spaces)
    view = view.translate(_ASCII_LOWER)
    pattern, forms = scrubber
    out: list[str] = []
    position = 0
    match = pattern.search(view)
    while match is not None:
        end = _extent(view, match, forms)
        start = max(starts[match.start()], position)
        out += (text[position:start], REDACTED)
        position = max(ends[end - 1], position)
        match = pattern.search(view, end)
    out.append(text[position:])
    return _one_marker("".join(out))


def _one_marker(text: str) -> str:
    """Markers side by side (two passes found two pieces of one key) shown as one."""
    while REDACTED + REDACTED in text:
        text = text.replace(REDACTED + REDACTED, REDACTED)
    return text


def _view(text: str, spaces: bool = False) -> tuple[str, array, array]:
    """``text`` with escapes decoded and spaces (unless ``spaces``: one space for a run of them)
    and invisible characters dropped, and for each character of that view where it starts and
    ends in ``text``."""
    chars: list[str] = []
    starts, ends = array("q"), array("q")
    position = 0
    for match in NORMALISE.finditer(text):
        chars.append(text[position : match.start()])
        starts.extend(range(position, match.start()))
        ends.extend(range(position + 1, match.start() + 1))
        decoded = _decoded(match, spaces)
        if decoded:
            chars.append(decoded)
            starts.append(match.start())
            ends.append(match.end())
        position = match.end()
    chars.append(text[position:])
    starts.extend(range(position, len(text)))
    ends.extend(range(position + 1, len(text) + 1))
    return "".join(chars), starts, ends


def _decoded(match: re.Match[str], spaces: bool = False) -> str:
    """What one escape or invisible run stands for in the view ("" for invisible ones, and for
    spaces unless ``spaces``: then one space)."""
    token = match.group()
    if token[0] == "%":
        char = chr(int(token[1:], 16))
    elif token.startswith("&#x") or token.startswith("&#X"):
        char = chr(min(int(token[3:].rstrip(";"), 16), 0x10FFFF))
    elif token.startswith("&#"):
        char = chr(min(int(token[2:].rstrip(";")), 0x10FFFF))
    elif token[0] == "&":
        char = html.unescape(token)
    elif token[0] == "\\":  # \u200b, or \\u200b as JSON shows it inside a string
        char = chr(int(token.lstrip("\\")[1:], 16))
    else:
        return " " if spaces and any(char.isspace() for char in token) else ""
    if char.isspace():
        return " " if spaces else ""
    return "" if _INVISIBLE.fullmatch(char) else char


def compile(known: frozenset[str]) -> Scrubber:
    """Every 12-character piece of every form of the known secrets, as one trie-shaped pattern.

    The text is searched lowered (ASCII only, so positions do not move); a trie keeps the search
    fast however many forms there are, where a flat alternation would try each at every position.
    """
    forms = {form.translate(_ASCII_LOWER) for value in known for form in _forms(value)}
    pieces = {form[i : i + WINDOW] for form in forms for i in range(max(len(form) - WINDOW, 0) + 1)}
    return re.compile(_trie(sorted(pieces))), tuple(forms)


def _trie(words: list[str]) -> str:
    """A regular expression matching exactly ``words``, their common prefixes factored out."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branch(root)


def _branch(node: dict[str, Any]) -> str:
    if set(node) == {""}:
        return ""
    singles, longer = [], []
    for char, child in sorted(node.items()):
        if char:
            rest = _branch(child)
            (longer.append(re.escape(char) + rest) if rest else singles.append(re.escape(char)))
    if singles:
        longer.append(singles[0] if len(singles) == 1 else "[" + "".join(singles) + "]")
    body = longer[0] if len(longer) == 1 and "" not in node else "(?:" + "|".join(longer) + ")"
    return body + "?" if "" in node else body


def _forms(value: str) -> set[str]:
    """A key as it may appear in text: itself, inside a repr, inside JSON (ASCII-escaped or not),
    reversed, in hex (also with its bytes separated: ``73:6b``, ``73 6b``, ``73-6b``, ``73.6b``),
    and in base64 (standard and URL-safe) at each of the three alignments a key can have inside a
    longer encoded text (``Bearer sk-...``)."""
    data = value.encode("utf-8", "surrogatepass")
    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {value[::-1], data.hex()}
    forms |= {data.hex(separator) for separator in _HEX_SEPARATORS}
    for skip in range(3):
        aligned = data[skip:]
        aligned = aligned[: len(aligned) // 3 * 3]
        if len(aligned) >= 9:
            forms |= {base64.b64encode(aligned).decode(), base64.urlsafe_b64encode(aligned).decode()}
    return {form for form in forms if form}


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
