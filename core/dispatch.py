"""The dispatcher: config profile -> adapter -> request -> send -> decode -> files -> Result.

Everything here is provider-neutral; what differs between providers is asked of the adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import exchange, plugins
from .adapter import Adapter, Answer, HttpRequest, Transport
from .addresses import check_endpoint
from .config import COMMON_KEYS, Profile, config_command, init_hint, load_profile, resolve_path
from .deadline import Deadline
from .download import download
from .errors import ConfigError, ImagegateError, ImageNotSaved, Interrupted, UnusableAnswer, UsageError
from .inputs import check_inputs
from .options import MASK, STREAM, Asked, Options, check
from .output import OutputPlan, base_path
from .progress import Progress
from .result import DryRun, Image, Result
from .retry import DEFAULT_RETRIES, Limiter, RetryPolicy
from .schema import validate
from .secret import REDACTED, redact, redact_data, redact_headers
from .sniff import require_image, sniff
from .spool import MemorySpool, Spool
from .streaming import Partials, receive
from .transport import Transports

Notify = Callable[[str], None]


@dataclass
class Call:
    """One resolved call: the profile, its adapter and the request it will send."""

    adapter: Adapter
    options: Options
    request: HttpRequest
    warnings: list[str] = field(default_factory=list)
    transport: Transport | None = None  # the adapter's, asked for once

    @property
    def profile(self) -> Profile:
        """The profile the adapter was made with."""
        return self.adapter.profile

    @property
    def model(self) -> str:
        return self.adapter.model_for(self.options)


def resolve_adapter(config: Any, profile_name: str | None, provider: str | None) -> tuple[Profile, Adapter]:
    """Load the profile, choose its adapter and validate the profile against the adapter's schema."""
    profile = load_profile(config, profile_name, provider, required=False)
    name = profile.provider or plugins.default_provider()
    record = plugins.get_provider(name)
    profile = replace(profile, provider=name)
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
                f"provider {name!r} needs an API key, and there is no config file at {resolve_path(config)}",
                hints=(init_hint(resolve_path(config)), *_keyless_hint()),
            )
        raise ConfigError(
            f"config {profile.label} has no api_key",
            hints=(
                "Run: "
                + config_command(
                    profile.source, f"init{f' --profile {profile.name}' if profile.name else ''} --force"
                ),
            ),
        )
    return profile, record.adapter(profile)


def _keyless_hint() -> list[str]:
    """Point at the installed providers that need no key, so a first run can still try something."""
    names = sorted(name for name, record in plugins.providers().items() if not record.adapter.needs_key)
    return [f"Or try a provider that needs no key first: --provider {names[0]}"] if names else []


def prepare(
    asked: Asked, config: Any = None, profile: str | None = None, provider: str | None = None
) -> Call:
    """Everything up to the request, with every check that can be made before paying."""
    resolved, adapter = resolve_adapter(config, profile, provider)
    options = asked.resolved(resolved.settings)
    check(options)
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
    return Call(adapter, options, request, warnings, transport)


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
    deadline = Deadline(call.options.timeout)
    if plan is not None:
        plan.preflight()
    progress = progress or Progress.silent()
    partials = Partials(plan, call.options.partial_images or 0, progress.note)
    if call.request.stream:
        partials.preflight()
    spools = _Spools(plan)
    with Transports(call.transport) as transports:
        try:
            answer, images, request_id = _save(
                call, transports, deadline, spools, partials, limiter, notify, progress
            )
        finally:
            spools.discard()  # no-op for committed images; removes anything unfinished
    return _result(call, answer, images, request_id, deadline.elapsed(), partials, plan)


def _save(
    call: Call,
    transports: Transports,
    deadline: Deadline,
    spools: _Spools,
    partials: Partials,
    limiter: Limiter | None,
    notify: Notify | None,
    progress: Progress,
) -> tuple[Answer, list[Image], str | None]:
    """Send and read the answer, download its URL images, and save (or keep) every image that arrived.

    What arrived whole was paid for, so it is kept whatever stops the call (another image's
    failure, Ctrl-C, SIGTERM); the error raised names where it went.
    """
    try:
        received = exchange.run(
            call.adapter,
            call.request,
            transports=transports,
            deadline=deadline,
            policy=_retry_policy(call),
            new_spool=spools.new,
            read_stream=lambda chunks: receive(
                call.adapter, chunks, deadline, spools.new, partials, call.options.n or 1
            ),
            limiter=limiter,
            notify=notify,
            progress=progress,
        )
        answer = received.answer
        spools.finish()
        _fetch_urls(answer, spools, deadline, call.profile, call.adapter, transports)
    except (ImagegateError, KeyboardInterrupt) as exc:
        raise _with_kept(exc, *_keep(spools.finished(), spools.plan)) from None
    images, problems = _keep(_arrived(answer), spools.plan)
    if problems:
        raise _with_kept(problems[0], images, problems[1:])
    return answer, images, received.request_id


