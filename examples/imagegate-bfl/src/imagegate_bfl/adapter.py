"""The ``bfl`` adapter: Black Forest Labs' FLUX API, which accepts a job and answers later.

``POST {base_url}/{model}`` (JSON, the key in an ``x-key`` header) answers ``{"id", "polling_url"}``.
A ``GET`` of that polling URL, exactly as given and with the key, answers ``{"status": ...}``:
``Pending`` (or another in-between word such as ``Reasoning`` or ``Generating``) until ``Ready``
brings ``result.sample``, a signed URL on another host that lasts about ten minutes and that the
core downloads at once without the key. ``Request Moderated`` and ``Content Moderated`` are content
refusals, ``Error`` a failed job, ``Task not found`` an unknown or expired id.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imagegate.adapter import (
    EDIT,
    GENERATE,
    POLL,
    Adapter,
    Answer,
    Headers,
    HttpRequest,
    ImageRef,
    Pending,
    ProviderError,
    excerpt,
)
from imagegate.errors import ProviderFailure, UnusableAnswer, UsageError
from imagegate.options import Options

#: Input images an edit may carry: ``input_image``, ``input_image_2`` ... ``input_image_8``.
MAX_INPUT_IMAGES = 8
#: The longest wait between polls once it has grown (unless poll_interval is longer).
MAX_POLL_WAIT = 5.0
DEFAULT_POLL_INTERVAL = 1.0
OUTPUT_FORMATS = ("png", "jpeg")
MODERATED = ("Request Moderated", "Content Moderated")
FAILED = ("Error", "Failed")
NOT_FOUND = "Task not found"
#: A model is a path segment of the submit URL: ``flux-2-pro``, ``flux-kontext-max``, ``flux-pro-1.1``.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: Options of the Images API that BFL has no field for: sent nowhere, with a warning.
UNSENT = ("background", "moderation", "input_fidelity", "style", "user", "output_compression")
MESSAGE_LIMIT = 300


class BflAdapter(Adapter):
    """Black Forest Labs (FLUX): ``x-key`` header, JSON bodies, base64 input images, a polled job."""

    name = "bfl"
    description = "Black Forest Labs FLUX API (x-key; answers later: submit, then poll)"
    operations = frozenset({GENERATE, EDIT, POLL})
    default_base_url = "https://api.bfl.ai/v1"
    default_model = "flux-2-pro"
    b64_fields = ()  # BFL's answers carry URLs, never base64 images
    schema_file = "bfl.schema.json"
    schema_package = __package__ or "imagegate_bfl"

    # -- before paying ------------------------------------------------------------------------------
    def check(self, options: Options) -> list[str]:
        """Refuse what BFL cannot do (several images, webp, too many inputs, a model that is no name)."""
        if options.n != 1:
            raise UsageError(
                f"BFL makes one image per request, not {options.n}",
                hints=("Use --n 1, and run the command again for more images.",),
            )
        if options.output_format not in OUTPUT_FORMATS:
            raise UsageError(
                f"BFL answers png or jpeg, not {options.output_format}",
                hints=("Use --format png or --format jpeg.",),
            )
        if len(options.images) > MAX_INPUT_IMAGES:
            raise UsageError(f"BFL takes at most {MAX_INPUT_IMAGES} input images, not {len(options.images)}")
        model = self.model_for(options)
        if not MODEL_NAME.fullmatch(model):
            raise UsageError(
                f"{model!r} is not a BFL model name",
                hints=("BFL's models are names such as flux-2-pro, flux-2-max or flux-kontext-pro.",),
            )
        return size_warnings(options.size) + unsent_warnings(options)

    # -- submit -------------------------------------------------------------------------------------
    def build_request(self, options: Options) -> HttpRequest:
        """``POST {base_url}/{model}`` with the prompt, size, format and any input images as base64."""
        body: dict[str, Any] = {"prompt": options.prompt, "output_format": options.output_format}
        body.update(dimensions(options.size))
        settings = self.profile.settings
        body.update({key: settings[key] for key in ("safety_tolerance", "seed") if key in settings})
        body.update(input_images(options.images))
        body.update(self.profile.extra_body)
        body.update(options.extra_body)
        return HttpRequest("POST", f"{self.base_url}/{self.model_for(options)}", self.key_header(), json=body)

    def decode(self, document: Any, headers: Headers) -> Pending:
        """The submit's ``{"id", "polling_url"}`` as the first Pending: a GET of that URL, as given."""
        job_id, polling_url = submitted(document)
        if not same_site(polling_url, self.base_url):
            raise UnusableAnswer(
                f"BFL accepted job {job_id} but gave a polling_url on {urlsplit(polling_url).hostname}, "
                f"outside the domain of base_url ({urlsplit(self.base_url).hostname}); "
                "the key is not sent there, so the job was not polled",
                hints=(f"job {job_id} at bfl was submitted and may still finish (and be billed).",),
            )
        poll = HttpRequest("GET", polling_url, self.key_header())
        return Pending(poll, job_id, after=self.poll_interval(), status="Submitted")

    # -- poll -------------------------------------------------------------------------------------
    def poll(self, document: Any, headers: Headers, job: Pending) -> Answer | Pending:
        """The polling URL's answer: wait on, the signed sample URL, or the job's failure."""
        status = job_status(document, job)
        if status == "Ready":
            return ready_answer(document, job)
        if status in MODERATED:
            raise ProviderFailure(ProviderError(200, moderated_message(status, document), kind="content"))
        if status == NOT_FOUND:
            message = "Task not found: BFL does not know this job (its id is wrong, or it expired)"
            raise ProviderFailure(ProviderError(404, message, kind="not_found"))
        if status in FAILED:
            reason = reason_of(document)
            message = f"{status}: {reason}" if reason else f"{status} (BFL gave no reason)"
            raise ProviderFailure(ProviderError(200, message, kind="failed"))
        # Pending, and the in-between states (Reasoning, Generating, and any BFL adds later).
        return replace(job, status=status, after=self.next_wait(job.after))

    def parse_error(self, status: int, body: bytes) -> ProviderError:
        """BFL's error answers: FastAPI's ``{"detail": ...}``, or ``{"error", "message"}``."""
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        fields = document if isinstance(document, dict) else {}
        message = detail_text(fields.get("detail")) or text_of(fields.get("message"))
        code = fields.get("error") if isinstance(fields.get("error"), str) else None
        message = one_line(message or code or excerpt(body))
        return ProviderError(status, message, code=code, kind="quota" if status == 402 else None)

    # -- helpers ------------------------------------------------------------------------------------
    def key_header(self) -> dict[str, Any]:
        """``x-key`` holding the profile's Secret: the core reveals it only while sending."""
        return {"x-key": self.profile.api_key} if self.profile.api_key is not None else {}

    def poll_interval(self) -> float:
        """The profile's poll_interval; NaN (which JSON Schema lets through) is the default."""
        value = float(self.profile.settings.get("poll_interval", DEFAULT_POLL_INTERVAL))
        return value if math.isfinite(value) and value > 0 else DEFAULT_POLL_INTERVAL

    def next_wait(self, last: float) -> float:
        """The wait grows by half each poll, as BFL's own client does, up to 5 s (or poll_interval)."""
        return min(last * 1.5, max(self.poll_interval(), MAX_POLL_WAIT))


