"""Shared test helpers: a known fake key, tiny images, config files and OpenAPI body validation."""

from __future__ import annotations

import base64
import errno
import json
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from imagegate import testing
from imagegate.png import solid

API_KEY = "sk-test-imagegate-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
KEY_TAIL = API_KEY[-12:]
#: Set as OPENAI_API_KEY in every test's environment: imagegate must never read or send it.
CANARY_ENV_KEY = "sk-env-canary-must-never-be-read-0123456789"
#: The public OpenAI description of the two endpoints and the Responses image tool (MIT, see
#: tests/data/README.md): the copy kept in tests/data, which holds the project's shared reference
#: subset (when it sits beside the clone) unchanged (tests/test_packaging.py checks it).
SHARED_REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "openai-images.openapi.json"
VENDORED_REFERENCE = Path(__file__).resolve().parents[1] / "data" / "openai-images.openapi.json"
REFERENCE = VENDORED_REFERENCE
#: The provider address of the default test config (make_config), and its two endpoints.
BASE = "https://api.example.test/v1"
GEN = f"{BASE}/images/generations"
EDITS = f"{BASE}/images/edits"


def png(
    width: int = 8, height: int = 8, *, alpha: bool = False, colour: tuple[int, ...] = (200, 30, 30)
) -> bytes:
    """A valid PNG of the given size (RGB, or RGBA with a transparent pixel when ``alpha``)."""
    return solid(width, height, colour + ((0,) if alpha else ()))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def images_answer(*images: bytes, **extra: Any) -> dict[str, Any]:
    """An OpenAI-style JSON answer carrying ``images`` as b64_json."""
    return {"created": 1, "data": [{"b64_json": b64(image)} for image in images], **extra}


def write_config(path: Path, data: dict[str, Any], *, mode: int = 0o600) -> Path:
    """Write a config file at ``path`` as imagegate.testing does (private), then give it ``mode``.

    The one config writer of the suite: ``mode`` exists for the permission tests.
    """
    written = testing.write_config(path, data)
    written.chmod(mode)
    return written


@cache
def openapi() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _validator(name: str) -> jsonschema.protocols.Validator:
    document = openapi()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def assert_valid_generation_body(body: dict[str, Any]) -> None:
    """Validate a JSON generations body against the public OpenAI description."""
    _validator("CreateImageRequest").validate(body)


_INTEGER_FIELDS = {"n", "output_compression", "partial_images"}
_BOOLEAN_FIELDS = {"stream"}


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, str | None, bytes]]:
    """(field name, file name, content type, payload) for each part of a multipart body."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = []
    for part in message.iter_parts():
        parts.append(
            (
                part.get_param("name", header="content-disposition"),
                part.get_filename(),
                part.get_content_type() if part.get_filename() else None,
                part.get_payload(decode=True) or b"",
            )
        )
    return parts


def multipart_as_dict(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart edit request turned into the object the OpenAPI schema describes."""
    result: dict[str, Any] = {}
    images: list[str] = []
    for name, filename, _ctype, payload in parse_multipart(content_type, body):
        if name in ("image", "image[]"):
            images.append(filename or "")
        elif filename is not None:
            result[name] = filename
        else:
            text = payload.decode("utf-8")
            if name in _INTEGER_FIELDS:
                result[name] = int(text)
            elif name in _BOOLEAN_FIELDS:
                result[name] = text == "true"
            else:
                result[name] = text
    if images:
        result["image"] = images if len(images) > 1 else images[0]
    return result


def assert_valid_edit_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Validate a multipart edits body against the public OpenAI description; returns it as a dict."""
    document = multipart_as_dict(content_type, body)
    _validator("CreateImageEditRequest").validate(document)
    return document


class FullDisk:
    """A file whose writes fail as on a full disk; everything else is the real file's."""

    def __init__(self, real) -> None:
        self._real = real

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str):
        return getattr(self._real, name)
