"""Parses a JSON answer while it arrives, decoding base64 image strings straight into spools.

``parse(chunks, b64_fields, new_spool)`` returns the document with every string found at one of
the ``b64_fields`` patterns (tuples of keys, ``"*"`` matching any array index or key) replaced
by the :class:`~imagegate.spool.Spool` that holds its decoded bytes. A ``data:image/...;base64,``
prefix is accepted; a string there that is an ``http://`` or ``https://`` link is kept as text (some
answers carry a data URL or a link in the same field, for the core to download). Invalid JSON or
base64 raises :class:`InvalidAnswer`, exactly when ``json.loads`` followed by
``base64.b64decode(..., validate=True)`` would fail.

Memory stays flat whatever the size or number of images: only about one chunk of text is held
at a time, and each image string is decoded chunk by chunk into its spool. Big strings are
scanned with ``str.find`` and ``binascii`` (C), never character by character in Python. The rest
of the document (small) is read with the json module's own scanners, so numbers, escapes and
``NaN`` behave exactly as in ``json.loads``.

Known differences from the oracle, all on answers no provider sends: a ``data:`` prefix must end
(with a literal, unescaped comma) within its first 1 KiB; and an image string under a key that
appears twice in one object is decoded (and must be valid) even though the later one wins.
"""

from __future__ import annotations

import codecs
import json
import json.decoder
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .imagebase64 import (
    ANSWER_MAX_BYTES,
    IMAGE_MAX_BYTES,
    Base64Sink,
    InvalidAnswer,
    InvalidImage,
    capped,
    incomplete_escape,
    unescape,
)
from .spool import Spool

#: json's own string scanner (the C one where available), which typeshed does not declare.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_DATA_URI = re.compile(r"^data:[\w.+/-]*(;[\w.+-]+=[^;,]*)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_LINE_SPACE = re.compile(r"[ \t\r]*")  # inside one line of JSON Lines: a line break ends the document
#: The starts of an image field's string that make it a link, not base64.
_LINKS = ("http://", "https://")
_LINK_WINDOW = len('"https:\\/\\/')  # slashes may come escaped
#: How far into an image string a ``data:...;base64,`` prefix may reach.
PREFIX_LIMIT = 1024
#: The longest non-image value (a revised prompt, a URL, a number) an answer may hold, in characters.
VALUE_LIMIT = 8 * 1024 * 1024
#: Containers nested deeper than this (outside the image paths) are replaced by None: no provider
#: sends them, and every later step (redaction, printing JSON) can then walk the document safely.
MAX_DEPTH = 32


def matches(path: tuple[Any, ...], pattern: tuple[str, ...]) -> bool:
    """Whether a path such as ("data", 0, "b64_json") fits a pattern like ("data", "*", "b64_json")."""
    return len(path) == len(pattern) and all(p == "*" or p == k for k, p in zip(path, pattern, strict=False))


def parse(
    chunks: Iterable[bytes],
    b64_fields: tuple[tuple[str, ...], ...],
    new_spool: Callable[[], Spool],
    *,
    max_bytes: int = ANSWER_MAX_BYTES,
    max_image_bytes: int = IMAGE_MAX_BYTES,
) -> Any:
    """Read the answer as it arrives and return the document with image strings replaced by spools.

    An answer longer than ``max_bytes`` (as it arrives, decompressed), an image longer than
    ``max_image_bytes`` once decoded, or anything but a string (or null) where an image string
    belongs makes the answer invalid. Containers nested deeper than :data:`MAX_DEPTH` come back
    as None.
    """
    try:
        parser = _Parser(capped(chunks, max_bytes), b64_fields, new_spool, max_image_bytes)
        return bounded(parser.document())
    except UnicodeDecodeError as exc:
        raise InvalidAnswer(f"not JSON (not valid text: {exc.reason})") from None
    except RecursionError:
        raise InvalidAnswer("not JSON (nested too deeply)") from None


def loads(body: bytes) -> Any:
    """``json.loads`` for what a provider sent (an error body): never more than InvalidAnswer.

    Deep nesting, huge numbers and invalid text all raise InvalidAnswer; containers nested
    deeper than :data:`MAX_DEPTH` come back as None.
    """
    return parse([body], (), _no_spool)


def _no_spool() -> Spool:
    raise InvalidAnswer("an image where none was expected")  # never called: no image paths