# -- the request ------------------------------------------------------------------------------------
def dimensions(size: str) -> dict[str, int]:
    """``width`` and ``height`` from ``WIDTHxHEIGHT``; ``auto`` sends neither (BFL chooses)."""
    if size == "auto":
        return {}
    width, height = (int(side) for side in size.split("x"))
    return {"width": width, "height": height}


def input_images(paths: list[Path]) -> dict[str, str]:
    """The edit's input images as base64: ``input_image``, ``input_image_2``, ... in the order given."""
    fields = {}
    for index, path in enumerate(paths, start=1):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the input image {path}: {exc.strerror or exc}") from None
        fields["input_image" if index == 1 else f"input_image_{index}"] = base64.b64encode(data).decode()
    return fields


def size_warnings(size: str) -> list[str]:
    """A warning for a size outside what BFL's FLUX.2 models document (it may be refused, unbilled)."""
    if size == "auto":
        return []
    width, height = (int(side) for side in size.split("x"))
    if width % 16 == 0 and height % 16 == 0 and min(width, height) >= 64 and width * height <= 4 * 1024**2:
        return []
    return [
        f"BFL's FLUX.2 models take widths and heights that are multiples of 16, from 64 up to "
        f"4 megapixels: {size} may be refused (HTTP 422, not billed) or adjusted"
    ]


def unsent_warnings(options: Options) -> list[str]:
    """One warning per Images API option that BFL has no field for."""
    names = [name for name in UNSENT if getattr(options, name) is not None]
    if options.quality != "auto":
        names.insert(0, "quality")
    return [f"--{name.replace('_', '-')} is not a BFL option; it is not sent" for name in names]


