"""The ``responses`` provider: OpenAI's Responses API with the ``image_generation`` tool.

``POST {base_url}/responses``: a mainline model (profile key ``model``, default ``gpt-5.5``) is
forced to call the tool (``tool_choice``), whose object carries the image options and the image
model (``image_model``, default ``gpt-image-2``). The prompt goes as ``input_text``, each input
image as an ``input_image`` data URL, the mask as the tool's ``input_image_mask``. The images come
back as the ``result`` of ``image_generation_call`` output items (base64, spooled by the core as it
arrives); ``--stream`` reads the Responses events. One call makes one image: ``--n`` above 1 is
refused (see :func:`check_one_image`). Azure's v1 endpoint and Codex-backend proxies speak this.

The shape knowledge is in pure functions (:func:`tool_object`, :func:`responses_body`,
:func:`decode_response`, :func:`read_event`); the adapter only wires them to the contract.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from imagegate import hookimpl
from imagegate.adapter import (
    EDIT,
    GENERATE,
    MASK,
    STREAM,
    Answer,
    Failed,
    Final,
    Headers,
    HttpRequest,
    ImageRef,
    Partial,
    ProviderError,
    with_query,
)
from imagegate.errors import ProviderFailure, UnusableAnswer, UsageError
from imagegate.options import Options
from imagegate.providers.compatible import CompatibleAdapter
from imagegate.providers.openai import check_everywhere, check_model, data_url, rules_for

#: Where base64 images sit in an answer (see imagegate.jsonstream).
Fields = tuple[tuple[str, ...], ...]
DEFAULT_MODEL = "gpt-5.5"
DEFAULT_IMAGE_MODEL = "gpt-image-2"
#: Error types and codes by which the tool says "moderated" (exit 4, never retried).
MODERATION = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter", "image_generation_user_error"}
)
#: Options that go into the tool object, in API spelling.
TOOL_FIELDS = (
    "size",
    "quality",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "partial_images",
    "input_fidelity",
)
#: Facts of the image_generation_call item reported in provider_extras.
ITEM_EXTRA_KEYS = ("size", "quality", "background", "output_format")
#: How much of the model's text an error quotes.
QUOTE = 200

PARTIAL_EVENT = "response.image_generation_call.partial_image"
ITEM_DONE_EVENT = "response.output_item.done"
COMPLETED_EVENT = "response.completed"
FAILED_EVENTS = ("response.failed", "response.incomplete", "error")


# -- the request -----------------------------------------------------------------------------------
def tool_object(image_model: str, fields: dict[str, Any], mask_url: str | None = None) -> dict[str, Any]:
    """The ``image_generation`` tool: its model, the image options that are set, and the mask."""
    tool: dict[str, Any] = {"type": "image_generation", "model": image_model}
    tool.update({name: fields[name] for name in TOOL_FIELDS if fields.get(name) is not None})
    if mask_url is not None:
        tool["input_image_mask"] = {"image_url": mask_url}
    return tool


def responses_body(
    model: str, prompt: str, tool: dict[str, Any], image_urls: list[str], *, stream: bool = False
) -> dict[str, Any]:
    """A Responses request that forces the tool: the prompt as input_text, images as input_image."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": prompt}]
    content += [{"type": "input_image", "image_url": url} for url in image_urls]
    body: dict[str, Any] = {
        "model": model,
        "input": [{"role": "user", "content": content}],
        "tools": [tool],
        "tool_choice": {"type": "image_generation"},
    }
    if stream:
        body["stream"] = True
    return body


def stream_partials(options: Options) -> int:
    """The partial previews a streamed call asks for: at least one, which the API requires."""
    return options.partial_images or 1


# -- the answer ------------------------------------------------------------------------------------
def decode_response(document: Any) -> Answer:
    """A Response object as an Answer: the images of its image_generation_call items, its usage.

    Without an image: raises ProviderFailure for a failed or moderated response, else
    UnusableAnswer (quoting the model's text, which often says why).
    """
    if not isinstance(document, dict):
        raise UnusableAnswer(f"the answer is JSON but not an object ({type(document).__name__})")
    output = [item for item in document.get("output") or () if isinstance(item, dict)]
    calls = [item for item in output if item.get("type") == "image_generation_call"]
    images = [ref for ref in map(_call_image, calls) if ref is not None]
    if not images:  # an image that arrived was paid for: it is kept whatever the status says
        failure = response_failure(document)
        if failure is not None:
            raise ProviderFailure(failure)
        raise UnusableAnswer(_no_image(calls, output, output_text(output)))
    usage = document.get("usage") if isinstance(document.get("usage"), dict) else None
    return Answer(images, usage, _extras(document, calls), output_text(output))


