"""The dispatcher, orchestration only: prepare -> dry_run | execute -> Result.

``prepare`` binds the profile to its adapter (plugins.bind) and makes every check that can be
made before paying; ``execute`` sends the request and reads the answer into spools (one
function, ``_exchange``), then keep.Spools keeps what was paid for. Everything here is
provider-neutral; what differs between providers is asked of the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import exchange, plugins, spend
from .adapter import Adapter, Answer, HttpRequest, Transport
from .addresses import check_endpoint
from .config import Profile
from .deadline import Deadline
from .download import download
from .errors import ImagegateError, UsageError
from .inputs import check_inputs
from .keep import Previews, Spools, named_interruption
from .option_values import check
from .options import MASK, STREAM, Asked, Options
from .output import OutputPlan, base_path
from .pacing import Pacer as Limiter
from .progress import Notify, Progress
from .result import DryRun, Image, Result
from .retry import DEFAULT_RETRIES, RetryPolicy
from .routing import Transports
from .secret import redact, redact_data, redact_headers
from .spool import signals_held
from .streaming import receive


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


def prepare(
    asked: Asked, config: Any = None, profile: str | None = None, provider: str | None = None
) -> Call:
    """Everything up to the request, with every check that can be made before paying."""
    adapter = plugins.bind(config, profile, provider)
    resolved = adapter.profile
    options = asked.resolved(resolved.settings)
    check(options)
    warnings = plugins.unknown_keys(adapter)
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
    body = _abridged(dict(request.json) if request.json is not None else dict(request.form))
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
        spend.estimate(call.adapter, call.options),
    )


#: Longer strings in a dry run's body (inline images as base64 or data URLs) are shown by their start.
SHOWN_CHARACTERS = 1024


#: Containers nested deeper than this in a dry run's body are shown as a note (the request is sent whole).
SHOWN_DEPTH = 32


def _abridged(value: Any, depth: int = 0) -> Any:
    """The body with each very long string cut to its start and its length, so a dry run stays readable."""
    if isinstance(value, (dict, list)) and depth >= SHOWN_DEPTH:
        return f"(nested deeper than {SHOWN_DEPTH} levels, not shown)"
    if isinstance(value, dict):
        return {key: _abridged(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_abridged(item, depth + 1) for item in value]
    if isinstance(value, str) and len(value) > SHOWN_CHARACTERS:
        return f"{value[:64]}... ({len(value)} characters in all, not shown)"
    return value


def execute(
    call: Call,
    plan: OutputPlan | None,
    *,
    limiter: Limiter | None = None,
    notify: Notify | None = None,
    progress: Progress | None = None,
    budget_checked: bool = False,
) -> Result:
    """Send the call, read the answer and save (or keep) the images; the paid call goes in the ledger.

    What arrived whole was paid for, so it is kept whatever stops the call (another image's
    failure, Ctrl-C, SIGTERM); the error raised names where it went. A call whose estimate would
    take its profile past a budget is refused first (``budget_checked``: a batch did that).
    """
    deadline = Deadline(call.options.timeout)
    if plan is not None:
        plan.preflight()
    with spend.within_budget(
        call.profile, call.model, spend.estimate(call.adapter, call.options), checked=budget_checked
    ):
        return _send(call, plan, deadline, limiter, notify, progress)


def _send(
    call: Call,
    plan: OutputPlan | None,
    deadline: Deadline,
    limiter: Limiter | None,
    notify: Notify | None,
    progress: Progress | None,
) -> Result:
    progress = progress or Progress.silent()
    previews = Previews(plan, call.options.partial_images or 0, progress.note)
    if call.request.stream:
        previews.preflight()
    spools = Spools(plan, call.options.n or 1)  # at most --n images are kept
    failed = True
    try:
        try:
            answer, request_id = _exchange(call, deadline, spools, previews, progress, limiter, notify)
        except (ImagegateError, KeyboardInterrupt) as exc:
            error = spools.keep_after(exc)
            if spools.kept:  # images that arrived whole were paid for: the call goes in the ledger too
                with signals_held(deliver=False):
                    _record_kept(call, spools.kept)
            raise error from None
        images: list[Image] = []
        try:
            with signals_held():  # quick, and must not be cut: the images saved, the paid call recorded
                images = spools.keep(answer)
                result = _result(
                    call, answer, images, request_id, deadline.elapsed(), previews, plan, spools.warnings
                )
                _record(call, result)
        except KeyboardInterrupt as exc:  # it waited for the above: the images are named
            raise named_interruption(exc, [image.path for image in images if image.path]) from None
        failed = False
    finally:
        spools.discard_after(failed)  # no-op for committed images; removes anything unfinished
    return result


def _exchange(
    call: Call,
    deadline: Deadline,
    spools: Spools,
    previews: Previews,
    progress: Progress,
    limiter: Limiter | None,
    notify: Notify | None,
) -> tuple[Answer, str | None]:
    """Send the request and read the answer into ``spools``: every image of the answer is in one.

    Polls while the provider answers later, and downloads URL images without credentials.
    Returns the answer and the provider's request id.
    """
    with Transports(call.transport, max_body_bytes=call.profile.answer_max_bytes) as transports:
        received = exchange.run(
            call.adapter,
            call.request,
            transports=transports,
            deadline=deadline,
            policy=_retry_policy(call),
            new_spool=spools.new,
            read_stream=lambda chunks: receive(
                call.adapter,
                chunks,
                deadline,
                spools.new,
                call.options.n or 1,
                on_partial=previews.save,
                on_failure=previews.name_in,
                notify=progress.note,
                warn=previews.warnings.append,
            ),
            limiter=limiter,
            notify=notify,
            progress=progress,
        )
        spools.finish()
        _fetch_urls(received.answer, spools, deadline, call.profile, call.adapter, transports)
    return received.answer, received.request_id


def _retry_policy(call: Call) -> RetryPolicy:
    """Retries from --retries (or the default), the longest wait from the profile's ``max_retry_wait``."""
    retries = call.options.retries
    return RetryPolicy(
        retries=DEFAULT_RETRIES if retries is None else retries,
        max_wait=call.profile.max_retry_wait,
    )


