"""The ``chat`` provider: chat completions that answer with images, as OpenRouter and gateways do.

``POST {base_url}/chat/completions`` with ``modalities`` (profile key, default ``["image",
"text"]``), the prompt and each input image as content parts, and an optional ``image_config``
passed through. Images are read from ``choices[].message.images[].image_url.url`` (also the
camelCase ``imageUrl``): data URLs are decoded by the core as they arrive, http(s) links are
downloaded at once without credentials. Failing those, data URLs and Markdown image links inside
the message text are used. The model's text is reported; an answer without an image quotes it.

The shape knowledge is in pure functions (:func:`chat_body`, :func:`decode_chat`,
:func:`images_in_text`); the adapter only wires them to the contract.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from imagegate import hookimpl
from imagegate.adapter import (
    EDIT,
    GENERATE,
    Answer,
    Headers,
    HttpRequest,
    ImageRef,
    ProviderError,
    with_query,
)
from imagegate.errors import ProviderFailure, UnusableAnswer, UsageError
from imagegate.options import Options
from imagegate.providers.compatible import CompatibleAdapter
from imagegate.providers.openai import data_url
from imagegate.providers.responses import quote

#: Where base64 images sit in an answer (see imagegate.jsonstream).
Fields = tuple[tuple[str, ...], ...]
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_MODEL = "google/gemini-2.5-flash-image"
DEFAULT_MODALITIES = ("image", "text")
#: Options chat completions have no field for: sent nowhere, with a warning when set.
NOT_SENT = ("background", "output_compression", "moderation", "input_fidelity", "style")
#: Where an answer's images may sit (each a data URL, decoded by the core, or an http(s) link).
IMAGE_FIELDS: tuple[tuple[str, ...], ...] = tuple(
    ("choices", "*", "message", *place, key, *tail)
    for place in (("images", "*"), ("content", "*"))
    for key in ("image_url", "imageUrl")
    for tail in (("url",), ())
)
_MARKDOWN_IMAGE = re.compile(
    r"!\[[^\]]*\]\(\s*<?((?:https?://|data:image/)[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/]+={0,2}")


# -- the request -----------------------------------------------------------------------------------
def chat_body(
    model: str,
    prompt: str,
    image_urls: list[str],
    modalities: list[str],
    image_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One user message (the prompt, then each image as an image_url part) asking for images."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in image_urls]
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "modalities": list(modalities),
    }
    if image_config:
        body["image_config"] = dict(image_config)
    return body


# -- the answer ------------------------------------------------------------------------------------
def decode_chat(document: Any) -> Answer:
    """A chat completion as an Answer with the model's text; raises when it holds no image.

    ProviderFailure for an error object or a filtered answer (``finish_reason`` content_filter,
    exit 4), else UnusableAnswer quoting the start of the model's text (often a refusal).
    """
    if not isinstance(document, dict):
        raise UnusableAnswer(f"the answer is JSON but not an object ({type(document).__name__})")
    if isinstance(document.get("error"), dict):
        raise ProviderFailure(answer_error(document["error"]))
    choices = [c for c in document.get("choices") or () if isinstance(c, dict)]
    messages = [c["message"] for c in choices if isinstance(c.get("message"), dict)]
    text = "\n".join(t for t in map(message_text, messages) if t) or None
    images = [ref for message in messages for ref in message_images(message)]
    if not images and text:
        images = [ImageRef(url=url) for url in images_in_text(text)]
    if not images:
        raise _no_image(choices, text)
    usage = document.get("usage") if isinstance(document.get("usage"), dict) else None
    extras = {key: document[key] for key in ("id", "model") if isinstance(document.get(key), str)}
    return Answer(images, usage, extras, text)


def message_images(message: dict[str, Any]) -> list[ImageRef]:
    """The images of a message's ``images`` list and of its image content parts."""
    parts = [p for key in ("images", "content") if isinstance(message.get(key), list) for p in message[key]]
    return [ref for ref in map(_part_image, parts) if ref is not None]


