"""Local fakes of the image services the README's recipes name, for FaultServer (as rules).

Each is built from the service's public description, not from imagegate's code: OpenAI's spec
(tests/data, the Responses tool and the JSON edit body), the OpenRouter, LiteLLM, new-api,
one-api, Azure, Gemini, xAI and Together documentation summarised in the project's reference
notes (API-SHAPES.md sections 2-3, EXTERNAL-SERVERS.md) and the vendors' API pages. A fake
checks what the service checks (and refuses as it refuses), then answers in its documented shape.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import jsonschema

from .faultserver import Reply, Rule, Seen
from .helpers import API_KEY, b64, openapi, png

#: The image every fake makes, and the one its image links serve.
MADE = png(12, 10, colour=(9, 99, 199))
PARTIAL = png(12, 10, colour=(50, 50, 50))
USAGE = {"input_tokens": 30, "output_tokens": 40, "total_tokens": 70}


def error(status: int, message: str, kind: str = "invalid_request_error", code: Any = None) -> Reply:
    """An OpenAI-style error answer, as the OpenAI-compatible services send it."""
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def spec_errors(schema: str, document: Any) -> list[str]:
    """What OpenAI's published schema ``schema`` finds wrong with ``document``."""
    wrapped = {"$ref": f"#/components/schemas/{schema}", "components": openapi()["components"]}
    validator = jsonschema.Draft202012Validator(wrapped)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def bearer(seen: Seen, header: str = "Authorization", scheme: str = "Bearer ") -> bool:
    headers = {key.lower(): value for key, value in seen.headers.items()}
    return headers.get(header.lower()) == f"{scheme}{API_KEY}"


def sse(document: dict[str, Any]) -> bytes:
    return f"event: {document['type']}\ndata: {json.dumps(document)}\n\n".encode()


def data_url_bytes(url: str) -> bytes:
    """The bytes of a ``data:image/...;base64,`` URL (raises ValueError when it is not one)."""
    head, _, payload = url.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64")):
        raise ValueError(f"not an image data URL: {url[:40]!r}")
    return base64.b64decode(payload, validate=True)


def multipart(seen: Seen) -> list[tuple[str, str | None, bytes]]:
    """(field name, file name, payload) of each part of a multipart request."""
    content_type = next(v for k, v in seen.headers.items() if k.lower() == "content-type")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + seen.body
    )
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_payload(decode=True) or b"",
        )
        for part in message.iter_parts()
    ]


# -- OpenAI's Responses API with the image_generation tool (API-SHAPES section 2, the spec) ---------
def responses_service(
    *,
    refuse_word: str = "forbidden",
    headers: dict[str, str] | None = None,
    key_header: str = "Authorization",
    key_scheme: str = "Bearer ",
) -> Rule:
    """``POST /responses``: checks the tool against ImageGenTool, answers or streams as documented.

    A prompt holding ``refuse_word`` is moderated (``image_generation_user_error`` /
    ``moderation_blocked``, HTTP 400); ``headers`` are required request headers (Azure's), and
    the key is expected in ``key_header`` after ``key_scheme`` (Azure: ``api-key``, no scheme).
    """

    def answer(seen: Seen) -> Reply:
        if not bearer(seen, key_header, key_scheme):
            return Reply(401, {"error": {"code": "401", "message": "Access denied: invalid key"}})
        sent = {key.lower(): value for key, value in seen.headers.items()}
        for name, value in (headers or {}).items():
            if sent.get(name.lower()) != value:
                return error(400, f"missing header {name}")
        body = seen.json()
        problems = _responses_problems(body)
        if problems:
            return error(400, "; ".join(problems))
        prompt = body["input"][0]["content"][0]["text"]
        if refuse_word in prompt:
            return error(
                400,
                "Your request was rejected by the safety system.",
                "image_generation_user_error",
                "moderation_blocked",
            )
        tool = body["tools"][0]
        if body.get("stream"):
            return Reply(pieces=_response_events(body, tool), no_length=True)
        return Reply(body=_response(body, tool))

    return answer