def _record_kept(call: Call, images: list[Image]) -> None:
    """The ledger line of a call that failed or was stopped after some of its images were saved."""
    spend.record(
        call.profile,
        call.model,
        call.options,
        images=len(images),
        usage=None,
        cost=spend.estimate(call.adapter, call.options),
        request_id=None,
        paths=[image.path for image in images if image.path is not None],
    )


def _record(call: Call, result: Result) -> None:
    """The call's cost (from its usage when given) on the result and, with what it made, in the ledger."""
    result.estimated_cost_usd = spend.estimate(call.adapter, call.options, result.usage)
    warning = spend.record(
        call.profile,
        call.model,
        call.options,
        images=len(result.images),
        usage=result.usage,
        cost=result.estimated_cost_usd,
        request_id=result.request_id,
        paths=result.output_paths,
    )
    if warning is not None:
        result.warnings.append(warning)


def _result(
    call: Call,
    answer: Answer,
    images: list[Image],
    request_id: str | None,
    seconds: float,
    previews: Previews,
    plan: OutputPlan | None,
    dropped: tuple[str, ...] | list[str] = (),
) -> Result:
    revised = next((ref.revised_prompt for ref in answer.images if ref.revised_prompt), None)
    warnings = call.warnings + previews.warnings + (plan.warnings if plan else []) + list(dropped)
    if len(images) < call.options.n:
        warnings.append(f"{call.options.n} images were asked for; {len(images)} arrived")
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
        previews.saved,
        redact_data(answer.text),
    )
    result.note_missing_alpha(call.options.background)
    return result


def _fetch_urls(
    answer: Answer,
    spools: Spools,
    deadline: Deadline,
    profile: Profile,
    adapter: Adapter,
    transports: Transports,
) -> None:
    cap = profile.download_max_bytes
    for ref in answer.images:
        if ref.data is None and ref.url:
            if spools.full:  # an image beyond --n: not fetched, not written
                spools.drop()
                continue
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
