"""Tiny image files built by hand as bytes (no Pillow): only the headers imagegate reads are real."""

from __future__ import annotations

import struct

from imagegate.png import CHANNELS, encode

from .helpers import png


def png_with(width: int, height: int, colour_type: int, *extra: tuple[bytes, bytes]) -> bytes:
    """A black PNG of the given colour type with extra chunks (such as PLTE, tRNS) before its IDAT."""
    row = bytes(width * CHANNELS[colour_type])
    return encode(width, height, [row] * height, colour_type=colour_type, extra=extra)


def jpeg(width: int, height: int, *, sof: int = 0xC0, app_bytes: int = 16) -> bytes:
    """SOI, APPn segments holding ``app_bytes`` in all, a SOF segment with the size, and EOI."""
    app = b""
    while app_bytes > 0:
        size = min(app_bytes, 65_000)
        app += b"\xff\xe1" + struct.pack(">H", size + 2) + b"\x00" * size
        app_bytes -= size
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof_segment = bytes([0xFF, sof]) + struct.pack(">H", len(frame) + 2) + frame
    return b"\xff\xd8" + app + sof_segment + b"\xff\xda\x00\x02" + b"\x12\x34" + b"\xff\xd9"


def _riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WEBP"
    for kind, data in chunks:
        body += kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8(width: int, height: int) -> bytes:
    """Lossy WebP (simple format, never alpha)."""
    frame = b"\x9d\x01\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 10
    return _riff((b"VP8 ", frame))


def webp_vp8l(width: int, height: int, *, alpha: bool) -> bytes:
    """Lossless WebP: signature 0x2f, then 14-bit width-1, 14-bit height-1 and the alpha bit."""
    bits = (width - 1) | ((height - 1) << 14) | (int(alpha) << 28)
    return _riff((b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8))


def webp_vp8x(width: int, height: int, *, alpha: bool) -> bytes:
    """Extended WebP: the VP8X flags carry the alpha bit (0x10); the canvas size is 24-bit minus one."""
    flags = 0x10 if alpha else 0
    header = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff((b"VP8X", header), (b"VP8 ", webp_vp8(width, height)[20:]))


def gif(width: int, height: int, *, transparent: bool, comment: bool = True) -> bytes:
    """GIF89a with a 2-colour table, an optional comment, and a graphic control extension."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    blocks = b"\x21\xfe\x05hello\x00" if comment else b""
    blocks += b"\x21\xf9\x04" + bytes([1 if transparent else 0]) + b"\x00\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + blocks + image + b"\x3b"


#: name -> (bytes, format, width, height, alpha)
FIXTURES: dict[str, tuple[bytes, str, int, int, bool]] = {
    "png-rgb": (png(7, 5), "png", 7, 5, False),
    "png-rgba": (png(6, 9, alpha=True), "png", 6, 9, True),
    "png-grey-alpha": (png_with(3, 4, 4), "png", 3, 4, True),
    "png-palette-trns": (
        png_with(5, 5, 3, (b"PLTE", b"\x00\x00\x00\xff\xff\xff"), (b"tRNS", b"\x00")),
        "png",
        5,
        5,
        True,
    ),
    "png-palette": (png_with(5, 5, 3, (b"PLTE", b"\x00\x00\x00\xff\xff\xff")), "png", 5, 5, False),
    "jpeg-baseline": (jpeg(640, 480), "jpeg", 640, 480, False),
    "jpeg-progressive-long-exif": (jpeg(1536, 1024, sof=0xC2, app_bytes=60_000), "jpeg", 1536, 1024, False),
    "webp-vp8": (webp_vp8(300, 200), "webp", 300, 200, False),
    "webp-vp8l": (webp_vp8l(1024, 1536, alpha=False), "webp", 1024, 1536, False),
    "webp-vp8l-alpha": (webp_vp8l(16, 16, alpha=True), "webp", 16, 16, True),
    "webp-vp8x": (webp_vp8x(3840, 2160, alpha=False), "webp", 3840, 2160, False),
    "webp-vp8x-alpha": (webp_vp8x(1024, 1024, alpha=True), "webp", 1024, 1024, True),
    "gif": (gif(10, 20, transparent=False), "gif", 10, 20, False),
    "gif-transparent": (gif(33, 11, transparent=True), "gif", 33, 11, True),
    "gif-transparent-no-comment": (gif(2, 2, transparent=True, comment=False), "gif", 2, 2, True),
}
