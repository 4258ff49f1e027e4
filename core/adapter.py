"""The adapter contract: what a provider plugin implements and the small records it exchanges.

The core builds an :class:`Options` record, asks the adapter for an :class:`HttpRequest`, sends it,
parses the JSON answer and asks the adapter to turn it into an :class:`Answer`. The adapter owns
everything that differs between providers: URLs, auth headers, body encoding, multipart field
names, which response fields carry images, and how errors are classified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ContentRefused, NetworkError, ProviderRefused
from .options import BATCH as BATCH
from .options import EDIT, GENERATE, MASK
from .options import OPERATIONS as OPERATIONS  # re-exported: plugins import them from here
from .options import STREAM as STREAM

if TYPE_CHECKING:
    from .config import Profile
    from .options import Options
    from .secret import Secret


@dataclass(frozen=True)
class Transport:
    """A ``requests`` transport adapter that answers some URL schemes in-process, and those schemes.

    The core mounts ``handler`` for ``scheme://`` URLs and lets requests to those schemes through
    (every other URL must be https, or http to a local host).
    """

    handler: Any  # a requests.adapters.BaseAdapter
    schemes: tuple[str, ...]  # e.g. ("placeholder",)

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The URL prefixes to mount ``handler`` on: ``placeholder://``."""
        return tuple(f"{scheme}://" for scheme in self.schemes)


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
    both kinds are redacted wherever the request is shown, its repr included.
    """

    method: str
    url: str
    headers: dict[str, str | Secret] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    form: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    secret_headers: frozenset[str] = frozenset()
    stream: bool = False

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


@dataclass(frozen=True)
class ProviderError:
    """An error answer reduced to what a user needs: status, type, code, message."""

    status: int
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None


class Adapter:
    """Base class for provider adapters. Subclasses set the class attributes and override methods.

    An adapter instance is bound to one config profile. ``operations`` lists what it supports:
    any of ``generate``, ``edit``, ``mask`` and ``stream``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    operations: ClassVar[frozenset[str]] = frozenset({GENERATE, EDIT, MASK})
    needs_key: ClassVar[bool] = True
    #: The provider used when neither the config nor --provider names one (exactly one built-in).
    is_default: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    #: JSON-pointer-like patterns of response fields holding base64 images, e.g. ("data", "*", "b64_json").
    b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: The same for the data of one server-sent event of a streamed call, e.g. ("b64_json",).
    stream_b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def supports(self, operation: str) -> bool:
        """Whether this adapter, with its profile, can do ``operation`` (generate, edit, mask, stream)."""
        return operation in self.operations

    @property
    def base_url(self) -> str:
        """The API root: the profile's ``base_url`` or this adapter's default, without a trailing slash."""
        return (self.profile.base_url or self.default_base_url).rstrip("/")

    def model_for(self, options: Options) -> str:
        """The model of a call: ``--model``, else the profile's, else this adapter's default."""
        return options.model or self.profile.model or self.default_model

    # -- configuration -------------------------------------------------------------------------
    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """The JSON Schema of this adapter's own profile keys; the core validates profiles with it."""
        return {"type": "object"}

    @classmethod
    def config_schema_location(cls) -> str:
        """Where the schema lives, for `imagegate providers` (a file name or a module path)."""
        return f"{cls.__module__}.{cls.__qualname__}.config_schema"

    # -- before the call -----------------------------------------------------------------------
    def check(self, options: Options) -> list[str]:
        """Validate options against what the provider and model accept; return warnings.

        Raise :class:`imagegate.UsageError` for anything the provider would refuse, so the user
        learns it before paying.
        """
        return []

    def build_request(self, options: Options) -> HttpRequest:
        """Build the HTTP request for ``options.operation`` (generate or edit)."""
        raise NotImplementedError

    def transport(self) -> Transport | None:
        """Optionally a :class:`Transport` answering this provider's own URL schemes in-process.

        Called once per call; the default (``None``) sends every request over the network.
        """
        return None

    # -- after the call ------------------------------------------------------------------------
    def decode(self, document: Any, headers: dict[str, str]) -> Answer:
        """Turn the parsed JSON answer into an :class:`Answer`; raise UnusableAnswer if it has none."""
        raise NotImplementedError

    def request_id(self, headers: Any) -> str | None:
        """The provider's id of this call, from the answer's headers (a mapping); None if it has none."""
        return None

    def decode_event(self, event: str | None, document: Any) -> tuple[str, Any] | None:
        """Interpret one server-sent event of a streamed call.

        Return ``("partial", ImageRef)``, ``("final", Answer)`` or ``None`` to ignore the event.
        Only adapters that list ``stream`` in ``operations`` are asked.
        """
        return None

    def parse_error(self, status: int, body: bytes) -> ProviderError:
        """Reduce an error answer to a :class:`ProviderError` (OpenAI-style bodies by default)."""
        message, etype, code, param = "", None, None, None
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            etype = str_or_none(error.get("type"))
            code = str_or_none(error.get("code"))
            param = str_or_none(error.get("param"))
        elif isinstance(error, str):
            message = error
        elif isinstance(document, dict) and isinstance(document.get("message"), str):
            message = document["message"]
        if not message:
            message = excerpt(body)
        return ProviderError(status=status, message=message, type=etype, code=code, param=param)

    def classify_error(self, error: ProviderError) -> Exception:
        """Map a provider error to the exception (and so the exit code) the user gets."""
        text = describe_error(error)
        if error.status >= 500:
            return NetworkError(text)
        return ProviderRefused(text, status=error.status, code=error.code)

    def is_content_refusal(self, error: ProviderError) -> bool:
        """Whether the error is a content-policy refusal (exit 4, never retried)."""
        return False

    def is_permanent_rate_error(self, error: ProviderError) -> bool:
        """Whether a 429 is permanent (an exhausted quota) rather than a rate limit worth retrying."""
        return False

    def content_refused(self, error: ProviderError) -> ContentRefused:
        """Build the exit-4 error for a content refusal."""
        return ContentRefused(
            describe_error(error),
            status=error.status,
            code=error.code,
            hints=("Rephrase the prompt or change the input image; retrying as-is will not help.",),
        )

    # -- the provider's batch engine (only adapters that list "batch" in operations) -----------
    #: Patterns of the base64 images inside one line of a result file.
    batch_b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: The most lines, and bytes, one batch input file may hold.
    batch_max_lines: ClassVar[int] = 0
    batch_max_bytes: ClassVar[int] = 0

    def batch_uploads(self, options: Options) -> list[Path]:
        """The local files a job's line refers to, uploaded first (once each, however many jobs use them).

        Raise UsageError for a job the batch engine cannot take, before anything is sent.
        """
        return []

    def upload_request(self, path: Path, purpose: str) -> HttpRequest:
        """The upload of ``path`` (UPLOAD_LINES or UPLOAD_IMAGE); :meth:`uploaded` reads the answer."""
        raise NotImplementedError

    def uploaded(self, document: Any) -> str:
        """The provider's id of an uploaded file, from the upload's JSON answer."""
        raise NotImplementedError

    def batch_line(self, options: Options, custom_id: str, files: Mapping[Path, str]) -> BatchLine:
        """The job as one input line; ``files`` maps each of :meth:`batch_uploads` to its file id."""
        raise NotImplementedError

    def submit_batch(self, file_id: str, group: str) -> HttpRequest:
        """Create a batch of the uploaded input file (the paid step, never repeated)."""
        raise NotImplementedError

    def poll_batch(self, job_id: str) -> HttpRequest:
        """Ask for a batch's state (repeating it bills nothing); :meth:`batch_state` reads the answer."""
        raise NotImplementedError

    def cancel_batch(self, job_id: str) -> HttpRequest:
        """Ask the provider to stop a batch; its finished lines stay in its result files."""
        raise NotImplementedError

    def batch_state(self, document: Any) -> BatchState:
        """A batch's state from the answer to submit_batch, poll_batch or cancel_batch."""
        raise NotImplementedError

    def batch_result(self, document: Any) -> LineResult:
        """One line of a result file (images already spooled at :attr:`batch_b64_fields`)."""
        raise NotImplementedError


