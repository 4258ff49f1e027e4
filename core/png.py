"""Writes plain RGB PNG files from rows of pixels, with nothing but zlib (no Pillow).

Used where imagegate makes pictures itself: the offline provider and the plugin test kit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_rgb(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """A PNG from ``height`` rows of ``width * 3`` bytes (8-bit RGB), compressed as they come."""
    compressor = zlib.compressobj(6)
    parts = [compressor.compress(b"\x00" + row) for row in rows]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def solid(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A PNG of one colour."""
    row = bytes(colour) * width
    return encode_rgb(width, height, (row for _ in range(height)))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