def bounded(value: Any, depth: int = 0) -> Any:
    """``value`` with every container nested deeper than :data:`MAX_DEPTH` replaced by None (in place)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                value[key] = None if depth + 1 >= MAX_DEPTH else bounded(item, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                value[index] = None if depth + 1 >= MAX_DEPTH else bounded(item, depth + 1)
    return value


@dataclass(frozen=True)
class BadLine:
    """A line of a JSON Lines stream that is not a JSON document (or holds invalid base64)."""

    number: int
    reason: str


def documents(
    chunks: Iterable[bytes],
    b64_fields: tuple[tuple[str, ...], ...],
    new_spool: Callable[[], Spool],
) -> Iterator[Any]:
    """Read a JSON Lines stream as it arrives: each document as soon as it is complete.

    Image strings are decoded into spools exactly as :func:`parse` does, so a file of any size is
    read in flat memory. A line that is not JSON is yielded as a :class:`BadLine` and reading goes
    on at the next line (the stream is never read whole to find its lines).
    """
    parser = _Parser(iter(chunks), b64_fields, new_spool)
    try:
        parser._start()
        number = 0
        while True:
            parser.space = _WHITESPACE
            parser._skip_space()
            if parser.pos >= len(parser.text):
                return
            number += 1
            parser.space = _LINE_SPACE
            try:
                yield bounded(parser._value(()))
            except InvalidAnswer as exc:
                parser._skip_line()
                yield BadLine(number, str(exc))
    except UnicodeDecodeError as exc:
        raise InvalidAnswer(f"not JSON Lines (not valid text: {exc.reason})") from None
    except RecursionError:
        raise InvalidAnswer("not JSON Lines (nested too deeply)") from None


def _settled(error: BaseException, available: int) -> bool:
    """Whether a scanner's error stands whatever follows (so the rest of the body need not be read)."""
    if not isinstance(error, json.JSONDecodeError) or error.msg.startswith("Unterminated string"):
        return False
    return error.pos < available - 8  # an escape or literal cut off by the chunk's end is not


