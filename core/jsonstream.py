"""Parses a JSON answer while it arrives, decoding base64 image strings straight into spools.

``parse(chunks, b64_fields, new_spool)`` returns the document with every string found at one of
the ``b64_fields`` patterns (tuples of keys, ``"*"`` matching any array index or key) replaced
by the :class:`~imagegate.spool.Spool` that holds its decoded bytes. A ``data:image/...;base64,``
prefix is accepted. Invalid JSON or base64 raises :class:`InvalidAnswer`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from .spool import Spool

_DATA_URI = re.compile(r"^data:[\w.+/-]*(;[\w.+-]+=[^;,]*)*;base64,", re.IGNORECASE)


class InvalidAnswer(ValueError):
    """The body is not JSON, or an image string in it is not valid base64."""


def matches(path: tuple[Any, ...], pattern: tuple[str, ...]) -> bool:
    """Whether a path such as ("data", 0, "b64_json") fits a pattern like ("data", "*", "b64_json")."""
    return len(path) == len(pattern) and all(p == "*" or p == k for k, p in zip(path, pattern, strict=False))


def decode_b64_into(text: str, spool: Spool) -> None:
    """Strictly decode one base64 image string (optionally a data: URI) into ``spool``."""
    prefix = _DATA_URI.match(text)
    if prefix:
        text = text[prefix.end() :]
    try:
        spool.write(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InvalidAnswer(f"an image string is not valid base64 ({exc})") from None


def parse(
    chunks: Iterable[bytes],
    b64_fields: tuple[tuple[str, ...], ...],
    new_spool: Callable[[], Spool],
) -> Any:
    """Read the whole answer and return the document with image strings replaced by spools."""
    body = b"".join(chunks)
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise InvalidAnswer(f"not JSON ({exc})") from None

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and any(matches(path, pattern) for pattern in b64_fields):
            spool = new_spool()
            decode_b64_into(value, spool)
            return spool
        return value

    return walk(document, ())
