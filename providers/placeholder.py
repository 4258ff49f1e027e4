"""The ``placeholder`` provider: offline, free, no key. It answers locally with a real PNG.

The request still goes through the core's whole path (sending, answer parsing, base64 decoding,
file writing): a local transport answers ``placeholder://`` URLs the way a provider would. The
picture is a gradient with a grid whose colours come from a hash of the prompt, so the same
prompt always gives the same image.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from imagegate import hookimpl
from imagegate.adapter import EDIT, GENERATE, MASK, Adapter, HttpRequest, LocalTransport, Reply
from imagegate.errors import UsageError
from imagegate.options import Options
from imagegate.png import encode_rgb

DEFAULT_SIDE = 1024
GRID = 64
#: The largest width or height the placeholder draws (a bigger one would fill the disk for nothing).
MAX_SIDE = 8192


class PlaceholderAdapter(Adapter):
    """Makes a deterministic PNG of the requested size; nothing leaves the machine."""

    name = "placeholder"
    description = "Offline placeholder images (no key, no network, free)"
    operations = frozenset({GENERATE, EDIT, MASK})
    needs_key = False
    default_base_url = "placeholder://local/v1"
    default_model = "placeholder"
    schema_file = "placeholder.schema.json"
    # decode, b64_fields and request_id: the base class's defaults (its transport answers OpenAI-style)

    def check(self, options: Options) -> list[str]:
        width, height = dimensions(options.size)
        if max(width, height) > MAX_SIDE:
            raise UsageError(f"--size {options.size}: the placeholder draws at most {MAX_SIDE} pixels a side")
        return []

    def build_request(self, options: Options) -> HttpRequest:
        path = "/images/edits" if options.operation == EDIT else "/images/generations"
        body = {
            "model": self.model_for(options),
            "prompt": options.prompt,
            "n": options.n,
            "size": options.size,
            "images": [str(p) for p in options.images],
        }
        return HttpRequest("POST", self.default_base_url + path, {}, json=body)

    def transport(self) -> LocalTransport:
        return LocalTransport(_answer, ("placeholder",))

    def estimate_cost(self, options: Options, usage: dict[str, Any] | None) -> float | None:
        return 0.0  # free: a budget never refuses it


def dimensions(size: str | None) -> tuple[int, int]:
    """Width and height from ``WxH``; ``auto`` or nothing gives a square."""
    if not size or size == "auto":
        return DEFAULT_SIDE, DEFAULT_SIDE
    width, height = size.lower().split("x")
    return int(width), int(height)


def colours(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two colours derived from the prompt's hash: the gradient's top and bottom."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def render_png(prompt: str, width: int, height: int, variant: int = 0) -> bytes:
    """An RGB PNG: a vertical gradient between the prompt's colours with a lighter grid."""
    top, bottom = colours(f"{prompt}\0{variant}" if variant else prompt)

    def rows():
        for y in range(height):
            t = y / max(1, height - 1)
            colour = bytes(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
            line = bytes(min(255, c + 48) for c in colour)
            if y % GRID == 0:
                yield line * width
            else:
                yield ((line + colour * (GRID - 1)) * (width // GRID + 1))[: width * 3]

    return encode_rgb(width, height, rows())


def answer_for(body: dict[str, Any]) -> bytes:
    """The JSON answer an OpenAI-style provider would give for ``body``."""
    width, height = dimensions(body.get("size"))
    images = [
        {
            "b64_json": base64.b64encode(render_png(str(body.get("prompt", "")), width, height, i)).decode(
                "ascii"
            )
        }
        for i in range(int(body.get("n") or 1))
    ]
    return json.dumps(
        {"created": 0, "data": images, "size": f"{width}x{height}", "output_format": "png"}
    ).encode()


def _answer(request: HttpRequest) -> Reply:
    """Answer a placeholder:// request in-process, shaped like a real provider's answer."""
    headers = {"content-type": "application/json", "x-request-id": "placeholder"}
    return Reply.of(200, answer_for(request.json or {}), headers)


@hookimpl
def register_providers(register):
    register(PlaceholderAdapter)
