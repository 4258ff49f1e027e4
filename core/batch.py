"""Many image calls at the provider's pace: concurrency, one shared limiter, a resumable manifest.

Checked jobs (see :mod:`imagegate.jobs`) run ``concurrency`` at a time;
they share one :class:`~imagegate.pacing.Pacer` per profile, so a 429 seen by one job slows all of them. Each
finished job is recorded at once, atomically, in a manifest in the output folder; running the
same batch again skips what the manifest says is done, so a crash loses nothing that was paid for.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from . import spend
from .batch_stop import GatedPlan, JobFiles, NotedSignals, noted_signals, stronger
from .budget import OverBudget
from .dispatch import execute
from .errors import EXIT_INTERRUPTED, ImagegateError, internal_error
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

    After a failure with ``fail_fast``, or a first Ctrl-C (or SIGTERM), no new job starts; jobs
    already in flight still finish and are recorded (they may be paid for), the rest come back as
    ``not run``, and then the KeyboardInterrupt goes on. A second one stops waiting: the jobs whose
    images are arriving save them first, the others are left (``failed``: they may be paid for,
    nothing of them is saved), so the results tell what the folder and the manifest hold.
    Until the iterator ends, the signals' handlers only note them (in the main thread): the
    batch acts on them between steps, never inside one.
    """
    with noted_signals() as signals:
        yield from _Batch(todo, manifest, concurrency, fail_fast, limiter, notify).run(signals)


#: How often the waiting batch looks at the signals its handlers noted.
POLL_SECONDS = 0.05