def _call_image(item: dict[str, Any]) -> ImageRef | None:
    """The image of one image_generation_call item; None when it has none (null, empty)."""
    result = item.get("result")
    revised = item.get("revised_prompt") if isinstance(item.get("revised_prompt"), str) else None
    if isinstance(result, str):
        return ImageRef(url=result, revised_prompt=revised) if result.startswith("http") else None
    if result is None or getattr(result, "size", 0) == 0:
        return None
    return ImageRef(data=result, revised_prompt=revised)


def output_text(output: list[dict[str, Any]]) -> str | None:
    """The text of the output's message items (what the model said besides calling the tool)."""
    texts = [
        part["text"]
        for item in output
        if item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    return "\n".join(texts) or None


def _no_image(calls: list[dict[str, Any]], output: list[dict[str, Any]], text: str | None) -> str:
    if text:
        return f'the model answered without an image: "{quote(text)}"'
    if calls:
        statuses = ", ".join(sorted({str(item.get("status")) for item in calls}))
        return f"the image_generation_call has no image (status {statuses})"
    kinds = ", ".join(sorted({str(item.get("type")) for item in output})) or "none"
    return f"the answer has no image_generation_call (output item types: {kinds})"


def quote(text: str, limit: int = QUOTE) -> str:
    """The start of ``text`` on one line, for an error message."""
    line = " ".join(text.split())
    return line[:limit] + ("..." if len(line) > limit else "")


def _extras(document: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The response id (for a later previous_response_id) and what the tool says it made."""
    extras: dict[str, Any] = {}
    if isinstance(document.get("id"), str):
        extras["response_id"] = document["id"]
    for item in calls[:1]:
        extras.update({key: item[key] for key in ITEM_EXTRA_KEYS if item.get(key) is not None})
    return extras


def response_failure(response: dict[str, Any]) -> ProviderError | None:
    """Why a Response failed (``status`` failed or incomplete, or an ``error`` object); else None."""
    error = response.get("error")
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        return tool_error(error)
    if response.get("status") == "failed":
        return tool_error({"message": "the response failed"})
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return tool_error({"message": f"the response is incomplete ({reason or 'no reason given'})"})
    return None


def tool_error(fields: dict[str, Any], status: int = 200) -> ProviderError:
    """A ProviderError from an error object (``message``, ``type``, ``code``, ``param``) of a call
    that ran (HTTP 200): moderated (kind ``content``) or failed (kind ``failed``, it may be billed)."""
    etype, code = _text(fields.get("type")), _text(fields.get("code"))
    return ProviderError(
        status=status,
        message=str(fields.get("message") or "no message"),
        type=etype,
        code=code,
        param=_text(fields.get("param")),
        kind="content" if code in MODERATION or etype in MODERATION else "failed",
    )


def is_moderation(error: ProviderError) -> bool:
    """Whether the tool refused the content (moderation_blocked, image_generation_user_error)."""
    return error.code in MODERATION or error.type in MODERATION


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def read_event(event: str | None, document: Any) -> Partial | Final | Failed | None:
    """One Responses event as a preview, the final image(s) or the call's failure.

    None for the events that carry nothing imagegate needs. The final image comes from
    ``response.output_item.done`` (or ``response.completed`` when a gateway sends only that);
    ``response.image_generation_call.completed`` carries no image.
    """
    if not isinstance(document, dict):
        return None
    kind = str(document.get("type") or event or "")
    if kind == PARTIAL_EVENT:
        payload = document.get("partial_image_b64")
        return Partial(ImageRef(data=payload)) if _spooled(payload) else None
    if kind == ITEM_DONE_EVENT:
        return _item_done(document.get("item"))
    if kind == COMPLETED_EVENT and isinstance(document.get("response"), dict):
        try:
            return Final(decode_response(document["response"]))
        except ProviderFailure as failure:
            return Failed(failure.error)
    if kind in FAILED_EVENTS:
        return Failed(_event_failure(document))
    return None


def _item_done(item: Any) -> Final | None:
    if not isinstance(item, dict) or item.get("type") != "image_generation_call":
        return None
    ref = _call_image(item)
    if ref is None:
        return None  # a failed call is reported by response.failed; an empty one by the end of the stream
    extras = {key: item[key] for key in ITEM_EXTRA_KEYS if item.get(key) is not None}
    return Final(Answer([ref], None, extras))


def _event_failure(document: dict[str, Any]) -> ProviderError:
    """The error of a ``response.failed`` / ``response.incomplete`` / ``error`` event."""
    response = document.get("response")
    if isinstance(response, dict):
        return response_failure(response) or tool_error({"message": "the response failed"})
    nested = document.get("error")
    return tool_error(nested if isinstance(nested, dict) else document)


def _spooled(payload: Any) -> bool:
    """Whether a base64 field arrived as a non-empty spool (the core decoded it)."""
    return payload is not None and not isinstance(payload, str) and getattr(payload, "size", 0) > 0


# -- the checks ------------------------------------------------------------------------------------
def check_one_image(options: Options) -> None:
    """Refuse ``--n`` above 1: the tool makes one image per call and has no ``n``.

    Making N calls in turn would bill the mainline model N times and could fail half way with
    some images paid; a batch file does exactly that, with a manifest, when it is wanted.
    """
    if options.n is not None and options.n > 1:
        raise UsageError(
            f"--n {options.n}: the responses provider makes one image per call (the image_generation "
            "tool has no n)",
            hints=("Run it once per image, or use `imagegate batch` with one job per image.",),
        )


def check_tool_options(image_model: str, options: Options) -> list[str]:
    """The Images API's rules for the tool's options, and the image model's own when it is known."""
    if options.style is not None:
        raise UsageError("--style: the image_generation tool has no style (only dall-e-3 has one)")
    plain = options.with_changes(moderation=None, n=1)  # the tool takes moderation for edits too
    warnings = check_everywhere(plain)
    rules = rules_for(image_model)
    if rules is not None and not rules.gpt_params:
        raise UsageError(f"image_model {image_model}: the image_generation tool takes the GPT image models")
    if rules is not None:
        warnings += check_model(image_model, rules, plain)
    if options.stream and not options.partial_images:
        warnings.append("--stream: asking for 1 partial image (the Responses API needs at least one)")
    return warnings


class ResponsesAdapter(CompatibleAdapter):
    """The Responses API's image_generation tool, forced; auth, headers and query as ``compatible``."""

    name = "responses"
    description = "OpenAI Responses API image_generation tool (Azure v1, Codex-backend proxies)"
    operations = frozenset({GENERATE, EDIT, MASK, STREAM})
    default_base_url = "https://api.openai.com/v1"
    default_model = DEFAULT_MODEL
    b64_fields: ClassVar[Fields] = (("output", "*", "result"),)
    stream_b64_fields: ClassVar[Fields] = (
        ("partial_image_b64",),
        ("item", "result"),
        ("response", "output", "*", "result"),
    )
    schema_file = "responses.schema.json"

    def supports(self, operation: str) -> bool:
        return operation in self.operations

    def image_model(self) -> str:
        return self.profile.settings.get("image_model") or DEFAULT_IMAGE_MODEL

    def endpoint(self, operation: str) -> str:
        return with_query(self.base_url + "/responses", self.profile.settings.get("query") or {})

    def check(self, options: Options) -> list[str]:
        check_one_image(options)
        return check_tool_options(self.image_model(), options)

    def body(self, options: Options) -> dict[str, Any]:
        """The Responses body; ``user`` at the top level, extra_body merged last."""
        fields = {name: getattr(options, name, None) for name in TOOL_FIELDS}
        if options.operation == GENERATE:
            fields["input_fidelity"] = None  # the tool ignores it without input images
        fields["partial_images"] = stream_partials(options) if options.stream else None
        mask = data_url(options.mask) if options.mask is not None else None
        tool = tool_object(self.image_model(), fields, mask)
        images = [data_url(Path(path)) for path in options.images]
        body = responses_body(self.model_for(options), options.prompt, tool, images, stream=options.stream)
        if options.user is not None:
            body["user"] = options.user
        body.update(self.profile.extra_body)
        body.update(options.extra_body)
        return body

    def build_request(self, options: Options) -> HttpRequest:
        return HttpRequest(
            "POST",
            self.endpoint(options.operation),
            self.auth_headers(),
            json=self.body(options),
            secret_headers=self.secret_headers(),
            stream=options.stream,
        )

    def decode(self, document: Any, headers: Headers) -> Answer:
        answer = decode_response(document)
        answer.extras.setdefault("image_model", self.image_model())
        return answer

    def decode_event(self, event: str | None, document: Any) -> Partial | Final | Failed | None:
        return read_event(event, document)

    def parse_error(self, status: int, body: bytes) -> ProviderError:
        """OpenAI-style errors; the tool's moderation codes are content refusals (exit 4)."""
        error = super().parse_error(status, body)
        return replace(error, kind="content") if is_moderation(error) else error


@hookimpl
def register_providers(register):
    register(ResponsesAdapter)
