"""The dispatcher: config profile -> adapter -> request -> send -> decode -> files -> Result.

Everything here is provider-neutral; what differs between providers is asked of the adapter.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import plugins
from .adapter import Adapter, Answer, HttpRequest, Transport
from .config import COMMON_KEYS, Profile, load_profile
from .deadline import Deadline
from .download import DEFAULT_MAX_BYTES, download
from .errors import ConfigError, ImagegateError, ImageNotSaved, UnusableAnswer, UsageError
from .http import check_endpoint, iter_body, new_session, send
from .inputs import check_inputs, check_options
from .jsonstream import InvalidAnswer, parse
from .options import MASK, STREAM, Options
from .output import OutputPlan, base_path
from .progress import Progress
from .result import DryRun, Image, Result
from .retry import DEFAULT_MAX_WAIT, DEFAULT_RETRIES, Limiter, RetryPolicy
from .schema import validate
from .secret import REDACTED, redact, redact_headers
from .sniff import sniff
from .spool import MemorySpool, Spool
from .streaming import Partials, is_event_stream, receive

Notify = Callable[[str], None]


@dataclass
class Call:
    """One resolved call: the profile, its adapter and the request it will send."""

    profile: Profile
    adapter: Adapter
    options: Options
    request: HttpRequest
    warnings: list[str] = field(default_factory=list)
    transport: Transport | None = None  # the adapter's, asked for once

    @property
    def model(self) -> str:
        return self.adapter.model_for(self.options)


def resolve_adapter(config: Any, profile_name: str | None, provider: str | None) -> tuple[Profile, Adapter]:
    """Load the profile, choose its adapter and validate the profile against the adapter's schema."""
    profile = load_profile(config, profile_name, provider, required=False)
    name = profile.provider or plugins.default_provider()
    record = plugins.get_provider(name)
    profile.provider = name
    schema = record.adapter.config_schema()
    validate(
        {**profile.settings, **({"api_key": REDACTED} if profile.api_key else {})},
        schema,
        profile.label,
        profile.json_prefix,
    )
    if record.adapter.needs_key and profile.api_key is None:
        if profile.source is None:
            raise ConfigError(
                f"provider {name!r} needs an API key, and there is no config file at {_default_path(config)}",
                hints=("Create it in your own terminal with: imagegate config init", *_keyless_hint()),
            )
        raise ConfigError(
            f"config {profile.label} has no api_key", hints=("Run: imagegate config init --force",)
        )
    return profile, record.adapter(profile)


def _keyless_hint() -> list[str]:
    """Point at the installed providers that need no key, so a first run can still try something."""
    names = sorted(name for name, record in plugins.providers().items() if not record.adapter.needs_key)
    return [f"Or try a provider that needs no key first: --provider {names[0]}"] if names else []


def prepare(
    options: Options, config: Any = None, profile: str | None = None, provider: str | None = None
) -> Call:
    """Everything up to the request, with every check that can be made before paying."""
    resolved, adapter = resolve_adapter(config, profile, provider)
    options = options.resolved(resolved.settings)
    check_options(options)
    warnings = _unknown_keys(resolved, adapter)
    needed = options.operation
    if not adapter.supports(needed):
        raise UsageError(f"provider {resolved.provider!r} cannot {needed} images")
    if options.mask is not None and not adapter.supports(MASK):
        raise UsageError(f"provider {resolved.provider!r} does not accept a --mask")
    # A provider that cannot stream makes a normal call, with a notice
    if options.stream and not adapter.supports(STREAM):
        warnings.append(f"provider {resolved.provider!r} cannot stream; making a normal call instead")
        options = options.with_changes(stream=False, partial_images=None)
    check_inputs(options)
    warnings += adapter.check(options)
    request = adapter.build_request(options)
    transport = adapter.transport()
    check_endpoint(request.url, frozenset(transport.schemes if transport else ()))
    return Call(resolved, adapter, options, request, warnings, transport)


def dry_run(call: Call, plan: OutputPlan | None) -> DryRun:
    """Describe the request without sending it; the key never appears."""
    request = call.request
    headers = redact_headers(request.headers, request.secret_headers)
    body = dict(request.json) if request.json is not None else dict(request.form)
    files = [
        {"field": part.field, "path": str(part.path), "content_type": part.content_type}
        for part in request.files
    ]
    outputs = [str(plan.path_for(i)) for i in range(plan.count)] if plan else []
    return DryRun(
        call.profile.provider or "",
        call.model,
        request.method,
        redact(request.url),
        headers,
        body,
        files,
        outputs,
        list(call.warnings),
    )