def _kind(value: Any) -> str:
    """How a message names a JSON value's type: ``a number``, ``true``, ``an object``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a number"


class _Parser:
    """A pull parser over the chunk iterator; holds only the text not yet consumed."""

    def __init__(
        self,
        chunks: Iterator[bytes],
        patterns: tuple[tuple[str, ...], ...],
        new_spool: Callable[[], Spool],
        max_image_bytes: int = IMAGE_MAX_BYTES,
    ) -> None:
        self.chunks = chunks
        self.patterns = patterns
        self.new_spool = new_spool
        self.max_image_bytes = max_image_bytes
        self.text = ""
        self.pos = 0
        self.eof = False
        self.decoder: Any = None
        self.json = json.JSONDecoder()
        self.space = _WHITESPACE

    # -- input ---------------------------------------------------------------

    def _start(self) -> None:
        """Pick the text encoding the way ``json.loads`` does for bytes (UTF-8, -16 or -32)."""
        head = b""
        for chunk in self.chunks:
            head += chunk
            if len(head) >= 4:
                break
        encoding = json.detect_encoding(head)
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="surrogatepass")
        self.text = self.decoder.decode(head, final=False)

    def _more(self, grow: bool = False) -> bool:
        """Read more text, dropping what was consumed; ``grow`` at least doubles what is held.

        Only image strings may be large: any other value longer than :data:`VALUE_LIMIT` makes the
        answer unusable, so a hostile or broken provider cannot make memory grow without bound.
        """
        if self.eof:
            return False
        self.text, self.pos = self.text[self.pos :], 0
        if grow and len(self.text) > VALUE_LIMIT:
            raise InvalidAnswer(f"a value in it that is not an image is longer than {VALUE_LIMIT} characters")
        wanted = max(len(self.text) * 2, len(self.text) + 1) if grow else len(self.text) + 1
        while len(self.text) < wanted:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.eof = True
                self.text += self.decoder.decode(b"", final=True)
                break
            self.text += self.decoder.decode(chunk, final=False)
        return True

    def _skip_line(self) -> None:
        """Drop the text up to and including the next line break (after a line that is not JSON)."""
        while True:
            newline = self.text.find("\n", self.pos)
            if newline >= 0:
                self.pos = newline + 1
                return
            self.pos = len(self.text)
            if not self._more():
                return

    def _skip_space(self) -> None:
        while True:
            self.pos = self.space.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or not self._more():
                return

    def _next_char(self, what: str) -> str:
        self._skip_space()
        if self.pos >= len(self.text):
            raise InvalidAnswer(f"not JSON (it ends where {what} was expected)")
        return self.text[self.pos]

    def _scan(self, scanner: Callable[[str, int], tuple[Any, int]]) -> Any:
        """Run one of json's scanners at the current position, reading more until it is sure."""
        while True:
            try:
                value, end = scanner(self.text, self.pos)
            except (ValueError, StopIteration) as exc:
                if not _settled(exc, len(self.text)) and self._more(grow=True):
                    continue
                raise InvalidAnswer(f"not JSON ({exc})") from None
            if end > len(self.text) - 8 and self._more(grow=True):
                continue  # a number may go on in the next chunk ("1." + "5", "2e" + "+3")
            self.pos = end
            return value

    # -- grammar ---------------------------------------------------------------

    def document(self) -> Any:
        self._start()
        value = self._value(())
        self._skip_space()
        if self.pos < len(self.text):
            raise InvalidAnswer(f"not JSON (extra data after the document, {self.text[self.pos]!r})")
        return value

    def _value(self, path: tuple[Any, ...]) -> Any:
        char = self._next_char("a value")
        if char == "{" and self._leads(path):
            return self._object(path)
        if char == "[" and self._leads(path):
            return self._array(path)
        if any(matches(path, pattern) for pattern in self.patterns):
            if char == '"' and not self._link():
                self.pos += 1
                spool = self.new_spool()
                self._image_string(spool)
                return spool
            value = self._scan(self.json.raw_decode)
            if value is not None and not isinstance(value, str):  # a number, true, an object: no image
                where = ".".join(map(str, path))
                raise InvalidImage(f"{_kind(value)} where an image belongs ({where}), not a base64 string")
            return value
        return self._scan(self.json.raw_decode)

    def _leads(self, path: tuple[Any, ...]) -> bool:
        """Whether an image string may lie below ``path`` (else the value is read whole)."""
        depth = len(path)
        return any(len(p) > depth and matches(path, p[:depth]) for p in self.patterns)

    def _object(self, path: tuple[Any, ...]) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        if self._next_char("a key or '}'") == "}":
            self.pos += 1
            return result
        while True:
            if self._next_char("a key") != '"':
                raise InvalidAnswer("not JSON (expecting a property name in double quotes)")
            key = self._scan(lambda text, pos: _scanstring(text, pos + 1))
            if self._next_char("':'") != ":":
                raise InvalidAnswer("not JSON (expecting ':' after a key)")
            self.pos += 1
            result[key] = self._value((*path, key))
            if not self._separator("}"):
                return result

    def _array(self, path: tuple[Any, ...]) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        if self._next_char("a value or ']'") == "]":
            self.pos += 1
            return result
        while True:
            result.append(self._value((*path, len(result))))
            if not self._separator("]"):
                return result

    def _separator(self, closing: str) -> bool:
        """Consume ``,`` (True: another member follows) or the closing bracket (False)."""
        char = self._next_char(f"',' or '{closing}'")
        self.pos += 1
        if char == ",":
            return True
        if char == closing:
            return False
        raise InvalidAnswer(f"not JSON (expecting ',' or '{closing}', found {char!r})")

    # -- image strings -----------------------------------------------------------

    def _link(self) -> bool:
        """Whether the string at ``pos`` starts as an http(s) link (read as text, not as base64)."""
        while len(self.text) - self.pos < _LINK_WINDOW and self._more():
            pass
        return self.text[self.pos + 1 : self.pos + _LINK_WINDOW].replace("\\/", "/").startswith(_LINKS)

    def _image_string(self, spool: Spool) -> None:
        """Decode the string that starts at ``pos`` (after its quote) into ``spool``."""
        self._skip_data_prefix()
        sink = Base64Sink(spool, self.max_image_bytes)
        while True:
            quote = self.text.find('"', self.pos)
            end = quote if quote >= 0 else len(self.text)
            segment = self.text[self.pos : end]
            if quote < 0:
                cut = incomplete_escape(segment)
                if cut >= 0:
                    segment, end = segment[:cut], self.pos + cut
            sink.feed(unescape(segment))
            self.pos = end
            if quote >= 0:
                self.pos += 1
                sink.close()
                spool.complete = True  # its last byte is in: kept if the rest of the answer never comes
                return
            if not self._more():
                raise InvalidAnswer("not JSON (an image string is not terminated)")

    def _skip_data_prefix(self) -> None:
        """Step over a ``data:image/png;base64,`` prefix, if the string starts with one."""
        while True:
            window = self.text[self.pos : self.pos + PREFIX_LIMIT]
            if "," in window or '"' in window or len(window) >= PREFIX_LIMIT or not self._more():
                break
        comma, quote = window.find(","), window.find('"')
        if window[:4].lower() != "data" or comma < 0 or 0 <= quote < comma:
            return
        raw = window[: comma + 1]
        try:
            text = _scanstring(f'{raw}"', 0)[0]
        except ValueError:
            return
        prefix = _DATA_URI.match(text)
        if prefix and prefix.end() == len(text):
            self.pos += len(raw)
