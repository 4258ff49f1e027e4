"""Reads an image's real format, size and alpha channel from its own header bytes (no Pillow).

Used to give each file part its true content type, to name files by what they really are, and
to report honest facts about each image.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Enough of a file to find the header of every format below in practice (JPEG EXIF can be long).
HEAD_BYTES = 256 * 1024

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}
#: Extensions a user may type for each format.
FORMAT_OF_EXTENSION = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif"}


@dataclass(frozen=True)
class ImageInfo:
    """What an image file really is."""

    format: str  # png | jpeg | webp | gif
    width: int | None = None
    height: int | None = None
    alpha: bool | None = None

    @property
    def mime(self) -> str:
        return MIME[self.format]


def detect_format(head: bytes) -> str | None:
    """The format from the magic bytes, or None when it is none of PNG, JPEG, WebP, GIF."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def sniff(head: bytes) -> ImageInfo | None:
    """Format, dimensions and alpha from the first bytes of a file; None if not a known image."""
    kind = detect_format(head)
    if kind is None:
        return None
    try:
        return _READERS[kind](head)
    except (struct.error, IndexError, ValueError):
        return ImageInfo(kind)


def require_image(head: bytes, what: str, error: Callable[[str], Exception]) -> ImageInfo:
    """The facts of the image ``head`` starts; if it is none, ``error(message)`` naming ``what``.

    The one "is this a real image" check, for input files, answers and partial previews alike.
    """
    info = sniff(head)
    if info is None:
        raise error(f"{what} is not a PNG, JPEG, WebP or GIF image (it starts with {head[:8]!r})")
    return info


def sniff_file(path: Path | str) -> ImageInfo | None:
    """:func:`sniff` on the start of a file."""
    return sniff(read_head(path))


def read_head(path: Path | str) -> bytes:
    """The first bytes of a file, as many as :func:`sniff` looks at."""
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)


def _png(data: bytes) -> ImageInfo:
    if data[12:16] != b"IHDR":
        raise ValueError("the first PNG chunk is not IHDR")
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    alpha = colour in (4, 6)
    pos = 8
    while not alpha and pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if ctype == b"tRNS":
            alpha = True
        if ctype in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return ImageInfo("png", width, height, alpha)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageInfo:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or compressed data: no frame header came first
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageInfo("jpeg", width, height, False)
        pos += 2 + length
    return ImageInfo("jpeg", None, None, False)


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8X":
        flags = data[20]
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageInfo("webp", width, height, bool(flags & 0x10))
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ValueError("bad VP8L signature")
        bits = int.from_bytes(data[21:25], "little")
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
        return ImageInfo("webp", width, height, bool((bits >> 28) & 1))
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("bad VP8 frame")
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF, False)
    return ImageInfo("webp")


def _gif(data: bytes) -> ImageInfo:
    width, height, flags = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    alpha = False
    while pos < len(data):
        block = data[pos]
        if block == 0x21:  # extension
            if data[pos + 1] == 0xF9 and data[pos + 3] & 1:
                alpha = True
                break
            pos += 2
            while pos < len(data) and data[pos]:
                pos += data[pos] + 1
            pos += 1
        else:  # image descriptor or trailer: a transparency extension would have come first
            break
    return ImageInfo("gif", width, height, alpha)


_READERS = {"png": _png, "jpeg": _jpeg, "webp": _webp, "gif": _gif}