# -- the provider's batch engine (operation "batch": imagegate batch --remote) ----------------------
#: Why a file is uploaded: the input lines of a batch, or an image that lines refer to.
UPLOAD_LINES = "lines"
UPLOAD_IMAGE = "image"


@dataclass(frozen=True)
class BatchLine:
    """One job as a line of a batch input file; lines of different ``group`` go to different batches."""

    group: str  # adapter-chosen (endpoint and model, say); given back to submit_batch
    line: dict[str, Any]


@dataclass(frozen=True)
class BatchState:
    """What the provider says of one batch: its word for the state, counts, and once done its files."""

    job_id: str
    status: str  # the provider's word ("validating", "in_progress", "completed", "expired"...)
    done: bool  # the batch will change no more: its result files can be read
    counts: dict[str, int] = field(default_factory=dict)  # total / completed / failed
    results: tuple[HttpRequest, ...] = ()  # downloads of its result files (read line by line)
    problem: str | None = None  # why the whole batch failed (a refused input file), if it did


@dataclass(frozen=True)
class LineResult:
    """One line of a result file: the job's answer, its error, or why it never ran."""

    custom_id: str
    answer: Answer | None = None
    error: ProviderError | None = None
    not_run: str | None = None  # it never ran (the batch expired or was cancelled): not billed


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
    return " ".join(parts) + f": {error.message}"