def _responses_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    tools = body.get("tools") or []
    if not body.get("model"):
        problems.append("model is required")
    if len(tools) != 1:
        return [*problems, "expected one tool"]
    problems += spec_errors("ImageGenTool", tools[0])
    if body.get("tool_choice") not in ({"type": "image_generation"}, "auto", None):
        problems.append("tool_choice must name image_generation")
    content = body["input"][0]["content"]
    if content[0]["type"] != "input_text":
        problems.append("the first part must be input_text")
    for part in content[1:]:
        if part["type"] != "input_image":
            problems.append(f"unexpected part {part['type']}")
        else:
            data_url_bytes(part["image_url"])
    mask = tools[0].get("input_image_mask")
    if mask is not None:
        data_url_bytes(mask["image_url"])
    if body.get("stream") and not tools[0].get("partial_images"):
        problems.append("Streaming must have non-zero partial images")
    return problems


def _call_item(tool: dict[str, Any], result: str | None) -> dict[str, Any]:
    return {
        "type": "image_generation_call",
        "id": "ig_1",
        "status": "completed" if result else "in_progress",
        "revised_prompt": "a revised prompt" if result else None,
        "result": result,
        "size": tool.get("size", "1024x1024"),
        "quality": tool.get("quality", "auto"),
        "background": tool.get("background", "opaque"),
        "output_format": tool.get("output_format", "png"),
    }


def _response(body: dict[str, Any], tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": body["model"],
        "output": [
            _call_item(tool, b64(MADE)),
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Here is the image.", "annotations": []}],
            },
        ],
        "usage": USAGE,
    }


def _response_events(body: dict[str, Any], tool: dict[str, Any]) -> list[bytes]:
    """The documented order: item added, in_progress, generating, partials, completed, item done, done."""
    common = {"item_id": "ig_1", "output_index": 0}
    events = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": _call_item(tool, None)},
        {"type": "response.image_generation_call.in_progress", **common},
        {"type": "response.image_generation_call.generating", **common},
    ]
    for index in range(tool["partial_images"]):
        events.append(
            {
                "type": "response.image_generation_call.partial_image",
                **common,
                "partial_image_index": index,
                "partial_image_b64": b64(PARTIAL),
            }
        )
    events += [
        {"type": "response.image_generation_call.completed", **common},
        {"type": "response.output_item.done", "output_index": 0, "item": _call_item(tool, b64(MADE))},
        {"type": "response.completed", "response": _response(body, tool)},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
        if event["type"].startswith("response.image_generation_call."):
            assert not spec_errors(_EVENT_SCHEMAS[event["type"]], event), event
    return [sse(event) for event in events]


_EVENT_SCHEMAS = {
    "response.image_generation_call.in_progress": "ResponseImageGenCallInProgressEvent",
    "response.image_generation_call.generating": "ResponseImageGenCallGeneratingEvent",
    "response.image_generation_call.partial_image": "ResponseImageGenCallPartialImageEvent",
    "response.image_generation_call.completed": "ResponseImageGenCallCompletedEvent",
}


# -- chat completions with image output (OpenRouter, LiteLLM, Vercel; API-SHAPES section 3) --------
def chat_service(style: str = "images", *, link: str | None = None) -> Rule:
    """``POST /chat/completions`` as OpenRouter answers an image model.

    ``style``: ``images`` (message.images data URLs), ``camel`` (``imageUrl``), ``link``
    (message.images holding the http ``link``), ``markdown`` (a Markdown image in the text),
    ``text`` (a text-only reply, as a model that declines).
    """

    def answer(seen: Seen) -> Reply:
        if not bearer(seen):
            return Reply(401, {"error": {"message": "No auth credentials found", "code": 401}})
        body = seen.json()
        if not body.get("model") or "image" not in (body.get("modalities") or ()):
            return Reply(400, {"error": {"message": "modalities must include image", "code": 400}})
        for part in body["messages"][-1]["content"][1:]:
            if part["type"] != "image_url":
                return Reply(400, {"error": {"message": f"bad part {part['type']}", "code": 400}})
            data_url_bytes(part["image_url"]["url"])
        return Reply(body=_chat_answer(body["model"], style, link))

    return answer


def _chat_answer(model: str, style: str, link: str | None) -> dict[str, Any]:
    url = f"data:image/png;base64,{b64(MADE)}"
    message: dict[str, Any] = {"role": "assistant", "content": "Here is your picture."}
    if style == "images":
        message["images"] = [{"type": "image_url", "image_url": {"url": url}}]
    elif style == "camel":
        message["images"] = [{"type": "image_url", "imageUrl": {"url": url}}]
    elif style == "link":
        message["images"] = [{"type": "image_url", "image_url": {"url": link}}]
    elif style == "markdown":
        message["content"] = f"Here it is:\n\n![generated image]({link or url})\n\nEnjoy."
    else:
        message["content"] = "I'm sorry, but I can't create that image. I can describe it instead."
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1290, "total_tokens": 1302},
    }