def _part_image(part: Any) -> ImageRef | None:
    """``{"image_url": {"url": ...}}``, ``{"imageUrl": {"url": ...}}`` or the url given directly."""
    if not isinstance(part, dict):
        return None
    for key in ("image_url", "imageUrl"):
        value = part.get(key)
        value = value.get("url") if isinstance(value, dict) else value
        if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
            return ImageRef(url=value)
        if value is not None and not isinstance(value, str) and getattr(value, "size", 0) > 0:
            return ImageRef(data=value)  # a data URL the core decoded while it arrived
    return None


def message_text(message: dict[str, Any]) -> str | None:
    """The text of a message: its content string, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content or None
    if isinstance(content, list):
        texts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(texts) or None
    return None


def images_in_text(text: str) -> list[str]:
    """Image URLs inside the text: Markdown image links (http(s) or data) and bare data URLs."""
    found = [match.group(1) for match in _MARKDOWN_IMAGE.finditer(text)]
    found += [match.group(0) for match in _DATA_URL.finditer(text)]
    return list(dict.fromkeys(found))


def _no_image(choices: list[dict[str, Any]], text: str | None) -> Exception:
    reasons = {str(c.get("finish_reason")) for c in choices if c.get("finish_reason")}
    said = f': "{quote(text)}"' if text else ""
    if "content_filter" in reasons:
        message = f"the provider filtered the answer (finish_reason content_filter){said}"
        return ProviderFailure(ProviderError(200, message, code="content_filter", kind="content"))
    if text:
        return UnusableAnswer(
            f"the model answered with text and no image{said}",
            hints=("Check that the model makes images and that modalities asks for them.",),
        )
    return UnusableAnswer(f"the answer holds no image and no text ({len(choices)} choice(s))")


def answer_error(fields: Any) -> ProviderError:
    """The error object of an answer that came back HTTP 200 (OpenRouter's upstream failures).

    Its ``code`` is an HTTP status when it is one (502: the upstream failed), else it counts as 502.
    """
    fields = fields if isinstance(fields, dict) else {"message": fields}
    code = fields.get("code")
    status = code if isinstance(code, int) and 400 <= code <= 599 else 502
    message = str(fields.get("message") or "no message")
    return ProviderError(status, message, code=None if code is None else str(code))


# -- the checks ------------------------------------------------------------------------------------
def check_chat_options(options: Options) -> list[str]:
    """Refuse ``--n`` above 1 (one image per answer); warn about options chat has no field for."""
    if options.n is not None and options.n > 1:
        raise UsageError(
            f"--n {options.n}: the chat provider makes one image per call",
            hints=("Run it once per image, or use `imagegate batch` with one job per image.",),
        )
    return [
        f"--{name.replace('_', '-')} has no chat completions field; it was not sent (image_config may help)"
        for name in NOT_SENT
        if getattr(options, name) is not None
    ]


class ChatAdapter(CompatibleAdapter):
    """Chat completions with image output; auth, headers and query as ``compatible``."""

    name = "chat"
    description = "Chat completions that answer with images (OpenRouter, LiteLLM, Vercel AI Gateway)"
    operations = frozenset({GENERATE, EDIT})
    default_base_url = DEFAULT_BASE_URL
    default_model = DEFAULT_MODEL
    b64_fields: ClassVar[Fields] = IMAGE_FIELDS
    stream_b64_fields: ClassVar[Fields] = ()
    schema_file = "chat.schema.json"

    def supports(self, operation: str) -> bool:
        return operation in self.operations

    def endpoint(self, operation: str) -> str:
        return with_query(self.base_url + "/chat/completions", self.profile.settings.get("query") or {})

    def check(self, options: Options) -> list[str]:
        return check_chat_options(options)

    def body(self, options: Options) -> dict[str, Any]:
        settings = self.profile.settings
        images = [data_url(Path(path)) for path in options.images]
        modalities = list(settings.get("modalities") or DEFAULT_MODALITIES)
        config = settings.get("image_config")
        body = chat_body(self.model_for(options), options.prompt, images, modalities, config)
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
        )

    def decode(self, document: Any, headers: Headers) -> Answer:
        return decode_chat(document)


@hookimpl
def register_providers(register):
    register(ChatAdapter)
