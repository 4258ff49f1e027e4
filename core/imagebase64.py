"""Decodes base64 image strings into spools piece by piece, under the caps an answer is read with.

:class:`Base64Sink` gives ``base64.b64decode(..., validate=True)``'s verdict on text that arrives in
pieces, and stops an image at ``image_max_bytes``; :func:`capped` stops a whole answer at
``answer_max_bytes``. The errors here are what :mod:`imagegate.jsonstream` raises for a bad answer.
"""

from __future__ import annotations

import binascii
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .spool import Spool

_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
#: ``binascii.a2b_base64(strict_mode=...)`` is new in Python 3.11; 3.10 checks with this pattern.
_HAS_STRICT_MODE = sys.version_info >= (3, 11)
_STRICT_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")  # what b64decode(validate=True) checks
#: Base64 characters gathered before a piece is decoded (small pieces cost calls, not memory).
DECODE_AT = 4096
#: The default caps (profile keys ``answer_max_bytes`` and ``image_max_bytes``): what one answer
#: may hold once decompressed, and one image once decoded. A 200 KB gzip answer can otherwise
#: become gigabytes on disk.
ANSWER_MAX_BYTES = 1024 * 1024 * 1024
IMAGE_MAX_BYTES = 64 * 1024 * 1024


class InvalidAnswer(ValueError):
    """The body is not JSON, or an image string in it is not valid base64."""


class InvalidImage(InvalidAnswer):
    """The body is JSON, but an image string in it is not valid base64 (``str``: "an image that ...")."""


def caps(adapter: Any) -> dict[str, int]:
    """The ``parse`` caps a call's profile sets (``answer_max_bytes``, ``image_max_bytes``)."""
    profile = getattr(adapter, "profile", None)
    return {
        "max_bytes": int(getattr(profile, "answer_max_bytes", ANSWER_MAX_BYTES)),
        "max_image_bytes": int(getattr(profile, "image_max_bytes", IMAGE_MAX_BYTES)),
    }


def capped(chunks: Iterable[bytes], max_bytes: int, key: str = "answer_max_bytes") -> Iterator[bytes]:
    """The chunks, stopped with InvalidAnswer once more than ``max_bytes`` have arrived in all."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise InvalidAnswer(f"larger than {max_bytes} bytes (config key {key}); not read further")
        yield chunk


class Base64Sink:
    """Decodes base64 text arriving in pieces into a spool, with ``b64decode(validate=True)``'s verdict.

    The last complete quad is kept back until the end, so the final piece (with any ``=``
    padding) is checked in the same context strict decoding of the whole string would see.
    """

    def __init__(self, spool: Spool, max_bytes: int = IMAGE_MAX_BYTES) -> None:
        self.spool = spool
        self.max_bytes = max_bytes
        self.pending = ""
        self.tail = ""  # from the first "=" on: at most a character or two if valid

    def feed(self, text: str) -> None:
        if not self.tail:
            cut = text.find("=")
            if cut < 0:
                self._decode(self.pending + text)
                return
            self.pending, text = self.pending + text[:cut], text[cut:]
        self.tail += text
        if len(self.tail) > 64:
            raise InvalidImage("an image that is not valid base64 (data after the padding)")

    def _decode(self, text: str) -> None:
        """Decode all but the last quad (and what follows it), which wait for the end."""
        ready = (len(text) - 1) // 4 * 4
        if ready >= DECODE_AT:
            self._write(_a2b(text[:ready]))
            text = text[ready:]
        self.pending = text

    def close(self) -> None:
        ready = max(0, (len(self.pending) - 4) // 4 * 4)
        if ready:
            self._write(_a2b(self.pending[:ready]))
        self._write(_a2b(self.pending[ready:] + self.tail))

    def _write(self, data: bytes) -> None:
        if self.spool.size + len(data) > self.max_bytes:
            raise InvalidImage(f"an image larger than {self.max_bytes} bytes (config key image_max_bytes)")
        self.spool.write(data)


def _a2b(text: str) -> bytes:
    try:
        if _HAS_STRICT_MODE:
            return binascii.a2b_base64(text, strict_mode=True)  # type: ignore[call-arg,unused-ignore]
        if not _STRICT_BASE64.fullmatch(text):  # Python 3.10: the same verdict by hand
            raise binascii.Error("Only base64 data is allowed")
        return binascii.a2b_base64(text)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage(f"an image that is not valid base64 ({exc})") from None


def unescape(segment: str) -> str:
    """The characters a piece of a JSON string stands for (``\\/`` is common in base64)."""
    if "\\" not in segment:
        return segment
    plain = segment.replace("\\/", "/")
    if "\\" not in plain:
        return plain
    return _ESCAPE.sub(_base64_escape, segment)


def _base64_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16)) if match.group(1) else match.group(2)
    if (match.group(2) is not None and char != "/") or char not in _B64_ALPHABET:
        raise InvalidImage("an image that is not valid base64 (it holds an escaped non-base64 character)")
    return char


def incomplete_escape(segment: str) -> int:
    """Where an escape cut off by the end of ``segment`` starts, or -1."""
    start = segment.rfind("\\", max(0, len(segment) - 5))
    if start < 0:
        return -1
    escape = segment[start:]
    if len(escape) == 1 or (escape[1] == "u" and len(escape) < 6):
        return start
    return -1