def _retry_policy(call: Call) -> RetryPolicy:
    """Retries from --retries (or the default), the longest wait from the profile's ``max_retry_wait``."""
    retries = call.options.retries
    return RetryPolicy(
        retries=DEFAULT_RETRIES if retries is None else retries,
        max_wait=call.profile.max_retry_wait,
    )


class _Spools:
    """The spools of one call: temp files beside the output (or memory), discarded if unfinished.

    Images arrive one after another, so starting a spool means the one before it is complete.
    """

    def __init__(self, plan: OutputPlan | None) -> None:
        self.plan = plan
        self.made: list[Spool] = []

    def new(self) -> Spool:
        self.finish()
        spool = self.plan.new_spool(len(self.made)) if self.plan is not None else MemorySpool()
        self.made.append(spool)
        return spool

    def finish(self) -> None:
        """Mark every spool so far complete (the answer was read to its end, or a next image began)."""
        for spool in self.made:
            spool.complete = True

    def finished(self) -> list[Spool]:
        """The complete spools that hold an image with a readable header: worth keeping after a failure."""
        return [spool for spool in self.made if spool.complete and _readable(spool.head)]

    def discard(self) -> None:
        for spool in self.made:
            spool.discard()


def _result(
    call: Call,
    answer: Answer,
    images: list[Image],
    request_id: str | None,
    seconds: float,
    partials: Partials,
    plan: OutputPlan | None,
) -> Result:
    revised = next((ref.revised_prompt for ref in answer.images if ref.revised_prompt), None)
    warnings = call.warnings + partials.warnings + (plan.warnings if plan else [])
    result = Result(  # what the provider said is scrubbed of the key, in case it echoed it
        images,
        call.profile.provider or "",
        call.model,
        redact_data(answer.usage),
        redact_data(revised),
        redact_data(request_id),
        seconds,
        warnings,
        redact_data(answer.extras),
        partials.saved,
    )
    result.note_missing_alpha(call.options.background)
    return result


def _fetch_urls(
    answer: Answer,
    spools: _Spools,
    deadline: Deadline,
    profile: Profile,
    adapter: Adapter,
    transports: Transports,
) -> None:
    cap = profile.download_max_bytes
    for ref in answer.images:
        if ref.data is None and ref.url:
            spool = spools.new()
            download(
                ref.url,
                spool,
                deadline=deadline,
                max_bytes=cap,
                base_url=adapter.base_url,
                transports=transports,
            )
            ref.data = spool
            spool.complete = True


def _readable(head: bytes) -> bool:
    info = sniff(head)
    return info is not None and info.width is not None


def _arrived(answer: Answer) -> list[Spool]:
    """The spools of images that arrived whole (decoded, or downloaded to the end), in order."""
    return [ref.data for ref in answer.images if isinstance(ref.data, Spool)]


def _keep(spools: list[Spool], plan: OutputPlan | None) -> tuple[list[Image], list[ImagegateError]]:
    """Save (or keep in memory) every real image; report the others without losing the good ones.

    Each real image takes the next name (``out.png``, ``out-2.png``), also one that had to be rescued.
    """
    images: list[Image] = []
    problems: list[ImagegateError] = []
    slot = 0
    for position, spool in enumerate(spools, start=1):
        try:
            info = require_image(spool.head, f"image {position} in the answer", UnusableAnswer)
        except UnusableAnswer as exc:
            spool.discard()
            problems.append(exc)
            continue
        slot += 1
        if plan is None:
            images.append(Image(info, spool.size, None, spool))
            continue
        try:
            path, info = plan.commit(spool, slot - 1, info)  # type: ignore[arg-type]
        except ImageNotSaved as exc:
            problems.append(exc)  # the image was rescued elsewhere: the error says where
        else:
            images.append(Image(info, spool.size, path))
    return images, problems


def _with_kept(
    error: BaseException, kept: list[Image], others: list[ImagegateError] | tuple = ()
) -> ImagegateError | Interrupted:
    """The error, with hints naming the images that were saved anyway and any further problems.

    Ctrl-C (or SIGTERM) comes back as :class:`Interrupted`, which carries the same hints.
    """
    if not isinstance(error, (ImagegateError, Interrupted)):
        error = Interrupted()
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


def run(
    asked: Asked,
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
    call = prepare(asked, config, profile, provider)
    options = call.options
    plan = (
        OutputPlan(base_path(out, options.output_format, count=options.n), options.n, force)
        if to_files
        else None
    )
    if dry_run_only:
        return dry_run(call, plan)
    return execute(call, plan, limiter=limiter, notify=notify, progress=progress)