def image_file(seen: Seen) -> Reply:
    """An image link's target: refuses any request that carries credentials."""
    if any(key.lower() in ("authorization", "api-key", "x-api-key") for key in seen.headers):
        return Reply(403, b"credentials sent to an image link")
    return Reply(body=MADE, content_type="image/png")


# -- OpenAI-style images endpoints behind gateways ---------------------------------------------------
def images_answer_of(**entry: Any) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": b64(MADE), **entry}]}


def openrouter_images(seen: Seen) -> Reply:
    """OpenRouter's ``POST /api/v1/images``: data[].b64_json with media_type; usage with cost."""
    body = seen.json()
    if not bearer(seen) or not body.get("model") or not body.get("prompt"):
        return Reply(400, {"error": {"message": "model and prompt are required", "code": 400}})
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 1000,
        "total_tokens": 1009,
        "cost": 0.04,
        "is_byok": False,
    }
    return Reply(
        body={"created": 1, "data": [{"b64_json": b64(MADE), "media_type": "image/png"}], "usage": usage}
    )


def litellm_images(seen: Seen) -> Reply:
    """The LiteLLM proxy: OpenAI's shape, nulls for what the backend did not say, its own call id."""
    if not bearer(seen):
        return error(400, "No connected db.", "no_db_connection", "400")
    if seen.path.endswith("/edits"):
        names = {name for name, filename, _ in multipart(seen) if filename}
        if not names & {"image", "image[]"}:
            return error(400, "image is required")
    elif seen.json().get("stream"):
        return error(
            500, "litellm.APIConnectionError: 'str' object has no attribute 'model_dump'", code="500"
        )
    answer = images_answer_of()
    answer.update({"size": None, "quality": None, "background": None, "output_format": None})
    answer["usage"] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    return Reply(body=answer, headers={"x-litellm-call-id": "call-1"})


def new_api_images(seen: Seen) -> Reply:
    """new-api: multipart ``image``/``image[]``/``image[...]`` or a JSON body; ImageData without omitempty."""
    if not bearer(seen):
        return error(401, "invalid token", "new_api_error")
    if seen.path.endswith("/edits") and "multipart" in seen.headers.get("Content-Type", ""):
        files = [name for name, filename, _ in multipart(seen) if filename and name.startswith("image")]
        if not files:
            return error(400, "image is required", "new_api_error")
    elif not seen.json().get("model"):
        seen_model = "dall-e-2"  # what one-api-style gateways substitute
        return error(400, f"model {seen_model} is not available", "new_api_error")
    return Reply(body=images_answer_of(url="", revised_prompt=""))


def one_api_images(seen: Seen) -> Reply:
    """one-api: generations relayed; ``/v1/images/edits`` is RelayNotImplemented (HTTP 501)."""
    if seen.path.endswith("/edits"):
        return error(501, "API not implemented", "one_api_error", "api_not_implemented")
    body = seen.json()
    if not bearer(seen) or not body.get("model"):
        return error(400, "model dall-e-2 is not enabled for this token", "one_api_error")
    return Reply(body={"created": 1, "data": [{"b64_json": b64(MADE), "url": "", "revised_prompt": ""}]})


def gemini_images(seen: Seen) -> Reply:
    """Gemini's OpenAI-compatible images endpoint: refuses fields it does not know, such as output_format."""
    if not bearer(seen):
        return Reply(
            401, [{"error": {"code": 401, "message": "API key not valid", "status": "UNAUTHENTICATED"}}]
        )
    body = seen.json()
    unknown = sorted(set(body) - {"model", "prompt", "n", "size", "response_format", "user"})
    if unknown:
        message = f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        return Reply(400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}])
    return Reply(body={"created": 1, "data": [{"b64_json": b64(MADE)}]})


