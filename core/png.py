"""Writes PNG files from rows of pixels, with nothing but zlib (no Pillow): imagegate's one PNG encoder.

Used where imagegate makes pictures itself (the offline provider, the plugin test kit) and by the
test suite and the benchmark, which need small images of every colour type and odd extra chunks.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Bytes per pixel of each 8-bit colour type: grey, RGB, palette, grey + alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def encode(
    width: int,
    height: int,
    rows: Iterable[bytes],
    *,
    colour_type: int = 2,
    extra: Iterable[tuple[bytes, bytes]] = (),
    level: int = 6,
) -> bytes:
    """A PNG from ``height`` rows of ``width * CHANNELS[colour_type]`` bytes, 8 bits per sample.

    ``extra`` chunks (kind, data), such as PLTE or tRNS, go before the image data; ``level`` is
    the zlib level (0 stores the pixels uncompressed). Rows are compressed as they come.
    """
    compressor = zlib.compressobj(level)
    parts = [compressor.compress(b"\x00" + row) for row in rows]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    before = b"".join(chunk(kind, data) for kind, data in extra)
    return SIGNATURE + chunk(b"IHDR", header) + before + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def encode_rgb(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """A PNG from ``height`` rows of ``width * 3`` bytes (8-bit RGB)."""
    return encode(width, height, rows)


def solid(width: int, height: int, colour: tuple[int, ...]) -> bytes:
    """A PNG of one colour: RGB for three values, RGBA for four."""
    row = bytes(colour) * width
    return encode(width, height, (row for _ in range(height)), colour_type=6 if len(colour) == 4 else 2)


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, four-letter kind, data and CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