# -- the answers ------------------------------------------------------------------------------------
def submitted(document: Any) -> tuple[str, str]:
    """The job id and polling URL of the submit's answer."""
    fields = document if isinstance(document, dict) else {}
    job_id, polling_url = fields.get("id"), fields.get("polling_url")
    if not isinstance(job_id, str) or not job_id:
        keys = ", ".join(sorted(map(str, fields))) or "none"
        raise UnusableAnswer(f"BFL answered the submit without a job id (keys: {keys})")
    if not isinstance(polling_url, str) or not polling_url:
        raise UnusableAnswer(
            f"BFL accepted job {job_id} without a polling_url, so it cannot be followed",
            hints=(f"job {job_id} at bfl was submitted and may still finish (and be billed).",),
        )
    return job_id, polling_url


def same_site(url: str, base_url: str) -> bool:
    """Whether ``url`` is on base_url's host or its domain (``api.us1.bfl.ai`` for ``api.bfl.ai``),
    with base_url's scheme and port (another port of the same host is another server)."""
    there, here = urlsplit(url), urlsplit(base_url)
    host, base = (there.hostname or "").lower(), (here.hostname or "").lower()
    if not host or not base or there.scheme.lower() != here.scheme.lower():
        return False
    try:
        defaults = {"http": 80, "https": 443}
        if (there.port or defaults.get(there.scheme)) != (here.port or defaults.get(here.scheme)):
            return False
    except ValueError:  # a port out of range
        return False
    if host == base:
        return True
    try:
        ipaddress.ip_address(base.strip("[]"))
        return False  # an address has no domain: only the same host
    except ValueError:
        pass
    labels = base.split(".")
    if len(labels) < 2:
        return False
    domain = ".".join(labels[-2:])
    return host == domain or host.endswith("." + domain)


def job_status(document: Any, job: Pending) -> str:
    """The ``status`` of a polling answer."""
    status = document.get("status") if isinstance(document, dict) else None
    if not isinstance(status, str) or not status.strip():
        raise UnusableAnswer(f"BFL answered the poll of job {job.job_id} without a status")
    return one_line(status)


def ready_answer(document: dict[str, Any], job: Pending) -> Answer:
    """The signed ``result.sample`` URL (the core fetches it at once, without the key), and the seed."""
    result = document.get("result")
    sample = result.get("sample") if isinstance(result, dict) else None
    if not isinstance(sample, str) or not sample:
        raise UnusableAnswer(f"BFL said job {job.job_id} is Ready but sent no result.sample URL")
    extras: dict[str, Any] = {"job_id": job.job_id}
    seed = result.get("seed") if isinstance(result, dict) else None
    if isinstance(seed, int) and not isinstance(seed, bool):
        extras["seed"] = seed
    return Answer([ImageRef(url=sample)], extras=extras)


def moderated_message(status: str, document: Any) -> str:
    """What was flagged, and when: before generating (the request) or after (the image)."""
    what = (
        "the prompt or an input image before generating"
        if status == "Request Moderated"
        else "the generated image"
    )
    reason = reason_of(document)
    message = f"{status}: BFL's moderation flagged {what}, not billed" + (f" ({reason})" if reason else "")
    return message + "; the profile key safety_tolerance (0 strict to 5 permissive) sets how strict"


def reason_of(document: Any) -> str:
    """The provider's own words about a failed or moderated job (``error``, ``details`` ...)."""
    fields = document if isinstance(document, dict) else {}
    for key in ("error", "details", "message", "detail"):
        text = text_of(fields.get(key))
        if text:
            return one_line(text)
    return ""


def detail_text(detail: Any) -> str:
    """FastAPI's ``detail``: a sentence, or a list of ``{"loc", "msg"}`` (``width: must be ...``)."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                loc = [str(part) for part in item.get("loc") or [] if part != "body"]
                parts.append(f"{'.'.join(loc)}: {item['msg']}" if loc else item["msg"])
        return "; ".join(parts)
    return text_of(detail)


def text_of(value: Any) -> str:
    """A provider value as text: strings as they are, lists and objects flattened."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(filter(None, (text_of(item) for item in value)))
    if isinstance(value, dict):
        return "; ".join(f"{key}: {text_of(item)}" for key, item in value.items() if text_of(item))
    return str(value)


def one_line(text: str) -> str:
    """``text`` on one line and at most 300 characters, for a one-line error message."""
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."
