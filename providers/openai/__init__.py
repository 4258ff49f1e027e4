"""The ``openai`` provider: the OpenAI Images API, the reference shape every other adapter varies.

Generations go as JSON to ``{base_url}/images/generations``; edits as multipart to
``{base_url}/images/edits`` with the input image as an ``image`` part (several as ``image[]``) and the
mask as ``mask``, or as JSON with data URLs (``edit_encoding: "json"``).
What each model accepts is the table :data:`MODEL_RULES` (models.py), checked before any paid call;
the Batch API is batch.py, the price table prices.json.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any, ClassVar

from imagegate import hookimpl
from imagegate.adapter import (
    BATCH,
    EDIT,
    GENERATE,
    MASK,
    STREAM,
    Adapter,
    Answer,
    Failed,
    FilePart,
    Final,
    HttpRequest,
    ImageRef,
    Partial,
    PriceTable,
    ProviderError,
    error_kind,
    form_value,
    str_or_none,
)
from imagegate.errors import UnusableAnswer, UsageError
from imagegate.options import Options
from imagegate.providers.openai.batch import BatchProtocol
from imagegate.providers.openai.models import (
    COMPRESSED_FORMATS,
    GPT_QUALITIES,
    GPT_SIZES,
    MASK_MAX_BYTES,
    MAX_PARTIAL_IMAGES,
    MB,
    MODEL_RULES,
    NOT_FOR,
    TRANSPARENT_FORMATS,
    FreeSizes,
    ModelRules,
    check_everywhere,
    check_model,
    check_size,
    rules_for,
    size_problems,
    suggest_size,
)
from imagegate.secret import Secret

#: Keys of a streamed ``.completed`` event reported as facts about the call.
EVENT_EXTRA_KEYS = ("created_at", "size", "quality", "background", "output_format")

log = logging.getLogger("imagegate.checks")
#: The price table, a data file of this package (provider knowledge, like MODEL_RULES).
PRICES = "prices.json"

#: The model rules (models.py) are re-exported: ``from imagegate.providers.openai import ...`` holds.
__all__ = [
    "COMPRESSED_FORMATS",
    "EVENT_EXTRA_KEYS",
    "GPT_QUALITIES",
    "GPT_SIZES",
    "MASK_MAX_BYTES",
    "MAX_PARTIAL_IMAGES",
    "MB",
    "MODEL_RULES",
    "NOT_FOR",
    "PRICES",
    "TRANSPARENT_FORMATS",
    "FreeSizes",
    "ModelRules",
    "OpenAIAdapter",
    "check_everywhere",
    "check_model",
    "check_size",
    "data_url",
    "json_edit_body",
    "register_providers",
    "rules_for",
    "size_problems",
    "stream_error",
    "suggest_size",
]


class OpenAIAdapter(BatchProtocol, Adapter):
    """OpenAI's Images API: Bearer auth, JSON generations, multipart (or JSON) edits; the Batch API."""

    name = "openai"
    description = "OpenAI Images API (api.openai.com)"
    operations = frozenset({GENERATE, EDIT, MASK, STREAM, BATCH})
    is_default = True
    default_base_url = "https://api.openai.com/v1"
    default_model = "gpt-image-2"
    stream_b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = (("b64_json",),)
    schema_file: ClassVar[str] = "openai.schema.json"
    #: Paths appended to base_url per operation.
    paths: ClassVar[dict[str, str]] = {GENERATE: "/images/generations", EDIT: "/images/edits"}

    # -- request -------------------------------------------------------------------------------
    def root_url(self) -> str:
        """The API root; a base_url pinned to an endpoint (as the
        ``gpt-image-2-apikey`` script allowed) is reduced to it."""
        base = self.base_url
        for path in self.paths.values():
            if base.endswith(path):
                return base[: -len(path)]
        return base

    def endpoint(self, operation: str) -> str:
        return self.root_url() + self.paths[operation]

    def auth_headers(self) -> dict[str, str | Secret]:
        key = self.profile.api_key
        headers: dict[str, str | Secret] = {"Authorization": key.prefixed("Bearer ")} if key else {}
        settings = self.profile.settings
        if settings.get("organization"):
            headers["OpenAI-Organization"] = settings["organization"]
        if settings.get("project"):
            headers["OpenAI-Project"] = settings["project"]
        return headers

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"Authorization"})

    def body(self, options: Options) -> dict[str, Any]:
        """The request fields in API spelling, shaped for the model; extra_body merged last."""
        rules = rules_for(self.model_for(options))
        body: dict[str, Any] = {"model": self.model_for(options), "prompt": options.prompt, "n": options.n}
        body.update(options.body_fields())
        for name in NOT_FOR[options.operation]:
            body.pop(name, None)
        if rules is not None and not rules.gpt_params:
            body["response_format"] = "b64_json"  # dall-e answers with short-lived URLs otherwise
        else:
            body["output_format"] = options.output_format
        if self.streams(options):
            body["stream"] = True
            if options.partial_images is not None:
                body["partial_images"] = options.partial_images
        body.update(self.profile.extra_body)
        body.update(options.extra_body)
        return body

    def streams(self, options: Options) -> bool:
        """Whether this call streams: asked for, and the model can (unknown models are trusted)."""
        rules = rules_for(self.model_for(options))
        return options.stream and (rules is None or rules.gpt_params)

    def check(self, options: Options) -> list[str]:
        """The API's rules, then the model's own (from :data:`MODEL_RULES`) when the model is known."""
        warnings = check_everywhere(options)
        model = self.model_for(options)
        rules = rules_for(model)
        if rules is None:
            log.info("model %r is not in imagegate's model table; passing it through unchecked", model)
            return warnings
        if options.images and self.edit_encoding() == "json" and not rules.gpt_params:
            raise UsageError(
                f'edit_encoding "json": {model} edits only as multipart; JSON edits take the GPT image models'
            )
        return warnings + check_model(model, rules, options)

    def estimate_cost(self, options: Options, usage: dict[str, Any] | None) -> float | None:
        """From OpenAI's price table (prices.json: its source and date inside): token usage
        when the answer gave it, else the per-image price; None for a model or size it does not list."""
        table = PriceTable.load("imagegate.providers.openai", PRICES)
        model = self.model_for(options)
        return table.estimate(model, size=options.size, quality=options.quality, n=options.n, usage=usage)

    def image_field(self, count: int = 1) -> str:
        """The part name of the input images: ``image`` for one, ``image[]`` for several.

        That is what OpenAI's SDK sends; strict servers refuse ``image[]`` for a single file.
        """
        return "image" if count == 1 else "image[]"

    def edit_encoding(self) -> str:
        """How edits are sent: ``multipart`` (files, the default) or ``json`` (images as data URLs)."""
        return self.profile.settings.get("edit_encoding") or "multipart"

    def json_image_key(self) -> str:
        """The key of each image object in a JSON edit (OpenAI's spec: ``image_url``)."""
        return "image_url"

    def build_request(self, options: Options) -> HttpRequest:
        operation = options.operation
        headers = self.auth_headers()
        body = self.body(options)
        request = HttpRequest(
            "POST",
            self.endpoint(operation),
            headers,
            secret_headers=self.secret_headers(),
            stream=self.streams(options),
        )
        if operation == GENERATE:
            request.json = body
            return request
        if self.edit_encoding() == "json":
            request.json = json_edit_body(body, options.images, options.mask, self.json_image_key())
            return request
        request.form = [(key, form_value(value)) for key, value in body.items() if value is not None]
        field = self.image_field(len(options.images))
        request.files = [FilePart.of(field, path) for path in options.images]
        if options.mask is not None:
            request.files.append(FilePart.of("mask", options.mask))
        return request

    # -- answer (decode, parse_error and request_id are the base class's OpenAI-style defaults) ---
    def decode_event(self, event: str | None, document: Any) -> Partial | Final | Failed | None:
        """``image_generation.*`` / ``image_edit.*`` events; an event with an ``error`` key fails the call."""
        if not isinstance(document, dict):
            return None
        nested = document.get("error")  # "error": null is no error
        if nested or document.get("type") == "error" or (event == "error" and "type" not in document):
            return Failed(stream_error(nested or document))  # the error object, or the event itself
        kind = str(document.get("type") or event or "")
        if kind not in _PARTIAL_EVENTS and kind not in _FINAL_EVENTS:
            return None
        payload = document.get("b64_json")
        if payload is None or isinstance(payload, str):
            raise UnusableAnswer(f"the {kind} event holds no image")
        if kind in _PARTIAL_EVENTS:
            return Partial(ImageRef(data=payload))
        usage = document.get("usage") if isinstance(document.get("usage"), dict) else None
        extras = {key: document[key] for key in EVENT_EXTRA_KEYS if document.get(key) is not None}
        revised = document.get("revised_prompt") if isinstance(document.get("revised_prompt"), str) else None
        return Final(Answer([ImageRef(data=payload, revised_prompt=revised)], usage, extras))


