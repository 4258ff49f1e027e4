"""Many image calls at the provider's pace: concurrency, one shared limiter, a resumable manifest.

Checked jobs (see :mod:`imagegate.jobs`) run ``concurrency`` at a time;
they share one :class:`~imagegate.pacing.Pacer` per profile, so a 429 seen by one job slows all of them. Each
finished job is recorded at once, atomically, in a manifest in the output folder; running the
same batch again skips what the manifest says is done, so a crash loses nothing that was paid for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import spend
from .budget import OverBudget
from .dispatch import execute
from .errors import EXIT_INTERRUPTED, EXIT_TERMINATED, ImagegateError, Interrupted, internal_error
from .jobs import Job, JobResult, Planned, defaults_from_keywords, make_job, plan_jobs
from .manifest import MANIFEST_NAME as MANIFEST_NAME  # re-exported: the batch command names it
from .manifest import Manifest as Manifest
from .output import OutputPlan
from .pacing import Concurrency, Rate, parse_rate
from .pacing import Pacer as Limiter
from .progress import Notify
from .spool import STOP_SIGNALS, FileSpool

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


_active: NotedSignals | None = None  # the one in effect (in the main thread), which a batch within reuses


@contextlib.contextmanager
def noted_signals() -> Iterator[NotedSignals]:
    """While the block runs, Ctrl-C and SIGTERM are only noted (see :class:`NotedSignals`).

    The command holds them this way from the first job to its summary; the batch inside reuses it.
    """
    global _active
    main = threading.current_thread() is threading.main_thread()  # the only thread handlers run in
    if main and _active is not None:
        yield _active
        return
    with NotedSignals() as signals:
        _active = signals if main else _active
        try:
            yield signals
        finally:
            _active = None if main else _active


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
        self.files = _Files()
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
                self.interrupted = _stronger(self.interrupted, stop)
                return True
            self.stopped, self.interrupted = True, stop
            self._say(f"interrupted: the {len(self.running)} job(s) in flight finish first (maybe paid for)")
        return False

    def _abandon(self, signals: NotedSignals) -> Iterator[JobResult]:
        """Stop waiting: the images already arriving are saved, the other jobs in flight are left.

        No job writes a file from now on unless it already began to (see :class:`_Files`), so
        what is left behind leaves no partial file, and the results are true when they are told.
        """
        writing = self.files.close()
        saving = {f: item for f, item in self.running.items() if item.job.number in writing}
        self._say(_stopping(len(self.running) - len(saving), len(saving)))
        while saving:
            done = self._finished(saving, signals)
            saving = {f: item for f, item in saving.items() if f not in done}
            while (stop := signals.take()) is not None:  # already stopping: only the exit code may change
                self.interrupted = _stronger(self.interrupted, stop)
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


def _stronger(first: KeyboardInterrupt | None, then: KeyboardInterrupt) -> KeyboardInterrupt:
    """The interruption to end with: the first one, unless a SIGTERM came later (exit 143 wins)."""
    if first is None or getattr(then, "exit_code", None) == EXIT_TERMINATED:
        return then
    return first


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


class NotedSignals:
    """Ctrl-C and SIGTERM while a batch runs: their handlers only note them; the batch takes them.

    A handler that raises can land anywhere, inside the wait's own locking too; a note cannot.
    Only handlers written in Python are replaced (in the main thread), and :meth:`take` turns a
    noted signal into what that handler raises (KeyboardInterrupt, or the CLI's SIGTERM
    Interrupted). A signal noted but not taken when the batch ends normally is delivered then.
    """

    def __init__(self) -> None:
        self.noted: list[int | KeyboardInterrupt] = []
        self._previous: dict[int, Callable[[int, Any], Any]] = {}

    def __enter__(self) -> NotedSignals:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                handler = signal.getsignal(number)
                if callable(handler):
                    self._previous[number] = handler
                    signal.signal(number, self._note)
        return self

    def _note(self, signum: int, frame: object) -> None:
        self.noted.append(signum)

    def add(self, stop: KeyboardInterrupt) -> None:
        self.noted.append(stop)

    def take(self) -> KeyboardInterrupt | None:
        """The interruption of the oldest signal not taken yet, or None."""
        while self.noted:
            entry = self.noted.pop(0)
            if isinstance(entry, KeyboardInterrupt):
                return entry
            try:
                self._previous[entry](entry, None)
            except KeyboardInterrupt as stop:
                return stop
        return None

    def last_word(self, stop: KeyboardInterrupt | None) -> KeyboardInterrupt | None:
        """What a run that has ended answers to: ``stop``, or a signal noted since (SIGTERM wins)."""
        while (late := self.take()) is not None:
            stop = _stronger(stop, late)
        return stop

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        with contextlib.suppress(ValueError):  # not the main thread any more: nothing was replaced
            for number, handler in self._previous.items():
                signal.signal(number, handler)
        if kind is None and (stop := self.take()) is not None:
            raise stop


class _Files:
    """Which jobs began writing files; once closed (the batch stopped waiting), no other job begins.

    A job that began is waited for, so it never leaves a temp file; one that had not is left, and
    can no longer write anything, so it never leaves a temp file either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._writing: set[int] = set()

    def begin(self, number: int) -> None:
        with self._lock:
            if self._closed and number not in self._writing:
                raise Interrupted("interrupted before this job's images arrived")
            self._writing.add(number)

    def allows(self, number: int) -> bool:
        """Whether the batch still waits for the job."""
        with self._lock:
            return not self._closed or number in self._writing

    def end(self, number: int) -> None:
        with self._lock:
            self._writing.discard(number)

    def close(self) -> set[int]:
        """Let no other job begin; the jobs writing now."""
        with self._lock:
            self._closed = True
            return set(self._writing)


@dataclass
class _GatedPlan(OutputPlan):
    """A job's output plan whose temp files are made only while the batch lets the job write."""

    number: int = 0
    files: _Files | None = None

    def new_spool(self, index: int) -> FileSpool:
        if self.files is not None:
            self.files.begin(self.number)
        return super().new_spool(index)


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
    files: _Files | None = None,
) -> JobResult:
    files = files if files is not None else _Files()
    try:
        if item.call.options.partial_images:  # its previews are files the job's plan does not make
            files.begin(item.job.number)
        return _run_paced(item, manifest, limiter, notify, files)
    finally:
        files.end(item.job.number)  # after its manifest record
        spend.GUARD.release(reservation)  # its ledger line (if it was paid) is written by now


def _run_paced(
    item: Planned, manifest: Manifest, limiter: Limiter, notify: Notify | None, files: _Files
) -> JobResult:
    started = time.monotonic()
    number = item.job.number
    plan = _GatedPlan(item.plan.first, item.plan.count, item.plan.force, item.plan.warnings, number, files)

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
