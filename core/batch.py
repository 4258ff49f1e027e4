"""Many image calls at the provider's pace: concurrency, one shared limiter, a resumable manifest.

Checked jobs (see :mod:`imagegate.jobs`) run ``concurrency`` at a time;
they share one :class:`~imagegate.pacing.Pacer` per profile, so a 429 seen by one job slows all of them. Each
finished job is recorded at once, atomically, in a manifest in the output folder; running the
same batch again skips what the manifest says is done, so a crash loses nothing that was paid for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from . import spend
from .budget import OverBudget
from .dispatch import execute
from .errors import ImagegateError, internal_error
from .jobs import Job, JobResult, Planned, defaults_from_keywords, make_job, plan_jobs
from .manifest import MANIFEST_NAME as MANIFEST_NAME  # re-exported: the batch command names it
from .manifest import Manifest as Manifest
from .pacing import Concurrency, Rate, parse_rate
from .pacing import Pacer as Limiter
from .progress import Notify

DEFAULT_CONCURRENCY = 4


def run_jobs(
    todo: list[Planned],
    manifest: Manifest,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    fail_fast: bool = False,
    limiter: Limiter | None = None,
    notify: Notify | None = None,
) -> Iterator[JobResult]:
    """Run the jobs ``concurrency`` at a time and yield each result as it finishes.

    After a failure with ``fail_fast``, or a first Ctrl-C, no new job starts; jobs already in
    flight still finish and are recorded (they may be paid for), the rest come back as
    ``not run``, and then the KeyboardInterrupt goes on. A second Ctrl-C stops waiting: the jobs
    still in flight come back as failed (they go on, and are recorded if they finish), then the
    rest as ``not run``.
    """
    gate = Concurrency(concurrency)
    pacers = _Pacers(gate, limiter)
    queue = iter(todo)
    stopped = abandoned = False
    interrupted: BaseException | None = None  # the first Ctrl-C or SIGTERM, raised again at the end
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="imagegate-batch")
    running: dict[Future[JobResult], Planned] = {}
    try:
        while True:
            while not stopped and len(running) < gate.limit:
                item = next(queue, None)
                if item is None:
                    break
                try:
                    pacer, reservation = _start(item, pacers)
                except OverBudget as exc:  # the cap is reached: this job and the rest are not run
                    stopped, queue = True, _not_started(item, queue, exc.message)
                    break
                running[pool.submit(_run_one, item, manifest, pacer, reservation, notify)] = item
            if not running:
                break
            try:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt as exc:
                if interrupted is not None:
                    abandoned = True  # stop waiting: the summary comes now
                    yield from _abandoned(running, queue)
                    raise
                stopped, interrupted = True, exc
                if notify is not None:
                    notify(f"interrupted: the {len(running)} job(s) in flight finish first (maybe paid for)")
                continue
            for future in finished:
                del running[future]
                result = future.result()
                stopped = stopped or (fail_fast and not result.ok)
                yield result
    finally:
        pool.shutdown(wait=not abandoned)
    for item in queue:
        yield item if isinstance(item, JobResult) else JobResult(item.job, "not run")
    if interrupted is not None:
        raise interrupted


class _Pacers:
    """One pacer per profile (its key's rate limits), all sharing the batch's concurrency; or the caller's."""

    def __init__(self, gate: Concurrency, given: Limiter | None) -> None:
        self.gate, self.given = gate, given
        self.made: dict[tuple[str, str], Limiter] = {}
        if given is not None and given.concurrency is None:
            given.concurrency = gate

    def of(self, item: Planned) -> Limiter:
        if self.given is not None:
            return self.given
        profile = item.call.profile
        key = (profile.label, profile.provider or "")
        if key not in self.made:
            self.made[key] = Limiter(_rate_of(profile.settings), concurrency=self.gate)
        return self.made[key]


def _rate_of(settings: dict[str, Any]) -> Rate | None:
    """The profile's ``rate_limit`` (the schema has checked its form)."""
    text = settings.get("rate_limit")
    try:
        return parse_rate(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _start(item: Planned, pacers: _Pacers) -> tuple[Limiter, int]:
    """The job's pacer, and its budget reservation: checked (counting the jobs in flight) before it starts."""
    call = item.call
    return pacers.of(item), spend.reserve(
        call.profile, call.model, spend.estimate(call.adapter, call.options)
    )


def _not_started(first: Planned, rest: Iterator[Planned], reason: str) -> Iterator[Any]:
    """The jobs a budget stopped: each ``not run``, with the reason (exit 2: nothing was sent)."""
    for item in (first, *rest):
        yield JobResult(item.job, "not run", error=reason, exit_code=2)


def _abandoned(running: dict[Future[JobResult], Planned], queue: Iterator[Planned]) -> Iterator[JobResult]:
    """After a second Ctrl-C: the results that are in, the jobs still in flight, the jobs never started."""
    for future, item in running.items():
        if future.done():
            yield future.result()
        else:
            yield JobResult(
                item.job,
                "failed",
                error="interrupted while in flight: it may be paid for; it is recorded in the manifest "
                "if it finishes before imagegate exits",
                exit_code=130,
            )
    for item in queue:
        yield JobResult(item.job, "not run")


def _run_one(
    item: Planned, manifest: Manifest, limiter: Limiter, reservation: int, notify: Notify | None = None
) -> JobResult:
    try:
        return _run_paced(item, manifest, limiter, notify)
    finally:
        spend.GUARD.release(reservation)  # its ledger line (if it was paid) is written by now


def _run_paced(item: Planned, manifest: Manifest, limiter: Limiter, notify: Notify | None) -> JobResult:
    started = time.monotonic()
    tell = None if notify is None else lambda text: notify(f"{item.job.where}: {text}")
    try:
        result = execute(item.call, item.plan, limiter=limiter, notify=tell, budget_checked=True)
    except ImagegateError as exc:
        seconds = time.monotonic() - started
        return JobResult(  # the hints name images that were kept and links to paid ones
            item.job,
            "failed",
            error=exc.message,
            exit_code=exc.exit_code,
            seconds=seconds,
            warnings=list(exc.hints),
        )
    except Exception as exc:  # a bug: this job fails, the batch goes on
        return JobResult(
            item.job, "failed", error=internal_error(exc), exit_code=1, seconds=time.monotonic() - started
        )
    paths = [str(path) for path in result.output_paths]
    warnings = list(result.warnings)
    failure = manifest.record(item.key, item.job, paths)
    if failure is not None:
        warnings.append(
            f"saved, but not recorded in the manifest {manifest.path} ({failure}): a rerun would see "
            "its images as existing files; move them elsewhere (or drop the job) before running again"
        )
    return JobResult(item.job, "ok", paths, seconds=time.monotonic() - started, warnings=warnings)


def _closing(results: Iterator[JobResult], manifest: Manifest) -> Iterator[JobResult]:
    """``results``, then the folder's lock released (also when the caller stops early)."""
    try:
        yield from results
    finally:
        manifest.close()


def run_batch(
    jobs: Iterable[str | dict[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    force: bool = False,
    fail_fast: bool = False,
    limiter: Limiter | None = None,
    remote: bool = False,
    wait: bool = True,
    cancel: bool = False,
    **defaults: Any,
) -> Iterator[JobResult]:
    """Check every job now, then return an iterator of results in the order they finish.

    ``remote`` runs them on the provider's batch engine (``wait=False``: submit only, the jobs
    come back ``submitted``; ``cancel``: cancel the folder's unfinished remote batches).
    The folder stays locked against another batch until the iterator is finished (or dropped).
    """
    base = defaults_from_keywords(defaults)
    folder = Path(out_dir).expanduser().absolute()
    made = [make_job(value, Job(number, number, base.options), base) for number, value in enumerate(jobs, 1)]
    manifest = Manifest(folder / MANIFEST_NAME)
    try:
        todo, skipped = plan_jobs(made, folder, manifest, force)
    except BaseException:
        manifest.close()
        raise
    if remote or cancel:
        from .remote import run_remote

        return _closing(run_remote(todo, skipped, manifest, wait=wait, cancel=cancel), manifest)

    def results() -> Iterator[JobResult]:
        try:
            yield from skipped
            yield from run_jobs(todo, manifest, concurrency=concurrency, fail_fast=fail_fast, limiter=limiter)
        finally:
            manifest.close()

    return results()