def stream_error(error: Any) -> ProviderError:
    """An error reported inside the stream (after the HTTP 200): a server error counts as a 500."""
    fields = error if isinstance(error, dict) else {"message": error}
    etype, code = str_or_none(fields.get("type")), str_or_none(fields.get("code"))
    status = 500 if "server_error" in (etype, code) else 400
    message = str(fields.get("message") or "no message")
    return ProviderError(
        status, message, etype, code, str_or_none(fields.get("param")), error_kind(status, etype, code)
    )


_PARTIAL_EVENTS = frozenset({"image_generation.partial_image", "image_edit.partial_image"})
_FINAL_EVENTS = frozenset({"image_generation.completed", "image_edit.completed"})


def data_url(path: Path) -> str:
    """The file as a ``data:image/...;base64,`` URL, with its real content type (sniffed)."""
    part = FilePart.of("image", path)
    return f"data:{part.content_type};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def json_edit_body(
    body: dict[str, Any], images: list[Path], mask: Path | None, key: str = "image_url"
) -> dict[str, Any]:
    """The JSON form of an edit: the same fields, each input image as ``{"image_url": data URL}``.

    The mask likewise; ``key`` names the URL inside each image object (xAI reads ``url``).
    Fields left unset (None) are not sent, as in the multipart form.
    """
    edit = {name: value for name, value in body.items() if value is not None}
    edit["images"] = [{key: data_url(path)} for path in images]
    if mask is not None:
        edit["mask"] = {key: data_url(mask)}
    return edit


@hookimpl
def register_providers(register):
    register(OpenAIAdapter)
