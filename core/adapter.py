"""The adapter contract: what a provider plugin implements and the small records it exchanges.

The core builds an :class:`Options` record, asks the adapter for an :class:`HttpRequest`, sends it,
parses the JSON answer and asks the adapter to turn it into an :class:`Answer`, or into a
:class:`Pending` job that the core polls until the adapter's :meth:`Adapter.poll` gives the Answer.
The adapter owns everything that differs between providers: URLs, auth headers, body encoding,
multipart field names, which response fields carry images, and how errors are named (their
``kind``). No third-party type appears here.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlencode

from .batch_engine import UPLOAD_IMAGE, UPLOAD_LINES, BatchEngine, BatchLine, BatchState, LineResult
from .errorbody import MESSAGE_LIMIT, error_fields, one_line
from .errors import UnusableAnswer
from .options import BATCH as BATCH
from .options import EDIT, GENERATE, MASK
from .options import OPERATIONS as OPERATIONS  # re-exported: plugins import them from here
from .options import POLL as POLL
from .options import STREAM as STREAM
from .prices import PriceTable
from .reply import Headers, LocalTransport, Reply, Transport
from .spool import Spool

if TYPE_CHECKING:
    from .config import Profile
    from .options import Options
    from .secret import Secret

__all__ = [
    "BATCH",
    "EDIT",
    "GENERATE",
    "MASK",
    "OPERATIONS",
    "POLL",
    "STREAM",
    "UPLOAD_IMAGE",
    "UPLOAD_LINES",
    "Adapter",
    "Answer",
    "BatchLine",
    "BatchState",
    "ErrorKind",
    "Failed",
    "FilePart",
    "Final",
    "Headers",
    "HttpRequest",
    "ImageRef",
    "LineResult",
    "LocalTransport",
    "Partial",
    "Pending",
    "PriceTable",
    "ProviderError",
    "Reply",
    "Transport",
    "decode_images_answer",
    "describe_error",
    "error_kind",
    "excerpt",
    "form_value",
    "parse_error_body",
    "str_or_none",
    "with_query",
]

ErrorKind = Literal["content", "quota", "not_found", "failed"]
#: Response keys of an images answer reported as facts about the call.
EXTRA_KEYS = ("created", "size", "quality", "background", "output_format")


@dataclass(frozen=True)
class FilePart:
    """One file in a multipart upload: the field name is the adapter's choice (`image` or `image[]`)."""

    field: str
    path: Path
    content_type: str

    @classmethod
    def of(cls, field: str, path: Path) -> FilePart:
        """A part for ``path`` with its real content type, sniffed from its bytes (never octet-stream)."""
        from .sniff import MIME, sniff_file

        info = sniff_file(path)
        return cls(field, Path(path), MIME[info.format] if info else "image/png")


@dataclass
class HttpRequest:
    """A provider-neutral description of one HTTP call; the core sends it.

    Exactly one of ``json`` or ``form`` is used: ``json`` for a JSON body, ``form`` (text fields)
    plus ``files`` for multipart/form-data. A header carrying the key should hold the
    :class:`~imagegate.secret.Secret` itself (``key`` or ``key.prefixed("Bearer ")``): the core
    reveals it only while sending. ``secret_headers`` names headers that carry a key as plain text;
    both kinds are redacted wherever the request is shown, its repr included. ``credentials=False``
    makes it a credential-free fetch under the download rules (no key header is sent).
    """

    method: str
    url: str
    headers: dict[str, str | Secret] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    form: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    secret_headers: frozenset[str] = frozenset()
    stream: bool = False
    credentials: bool = True

    def __repr__(self) -> str:
        from .secret import redact, redact_headers

        fields = {**self.__dict__, "headers": redact_headers(self.headers, self.secret_headers)}
        shown = ", ".join(f"{name}={value!r}" for name, value in fields.items())
        return redact(f"HttpRequest({shown})")


@dataclass
class ImageRef:
    """One image in a provider's answer: decoded bytes already spooled by the core, or a URL."""

    data: Any = None  # a core-owned Spool (spool.py, filled by jsonstream.py) holding the bytes
    url: str | None = None
    revised_prompt: str | None = None


@dataclass
class Answer:
    """What an adapter makes of a provider's answer."""

    images: list[ImageRef]
    usage: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True)