def xai_images(seen: Seen) -> Reply:
    """xAI: JSON only; edits take ``image{url}`` or ``images[{url}]``; no size or quality."""
    if not bearer(seen):
        return error(401, "Incorrect API key provided")
    if "application/json" not in seen.headers.get("Content-Type", ""):
        return error(415, "Unsupported Media Type: the image API requires application/json")
    body = seen.json()
    unsupported = sorted(set(body) & {"size", "quality", "style", "output_format"})
    if unsupported:
        return error(400, f"Argument not supported: {unsupported[0]}")
    if seen.path.endswith("/edits"):
        images = body.get("images") or ([body["image"]] if body.get("image") else [])
        if not images or not all(isinstance(i, dict) and i.get("url") for i in images):
            return error(400, "Field required: image.url or images[].url")
        for item in images:
            data_url_bytes(item["url"])
    if body.get("response_format") != "b64_json":
        return Reply(body={"data": [{"url": "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-1.jpeg"}]})
    return Reply(body={"data": [{"b64_json": b64(MADE), "revised_prompt": ""}]})


def together_images(seen: Seen) -> Reply:
    """Together: width/height/steps, ``response_format`` b64_json; data[].b64_json with index and type."""
    body = seen.json()
    if not bearer(seen):
        return error(401, "Invalid API key provided")
    if body.get("response_format") != "b64_json":
        return Reply(
            body={"id": "t-1", "object": "list", "data": [{"index": 0, "url": "https://api.together.ai/x"}]}
        )
    if not isinstance(body.get("width"), int) or "size" in body:
        return error(400, "width and height are integers; size is not a parameter")
    data = [{"index": 0, "b64_json": b64(MADE), "type": "b64_json"}]
    return Reply(body={"id": "t-1", "model": body["model"], "object": "list", "data": data})


def azure_images(deployment: str) -> Callable[[Seen], Reply]:
    """Azure's deployment images path: ``api-key`` header, api-version 2025-04-01-preview or later."""

    def answer(seen: Seen) -> Reply:
        if not bearer(seen, "api-key", ""):
            return Reply(
                401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key"}}
            )
        if "api-version=2025-04-01-preview" not in seen.path:
            return Reply(404, {"error": {"code": "404", "message": "Resource not found"}})
        if f"/openai/deployments/{deployment}/" not in seen.path:
            return Reply(404, {"error": {"code": "DeploymentNotFound", "message": "deployment not found"}})
        return Reply(body=images_answer_of())

    return answer


# -- a server that validates requests against OpenAI's published spec, as Prism does ---------------
_NUMBERS = {"n", "output_compression", "partial_images"}


def spec_validating_images(seen: Seen) -> Reply:
    """Generations and edits (multipart or JSON) checked against the spec; RFC 7807 422 when invalid.

    Multipart field names are taken literally, as Prism does: ``image[]`` is not ``image``.
    """
    if seen.path.endswith("/generations"):
        schema, document = "CreateImageRequest", seen.json()
    elif "multipart" in seen.headers.get("Content-Type", ""):
        schema, document = "CreateImageEditRequest", _multipart_document(seen)
    else:
        schema, document = "EditImageBodyJsonParam", seen.json()
    problems = spec_errors(schema, document)
    if problems:
        validation = [{"location": ["body"], "severity": "Error", "message": p} for p in problems]
        return Reply(
            422,
            {
                "type": "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY",
                "title": "Invalid request",
                "status": 422,
                "detail": "Your request is not valid and no HTTP validation response was found in the spec, "
                "so Prism is generating this error for you.",
                "validation": validation,
            },
            content_type="application/problem+json",
        )
    return Reply(body=images_answer_of())


def _multipart_document(seen: Seen) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name, filename, payload in multipart(seen):
        if filename is not None:
            value: Any = filename
            document[name] = [*document[name], value] if name in document else value
        elif name in _NUMBERS:
            document[name] = int(payload)
        elif name == "stream":
            document[name] = payload == b"true"
        else:
            document[name] = payload.decode()
    return document