def execute(
    call: Call,
    plan: OutputPlan | None,
    *,
    limiter: Limiter | None = None,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> Result:
    """Send the call, decode the answer and save (or keep) the images."""
    options, adapter, profile = call.options, call.adapter, call.profile
    deadline = Deadline(options.timeout)
    policy = RetryPolicy(
        retries=DEFAULT_RETRIES if options.retries is None else options.retries,
        max_wait=float(profile.settings.get("max_retry_wait", DEFAULT_MAX_WAIT)),
    )
    if plan is not None:
        plan.preflight()
    progress = progress or Progress.silent()
    partials = Partials(plan, options.partial_images or 0, progress.note)
    if call.request.stream:
        partials.preflight()
    waiting = progress.waiting() if not call.request.stream else contextlib.nullcontext()
    spools: list[Spool] = []

    def new_spool() -> Spool:
        spool = plan.new_spool(len(spools)) if plan is not None else MemorySpool()
        spools.append(spool)
        return spool

    with new_session(call.transport) as session, waiting:
        response = send(session, call.request, adapter, deadline, policy, limiter, notify)
        request_id = response.headers.get("x-request-id")
        headers = dict(response.headers)
        try:
            answer = _receive(call, response, deadline, new_spool, headers, partials)
            try:
                _fetch_urls(answer, new_spool, deadline, profile, adapter)
            except ImagegateError as exc:
                kept, _ = _keep(_arrived(answer), plan)  # what arrived was paid for: keep it
                raise _with_kept(exc, kept) from None
            images, problems = _keep(_arrived(answer), plan)
            if problems:
                raise _with_kept(problems[0], images, problems[1:])
        finally:
            for spool in spools:
                spool.discard()  # no-op for committed images; removes anything unfinished
    revised = next((ref.revised_prompt for ref in answer.images if ref.revised_prompt), None)
    warnings = call.warnings + partials.warnings + (plan.warnings if plan else [])
    result = Result(
        images,
        profile.provider or "",
        call.model,
        answer.usage,
        revised,
        request_id,
        deadline.elapsed(),
        warnings,
        answer.extras,
    )
    result.partials = partials.saved
    result.note_missing_alpha(options.background)
    return result


def _receive(
    call: Call,
    response: Any,
    deadline: Deadline,
    new_spool: Callable[[], Spool],
    headers: dict[str, str],
    partials: Partials,
) -> Answer:
    """Decode the answer: server-sent events when the call streamed, else the one JSON document."""
    if not (call.request.stream and is_event_stream(headers)):
        return _decode(call.adapter, response, deadline, new_spool, headers)
    chunks = iter_body(response, deadline, "reading the stream")
    return receive(call.adapter, chunks, deadline, new_spool, partials, call.options.n or 1)


def _decode(
    adapter: Adapter,
    response: Any,
    deadline: Deadline,
    new_spool: Callable[[], Spool],
    headers: dict[str, str],
) -> Answer:
    try:
        document = parse(iter_body(response, deadline), adapter.b64_fields, new_spool)
    except InvalidAnswer as exc:
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        raise UnusableAnswer(
            f"the provider answered HTTP {response.status_code} ({kind}), which is {exc}",
            hints=("Check base_url: it should be the API root, such as https://host/v1.",),
        ) from None
    answer = adapter.decode(document, headers)
    if not answer.images:
        raise UnusableAnswer("the provider's answer holds no image")
    return answer


def _fetch_urls(
    answer: Answer, new_spool: Callable[[], Spool], deadline: Deadline, profile: Profile, adapter: Adapter
) -> None:
    cap = int(profile.settings.get("download_max_bytes", DEFAULT_MAX_BYTES))
    for ref in answer.images:
        if ref.data is None and ref.url:
            spool = new_spool()
            download(ref.url, spool, deadline=deadline, max_bytes=cap, base_url=adapter.base_url)
            ref.data = spool


def _arrived(answer: Answer) -> list[Spool]:
    """The spools of images that arrived whole (decoded, or downloaded to the end), in order."""
    return [ref.data for ref in answer.images if isinstance(ref.data, Spool)]


def _keep(spools: list[Spool], plan: OutputPlan | None) -> tuple[list[Image], list[ImagegateError]]:
    """Save (or keep in memory) every real image; report the others without losing the good ones."""
    images: list[Image] = []
    problems: list[ImagegateError] = []
    for position, spool in enumerate(spools, start=1):
        info = sniff(spool.head)
        if info is None:
            spool.discard()
            problems.append(
                UnusableAnswer(
                    f"image {position} in the answer is not a PNG, JPEG, WebP or GIF "
                    f"(starts with {spool.head[:8]!r})"
                )
            )
        elif plan is None:
            images.append(Image(info, spool.size, None, spool))
        else:
            try:
                path, info = plan.commit(spool, len(images))  # type: ignore[arg-type]
            except ImageNotSaved as exc:
                problems.append(exc)
            else:
                images.append(Image(info, spool.size, path))
    return images, problems


def _with_kept(
    error: ImagegateError, kept: list[Image], others: list[ImagegateError] | tuple = ()
) -> ImagegateError:
    """The error, with hints naming the images that were saved anyway and any further problems."""
    hints = [*error.hints, *(f"also: {other.message}" for other in others)]
    saved = [str(image.path) for image in kept if image.path is not None]
    if saved:
        hints.append(f"The images that did arrive were saved: {', '.join(saved)}")
    error.hints = tuple(hints)
    return error


def _unknown_keys(profile: Profile, adapter: Adapter) -> list[str]:
    known = set(COMMON_KEYS) | set(adapter.config_schema().get("properties", {}))
    unknown = sorted(key for key in profile.settings if key not in known)
    if not unknown:
        return []
    return [
        f"config {profile.label}: unknown key(s) {', '.join(unknown)} "
        f"for provider {profile.provider!r} (ignored)"
    ]


def _default_path(config: Any) -> str:
    from .config import resolve_path

    return os.fspath(resolve_path(config))


def run(
    options: Options,
    *,
    config: Any = None,
    profile: str | None = None,
    provider: str | None = None,
    out: Any = None,
    to_files: bool = True,
    force: bool = False,
    dry_run_only: bool = False,
    limiter: Limiter | None = None,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> Result | DryRun:
    """The whole path for one call: the CLI, the library and batch all come through here."""
    call = prepare(options, config, profile, provider)
    options = call.options
    plan = OutputPlan(base_path(out, options.output_format), options.n, force) if to_files else None
    if dry_run_only:
        return dry_run(call, plan)
    return execute(call, plan, limiter=limiter, notify=notify, progress=progress)