class Pending:
    """ "Not done yet": the core sends ``next`` after ``after`` seconds and gives its answer to poll()."""

    next: HttpRequest  # a poll (the status URL exactly as the provider gave it) or a follow-up
    job_id: str  # the provider's id, named in every message if the call ends before the answer
    after: float = 1.0  # the wait the adapter suggests (the core never waits less)
    status: str = ""  # the provider's word for the state, shown in progress
    repeatable: bool = True  # repeating ``next`` bills nothing: retried on connection failures, 5xx, 429
    state: Any = None  # adapter-private memory carried to the next poll()


@dataclass(frozen=True)
class ProviderError:
    """An error reduced to what a user needs; ``kind`` says what it means (core/http.py verdict())."""

    status: int  # the HTTP status; 200 for a job that failed after a 200
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    kind: ErrorKind | None = None


@dataclass(frozen=True)
class Partial:
    """A streamed preview."""

    ref: ImageRef


@dataclass(frozen=True)
class Final:
    """The streamed final image(s)."""

    answer: Answer


@dataclass(frozen=True)
class Failed:
    """An error event inside a stream, classified by the core like an HTTP error."""

    error: ProviderError


class Adapter(BatchEngine, abc.ABC):
    """Base class for provider adapters: set ``name`` and write :meth:`build_request`; the rest is opt-in.

    An adapter instance is bound to one config profile. ``operations`` lists what it supports:
    any of ``generate``, ``edit``, ``mask``, ``stream`` and ``poll`` (it answers later).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    operations: ClassVar[frozenset[str]] = frozenset({GENERATE, EDIT, MASK})
    needs_key: ClassVar[bool] = True
    #: The provider used when neither the config nor --provider names one (exactly one built-in).
    is_default: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    #: Patterns of answer fields holding base64 images (default: the OpenAI images answer).
    b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = (("data", "*", "b64_json"),)
    #: The same for the data of one server-sent event of a streamed call, e.g. ("b64_json",).
    stream_b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: The JSON Schema file of this adapter's profile keys, in ``schema_package``.
    schema_file: ClassVar[str | None] = None
    schema_package: ClassVar[str] = "imagegate.schemas"

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def supports(self, operation: str) -> bool:
        """Whether this adapter, with its profile, can do ``operation``."""
        return operation in self.operations

    @property
    def base_url(self) -> str:
        """The API root: the profile's ``base_url`` or this adapter's default, without a trailing slash."""
        return (self.profile.base_url or self.default_base_url).rstrip("/")

    def model_for(self, options: Options) -> str:
        """The model of a call: ``--model``, else the profile's, else this adapter's default."""
        return options.model or self.profile.model or self.default_model

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """The JSON Schema of this adapter's profile keys (``schema_file``); the core validates with it."""
        if cls.schema_file is None:
            return {"type": "object"}
        text = resources.files(cls.schema_package).joinpath(cls.schema_file).read_text(encoding="utf-8")
        return dict(json.loads(text))

    @classmethod
    def config_schema_location(cls) -> str:
        """Where the schema lives, for `imagegate providers`."""
        if cls.schema_file is None:
            return f"{cls.__module__}.{cls.__qualname__}.config_schema"
        return f"{cls.schema_package}/{cls.schema_file}"

    def check(self, options: Options) -> list[str]:
        """Raise :class:`imagegate.UsageError` for what the provider would refuse (before paying); warn."""
        return []

    @abc.abstractmethod
    def build_request(self, options: Options) -> HttpRequest:
        """The HTTP request for ``options.operation`` (generate or edit): the one method to write."""

    def transport(self) -> Transport | None:
        """A transport answering this provider's own URL schemes in-process; None: the network."""
        return None

    def decode(self, document: Any, headers: Headers) -> Answer | Pending:
        """The JSON answer as an :class:`Answer` (default: the OpenAI images answer), or a Pending job."""
        return decode_images_answer(document)

    def poll(self, document: Any, headers: Headers, job: Pending) -> Answer | Pending:
        """The answer to ``job.next``: the next Pending, or the Answer.

        Report a failed or moderated job by raising ``ProviderFailure(ProviderError(...))``.
        """
        raise UnusableAnswer(f"provider {self.name!r} answered 'not done yet', but does not poll")

    def cancel(self, job: Pending) -> HttpRequest | None:
        """The request that cancels ``job`` (sent once, best effort, when a call stops); None: none."""
        return None

    def decode_event(self, event: str | None, document: Any) -> Partial | Final | Failed | None:
        """One server-sent event of a streamed call; None ignores it (asked only if ``stream`` is listed)."""
        return None

    def parse_error(self, status: int, body: bytes) -> ProviderError:
        """An error answer as a :class:`ProviderError` (OpenAI-style bodies by default)."""
        return parse_error_body(status, body)

    def request_id(self, headers: Headers) -> str | None:
        """The provider's id of this call (default: the ``x-request-id`` header)."""
        return next((value for name, value in headers.items() if name.lower() == "x-request-id"), None)

    def estimate_cost(self, options: Options, usage: dict[str, Any] | None) -> float | None:
        """What the call costs in USD: from ``usage`` (the answer's token counts) when given, else from
        the provider's published prices (a :class:`PriceTable`). None when unknown, never a guess;
        a profile with a budget then refuses the call unless it allows unknown models."""
        return None


