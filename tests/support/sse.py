"""Server-sent events for streaming tests, as an image provider writes them; FaultServer sends them
(``stream_reply(pieces)``, see faultserver.py)."""

from __future__ import annotations

import json
from typing import Any

from .helpers import b64, png


def sse(kind: str, document: Any, *, newline: str = "\n", with_event_line: bool = True) -> bytes:
    """One server-sent event carrying ``document`` as JSON data."""
    lines = [f"event: {kind}"] if with_event_line else []
    lines.append(f"data: {json.dumps(document)}")
    return (newline.join(lines) + newline + newline).encode()


def partial_event(image: bytes, index: int, prefix: str = "image_generation") -> bytes:
    return sse(
        f"{prefix}.partial_image",
        {
            "type": f"{prefix}.partial_image",
            "b64_json": b64(image),
            "created_at": 1,
            "size": "1024x1024",
            "quality": "low",
            "background": "opaque",
            "output_format": "png",
            "partial_image_index": index,
        },
    )


USAGE = {
    "input_tokens": 50,
    "output_tokens": 70,
    "total_tokens": 120,
    "input_tokens_details": {"text_tokens": 50},
}


def completed_event(image: bytes, prefix: str = "image_generation") -> bytes:
    return sse(
        f"{prefix}.completed",
        {
            "type": f"{prefix}.completed",
            "b64_json": b64(image),
            "created_at": 2,
            "size": "1024x1024",
            "quality": "low",
            "background": "opaque",
            "output_format": "png",
            "usage": USAGE,
        },
    )


def split(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes, so events straddle writes."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def standard_stream(partials: int = 2, prefix: str = "image_generation") -> tuple[list[bytes], bytes]:
    """Pieces of a stream with ``partials`` previews and one final image; returns (pieces, final)."""
    final = png(24, 16, colour=(1, 2, 3))
    events = b": keep-alive comment\n\n"
    for index in range(partials):
        events += partial_event(png(24, 16, colour=(index * 40, 0, 0)), index, prefix)
    events += completed_event(final, prefix)
    return split(events, 97), final