class _Batch:
    """One run of :func:`run_jobs`: the jobs in flight, the queue, and what the signals decided."""

    def __init__(
        self,
        todo: list[Planned],
        manifest: Manifest,
        concurrency: int,
        fail_fast: bool,
        limiter: Limiter | None,
        notify: Notify | None,
    ) -> None:
        self.gate = Concurrency(concurrency)
        self.pacers = _Pacers(self.gate, limiter)
        self.queue: Iterator[Any] = iter(todo)
        self.manifest, self.fail_fast, self.notify = manifest, fail_fast, notify
        self.files = JobFiles()
        self.running: dict[Future[JobResult], Planned] = {}
        self.stopped = False
        self.interrupted: KeyboardInterrupt | None = None  # the first Ctrl-C or SIGTERM, raised at the end

    def run(self, signals: NotedSignals) -> Iterator[JobResult]:
        try:
            while True:
                self._fill()
                if not self.running:
                    break
                for future in self._finished(self.running, signals):
                    yield self._result(future)
                if self._stop_waiting(signals):
                    yield from self._abandon(signals)
                    break
        finally:
            self._settle(signals)  # closed early: the jobs in flight (maybe paid for) still finish
        for item in self.queue:
            yield item if isinstance(item, JobResult) else JobResult(item.job, "not run")
        if self.interrupted is not None:
            raise self.interrupted

    def _fill(self) -> None:
        """Start jobs up to the concurrency, unless the batch stopped starting them."""
        while not self.stopped and len(self.running) < self.gate.limit:
            item = next(self.queue, None)
            if item is None:
                return
            try:
                pacer, reservation = _start(item, self.pacers)
            except OverBudget as exc:  # the cap is reached: this job and the rest are not run
                self.stopped, self.queue = True, _not_started(item, self.queue, exc.message)
                return
            args = (item, self.manifest, pacer, reservation, self.notify, self.files)
            self.running[_in_thread(_run_one, *args)] = item

    def _finished(self, futures: dict[Future[JobResult], Planned], signals: NotedSignals) -> set[Future[Any]]:
        """The futures done within a short wait (a KeyboardInterrupt raised meanwhile is noted)."""
        try:
            done, _ = wait(futures, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt as stop:  # raised by a handler that is not ours
            signals.add(stop)
            return set()
        return done

    def _result(self, future: Future[JobResult]) -> JobResult:
        result = _outcome(future, self.running.pop(future), self._exit_code())
        self.stopped = self.stopped or (self.fail_fast and not result.ok)
        return result

    def _stop_waiting(self, signals: NotedSignals) -> bool:
        """Act on the signals noted: the first starts no new job, the next one stops waiting."""
        while (stop := signals.take()) is not None:
            if self.interrupted is not None:
                self.interrupted = stronger(self.interrupted, stop)
                return True
            self.stopped, self.interrupted = True, stop
            self._say(f"interrupted: the {len(self.running)} job(s) in flight finish first (maybe paid for)")
        return False

    def _abandon(self, signals: NotedSignals) -> Iterator[JobResult]:
        """Stop waiting: the images already arriving are saved, the other jobs in flight are left.

        No job writes a file from now on unless it already began to (see :class:`JobFiles`), so
        what is left behind leaves no partial file, and the results are true when they are told.
        """
        writing = self.files.close()
        saving = {f: item for f, item in self.running.items() if item.job.number in writing}
        self._say(_stopping(len(self.running) - len(saving), len(saving)))
        while saving:
            done = self._finished(saving, signals)
            saving = {f: item for f, item in saving.items() if f not in done}
            while (stop := signals.take()) is not None:  # already stopping: only the exit code may change
                self.interrupted = stronger(self.interrupted, stop)
                self._say(
                    f"stopping already: {len(saving)} job(s) save the images arriving, then imagegate ends"
                )
        running, self.running = self.running, {}
        for future, item in running.items():
            if future.done():
                yield _outcome(future, item, self._exit_code())
            else:
                yield JobResult(item.job, "failed", error=LEFT_IN_FLIGHT, exit_code=self._exit_code())

    def _settle(self, signals: NotedSignals) -> None:
        """Wait for the jobs still in flight (the batch was closed early); a signal stops waiting."""
        while self.running:
            self.running = {f: item for f, item in self.running.items() if not f.done()}
            if signals.take() is not None:
                writing = self.files.close()
                self.running = {f: item for f, item in self.running.items() if item.job.number in writing}
            if self.running:
                self._finished(self.running, signals)

    def _exit_code(self) -> int:
        return int(getattr(self.interrupted, "exit_code", EXIT_INTERRUPTED))

    def _say(self, text: str) -> None:
        if self.notify is not None:
            self.notify(text)


def _stopping(left: int, saving: int) -> str:
    """What a second Ctrl-C does now, in one line."""
    parts = [f"{saving} job(s) save the images arriving first"] if saving else []
    if left:
        parts.append(f"{left} job(s) in flight are left (maybe paid for; nothing of them is saved)")
    return "stopping: " + ("; ".join(parts) or "no job is in flight")


#: The error of a job a second Ctrl-C left in flight.
LEFT_IN_FLIGHT = "interrupted while in flight: it may be paid for; nothing of it was saved"


def _outcome(future: Future[JobResult], item: Planned, exit_code: int) -> JobResult:
    """A finished job's result; one the stopped batch kept from writing files is reported so."""
    error = future.exception()
    if error is None:
        return future.result()
    return JobResult(
        item.job,
        "failed",
        error=LEFT_IN_FLIGHT if isinstance(error, KeyboardInterrupt) else internal_error(error),
        exit_code=exit_code if isinstance(error, KeyboardInterrupt) else 1,
        warnings=list(getattr(error, "hints", ())),
    )


def _in_thread(function: Callable[..., JobResult], *args: Any) -> Future[JobResult]:
    """``function(*args)`` in a thread of its own, a daemon: a job left in flight never holds up the exit."""
    future: Future[JobResult] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # the job's outcome, read by the batch
            future.set_exception(exc)

    threading.Thread(target=run, name="imagegate-batch", daemon=True).start()
    return future


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


def _run_one(
    item: Planned,
    manifest: Manifest,
    limiter: Limiter,
    reservation: int,
    notify: Notify | None = None,
    files: JobFiles | None = None,
) -> JobResult:
    files = files if files is not None else JobFiles()
    try:
        if item.call.options.partial_images:  # its previews are files the job's plan does not make
            files.begin(item.job.number)
        return _run_paced(item, manifest, limiter, notify, files)
    finally:
        files.end(item.job.number)  # after its manifest record
        spend.GUARD.release(reservation)  # its ledger line (if it was paid) is written by now


def _run_paced(
    item: Planned, manifest: Manifest, limiter: Limiter, notify: Notify | None, files: JobFiles
) -> JobResult:
    started = time.monotonic()
    number = item.job.number
    plan = GatedPlan(item.plan.first, item.plan.count, item.plan.force, item.plan.warnings, number, files)

    def tell(text: str) -> None:
        if notify is not None and files.allows(number):  # a job left behind keeps quiet
            notify(f"{item.job.where}: {text}")

    try:
        result = execute(
            item.call, plan, limiter=limiter, notify=None if notify is None else tell, budget_checked=True
        )
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
