"""The ``openai`` provider: the OpenAI Images API, the reference shape every other adapter varies.

Generations go as JSON to ``{base_url}/images/generations``; edits as multipart to
``{base_url}/images/edits`` with each input image as an ``image[]`` part and the mask as ``mask``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlencode

from imagegate import hookimpl
from imagegate.adapter import EDIT, GENERATE, Adapter, Answer, FilePart, HttpRequest, ImageRef, ProviderError
from imagegate.errors import UnusableAnswer
from imagegate.options import Options
from imagegate.schema import load_schema
from imagegate.sniff import MIME, sniff_file

#: Error codes by which OpenAI-style providers say "content policy" (exit 4, never retried).
CONTENT_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
#: Response keys reported as facts about the call.
EXTRA_KEYS = ("created", "size", "quality", "background", "output_format")


class OpenAIAdapter(Adapter):
    """OpenAI's Images API: Bearer auth, JSON generations, multipart edits with ``image[]``."""

    name = "openai"
    description = "OpenAI Images API (api.openai.com)"
    operations = frozenset({GENERATE, EDIT, "mask", "stream"})
    is_default = True
    default_base_url = "https://api.openai.com/v1"
    default_model = "gpt-image-2"
    b64_fields = (("data", "*", "b64_json"),)
    schema_file: ClassVar[str] = "openai.schema.json"
    #: Paths appended to base_url per operation.
    paths: ClassVar[dict[str, str]] = {GENERATE: "/images/generations", EDIT: "/images/edits"}

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return load_schema(cls.schema_file)

    @classmethod
    def config_schema_location(cls) -> str:
        return f"imagegate.schemas/{cls.schema_file}"

    # -- request -------------------------------------------------------------------------------
    def root_url(self) -> str:
        """The API root; a base_url pinned to an endpoint (as the seed allowed) is reduced to it."""
        base = self.base_url
        for path in self.paths.values():
            if base.endswith(path):
                return base[: -len(path)]
        return base

    def endpoint(self, operation: str) -> str:
        return self.root_url() + self.paths[operation]

    def auth_headers(self) -> dict[str, str]:
        key = self.profile.api_key
        headers = {"Authorization": f"Bearer {key.reveal()}"} if key else {}
        settings = self.profile.settings
        if settings.get("organization"):
            headers["OpenAI-Organization"] = settings["organization"]
        if settings.get("project"):
            headers["OpenAI-Project"] = settings["project"]
        return headers

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"Authorization"})

    def body(self, options: Options) -> dict[str, Any]:
        """The request fields in API spelling, extra_body merged last."""
        body: dict[str, Any] = {"model": self.model_for(options), "prompt": options.prompt, "n": options.n}
        body.update(options.body_fields())
        body["output_format"] = options.output_format
        if options.stream:
            body["stream"] = True
            if options.partial_images is not None:
                body["partial_images"] = options.partial_images
        body.update(self.profile.extra_body)
        body.update(options.extra_body)
        return body

    def image_field(self) -> str:
        return "image[]"

    def build_request(self, options: Options) -> HttpRequest:
        operation = options.operation
        headers = self.auth_headers()
        body = self.body(options)
        request = HttpRequest(
            "POST",
            self.endpoint(operation),
            headers,
            secret_headers=self.secret_headers(),
            stream=options.stream,
        )
        if operation == GENERATE:
            request.json = body
            return request
        request.form = [(key, _form_value(value)) for key, value in body.items() if value is not None]
        field = self.image_field()
        request.files = [FilePart(field, path, _content_type(path)) for path in options.images]
        if options.mask is not None:
            request.files.append(FilePart("mask", options.mask, _content_type(options.mask)))
        return request

    # -- answer --------------------------------------------------------------------------------
    def decode(self, document: Any, headers: dict[str, str]) -> Answer:
        if not isinstance(document, dict):
            raise UnusableAnswer(f"the answer is JSON but not an object ({type(document).__name__})")
        data = document.get("data")
        if not isinstance(data, list) or not data:
            keys = ", ".join(sorted(map(str, document))) or "none"
            raise UnusableAnswer(
                f"the answer has no images (no non-empty 'data' list; top-level keys: {keys})"
            )
        images = [_image_ref(entry, index) for index, entry in enumerate(data)]
        usage = document.get("usage") if isinstance(document.get("usage"), dict) else None
        extras = {key: document[key] for key in EXTRA_KEYS if key in document}
        return Answer(images, usage, extras)

    def is_content_refusal(self, error: ProviderError) -> bool:
        return error.status == 400 and (error.code in CONTENT_CODES or error.type in CONTENT_CODES)

    def is_permanent_rate_error(self, error: ProviderError) -> bool:
        return error.code == "insufficient_quota" or error.type == "insufficient_quota"


def _image_ref(entry: Any, index: int) -> ImageRef:
    if not isinstance(entry, dict):
        raise UnusableAnswer(f"data[{index}] is not an object")
    revised = entry.get("revised_prompt") if isinstance(entry.get("revised_prompt"), str) else None
    payload = entry.get("b64_json")
    if payload is not None and not isinstance(payload, str):
        return ImageRef(data=payload, revised_prompt=revised)  # a spool from the core's decoder
    url = entry.get("url")
    if isinstance(url, str) and url:
        return ImageRef(url=url, revised_prompt=revised)
    raise UnusableAnswer(
        f"data[{index}] has neither b64_json nor url (keys: {', '.join(sorted(entry)) or 'none'})"
    )


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _content_type(path: Any) -> str:
    """The real type of an input file, from its bytes (never application/octet-stream)."""
    info = sniff_file(path)
    return MIME[info.format] if info else "image/png"


def with_query(url: str, query: dict[str, Any]) -> str:
    """``url`` with extra query parameters appended."""
    if not query:
        return url
    joiner = "&" if "?" in url else "?"
    return url + joiner + urlencode({k: _form_value(v) for k, v in query.items()})


@hookimpl
def register_providers(register):
    register(OpenAIAdapter)