#: Error codes by which OpenAI-style providers say "content policy" (exit 4, never retried).
CONTENT_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
QUOTA_CODES = frozenset({"insufficient_quota"})
#: Codes by which gateways say "this endpoint is not offered" (with an HTTP 501).
MISSING_CODES = frozenset({"api_not_implemented"})


def parse_error_body(status: int, body: bytes) -> ProviderError:
    """The error in OpenAI's shape or another common one (core/errorbody.py), with its kind."""
    message, etype, code, param = error_fields(body)
    return ProviderError(
        status, message or excerpt(body, MESSAGE_LIMIT), etype, code, param, error_kind(status, etype, code)
    )


def error_kind(status: int, etype: str | None, code: str | None) -> ErrorKind | None:
    """What an OpenAI-style error type or code means: a content refusal (on a 400) or a spent quota."""
    if status == 400 and (code in CONTENT_CODES or etype in CONTENT_CODES):
        return "content"
    if code in QUOTA_CODES or etype in QUOTA_CODES:
        return "quota"
    if status == 501 or code in MISSING_CODES:
        return "not_found"  # the gateway has no such endpoint: nothing ran, nothing was billed
    return None


def decode_images_answer(document: Any) -> Answer:
    """An Images API answer (``{"data": [{"b64_json" | "url"}], "usage": ...}``) as an Answer."""
    if not isinstance(document, dict):
        raise UnusableAnswer(f"the answer is JSON but not an object ({type(document).__name__})")
    data = document.get("data")
    if not isinstance(data, list) or not data:
        keys = ", ".join(sorted(map(str, document))) or "none"
        raise UnusableAnswer(f"the answer has no images (no non-empty 'data' list; top-level keys: {keys})")
    images = [_image_ref(entry, index) for index, entry in enumerate(data)]
    usage = document.get("usage") if isinstance(document.get("usage"), dict) else None
    extras = {key: document[key] for key in EXTRA_KEYS if document.get(key) is not None}
    return Answer(images, usage, extras)


def _image_ref(entry: Any, index: int) -> ImageRef:
    if not isinstance(entry, dict):
        raise UnusableAnswer(f"data[{index}] is not an object")
    revised = entry.get("revised_prompt") if isinstance(entry.get("revised_prompt"), str) else None
    payload = entry.get("b64_json")  # an empty string (an empty spool) counts as absent
    if isinstance(payload, Spool):
        if payload.size > 0:
            return ImageRef(data=payload, revised_prompt=revised)  # the core's decoder filled it
    elif payload is not None and not isinstance(payload, str):  # a number, an object: no image
        raise UnusableAnswer(f"data[{index}].b64_json is not a base64 string")
    url = entry.get("url")
    if isinstance(url, str) and url:
        return ImageRef(url=url, revised_prompt=revised)
    raise UnusableAnswer(
        f"data[{index}] has neither b64_json nor url (keys: {', '.join(sorted(entry)) or 'none'})"
    )


def str_or_none(value: Any) -> str | None:
    """``str(value)``, or None for None (error fields that may be numbers or missing)."""
    return None if value is None else str(value)


def excerpt(body: bytes, limit: int = 200) -> str:
    """A short, single-line excerpt of a (possibly HTML) body for an error message or log line."""
    text = body.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


def describe_error(error: ProviderError, lead: str = "") -> str:
    """``HTTP 400 (type t, code c): message``, or ``lead`` in place of ``HTTP 400``."""
    parts = [lead or f"HTTP {error.status}"]
    detail = ", ".join(
        f"{label} {value}" for label, value in (("type", error.type), ("code", error.code)) if value
    )
    if detail:
        parts.append(f"({detail})")
    return " ".join(parts) + f": {one_line(error.message)}"


def form_value(value: Any) -> str:
    """A body value as a multipart text field: booleans as true/false, lists and objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def with_query(url: str, query: dict[str, Any]) -> str:
    """``url`` with extra query parameters appended."""
    if not query:
        return url
    joiner = "&" if "?" in url else "?"
    return url + joiner + urlencode({k: form_value(v) for k, v in query.items()})
