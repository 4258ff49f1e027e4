"""Many image calls at the provider's pace: jobs, a resumable manifest, concurrency, one shared limiter.

A job is a prompt or an object of per-job options. Every job is checked (options, config, input
files, output paths) before the first request is sent. Jobs then run ``concurrency`` at a time;
they share one :class:`~imagegate.pacing.Pacer` per profile, so a 429 seen by one job slows all of them. Each
finished job is recorded at once, atomically, in a manifest in the output folder; running the
same batch again skips what the manifest says is done, so a crash loses nothing that was paid for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import spend
from .budget import OverBudget
from .dispatch import Call, execute, prepare
from .errors import ImagegateError, UsageError, internal_error
from .manifest import MANIFEST_NAME as MANIFEST_NAME  # re-exported: the batch command names it
from .manifest import Manifest as Manifest
from .option_values import from_keywords
from .options import Asked, Options
from .output import OutputExists, OutputPlan
from .pacing import Concurrency, Rate, parse_rate
from .pacing import Pacer as Limiter
from .progress import Notify
from .sniff import EXTENSIONS

DEFAULT_CONCURRENCY = 4
#: Keys a job object may carry besides the Options fields.
CALL_KEYS = ("out", "provider", "profile", "config")
#: Options a batch job cannot use, and why.
NOT_IN_BATCH = {name: "a batch does not stream (no partial images)" for name in ("stream", "partial_images")}


@dataclass
class Job:
    """One line of a batch: its options and where its files go."""

    number: int  # 1-based position among the jobs: the NNN of the file name
    line: int  # line of the jobs file (equal to number for the library)
    options: Asked
    out: str | None = None
    provider: str | None = None
    profile: str | None = None
    config: str | None = None
    source: str = "job"

    @property
    def where(self) -> str:
        """How messages name this job: ``jobs.jsonl line 7``."""
        if self.number == 0:
            return "the batch defaults"
        return f"{self.source} line {self.line}" if self.source != "job" else f"job {self.number}"


@dataclass
class JobResult:
    """What became of one job: ``ok``, ``skipped`` (done in an earlier run), ``failed`` or ``not run``."""

    job: Job
    status: str
    paths: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"job": self.job.number, "line": self.job.line, "status": self.status}
        if self.error is None:
            record["paths"] = self.paths
        else:
            record.update(error=self.error, exit_code=self.exit_code)
        if self.warnings:
            record["warnings"] = self.warnings
        record["seconds"] = round(self.seconds, 3)
        return record


# -- reading jobs ---------------------------------------------------------------------


def read_jobs(
    lines: Iterable[str], defaults: Job, source: str = "job", base: Path | None = None
) -> list[Job]:
    """Jobs from JSONL lines (a prompt string or an object); blank lines and ``#`` comments skipped.

    A line that does not start like JSON (``{``, ``[`` or ``"``) is taken as a plain prompt, so a
    text file with one prompt per line works as it is.
    """
    jobs: list[Job] = []
    for line_number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith(("{", "[", '"')):
            try:
                value = json.loads(stripped)
            except ValueError as exc:
                raise UsageError(f"{source} line {line_number}: not JSON ({exc})") from None
        else:
            value = stripped
        where = Job(len(jobs) + 1, line_number, defaults.options, source=source)
        jobs.append(make_job(value, where, defaults, base))
    return jobs


def make_job(value: Any, where: Job, defaults: Job, base: Path | None = None) -> Job:
    """One job from a prompt string or an options object, on top of the batch's defaults."""
    if isinstance(value, str):
        value = {"prompt": value}
    if not isinstance(value, dict):
        raise UsageError(f"{where.where}: a job is a prompt string or an object, not {type(value).__name__}")
    changes, calls = from_keywords(
        value, call_keys=CALL_KEYS, refused=NOT_IN_BATCH, where=where.where, base=base
    )
    options = replace(defaults.options, **changes)
    merged = {key: calls.get(key, getattr(defaults, key)) for key in CALL_KEYS}
    return Job(where.number, where.line, options, source=where.source, **merged)


# -- names and the manifest -------------------------------------------------------------


def slug(prompt: str, limit: int = 40) -> str:
    """A file-name-safe stem from a prompt: ``A red kite!`` -> ``a-red-kite``."""
    text = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")
    return text[:limit].rstrip("-") or "image"


def output_path(job: Job, options: Options, out_dir: Path) -> Path:
    """Where the job's first image goes: its ``out`` inside the folder, else ``NNN-slug.ext``."""
    if job.out is None:
        extension = EXTENSIONS.get(options.output_format or "png", ".png")
        return out_dir / f"{job.number:03d}-{slug(options.prompt)}{extension}"
    if "\0" in job.out:
        raise UsageError(f"out {job.out!r} holds a NUL character, which no file name can")
    path = (out_dir / job.out).resolve()
    if not path.is_relative_to(out_dir.resolve()):
        raise UsageError(f"out {job.out!r} must be a file name inside {out_dir}")
    return path


def job_key(job: Job, options: Options, path: Path) -> str:
    """A hash of everything that decides what a job makes, so a changed job is redone.

    ``path`` is the output's name inside the folder, so a moved folder still resumes.
    """
    identity = {
        name: (str(value) if isinstance(value, Path) else value) for name, value in vars(options).items()
    }
    identity.update(images=[str(p) for p in options.images], out=str(path))
    identity.update({key: getattr(job, key) for key in ("provider", "profile", "config")})
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]


# -- running -----------------------------------------------------------------------------


@dataclass
class Planned:
    """A checked job, ready to send."""

    job: Job
    call: Call
    plan: OutputPlan
    key: str


def plan_jobs(
    jobs: Iterable[Job], out_dir: Path, manifest: Manifest, force: bool = False
) -> tuple[list[Planned], list[JobResult]]:
    """Check every job before anything is sent; those the manifest says are done come back skipped."""
    claimed: dict[Path, Job] = {}
    todo: list[Planned] = []
    skipped: list[JobResult] = []
    for job in jobs:
        try:
            call = prepare(job.options, job.config, job.profile, job.provider)
            plan = OutputPlan(output_path(job, call.options, out_dir), call.options.n or 1, force)
            for index in range(plan.count):
                path = plan.path_for(index)
                if path in claimed:
                    raise UsageError(f"writes {path.name}, as {claimed[path].where} does")
                claimed[path] = job
            key = job_key(job, call.options, Path(os.path.relpath(plan.first, out_dir)))
            done = None if force else manifest.finished(key)
            if done is not None:
                skipped.append(JobResult(job, "skipped", done))
                continue
            plan.preflight()
        except OutputExists as exc:
            hint = (
                f'Delete or move {exc.path.name}, or give this job another "out"; '
                "--force would redo (and pay for) every job of the batch."
            )
            raise _located(OutputExists(exc.path, hint), job) from None
        except ImagegateError as exc:
            raise _located(exc, job) from None
        todo.append(Planned(job, call, plan, key))
    return todo, skipped


def _located(error: ImagegateError, job: Job) -> ImagegateError:
    """The same error, its message prefixed with the job's line."""
    error.message = f"{job.where}: {error.message}"  # the setter keeps args in step
    return error


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


def defaults_from_keywords(keywords: dict[str, Any]) -> Job:
    """The batch-wide defaults from library keywords (the same names a job object uses)."""
    blank = Job(0, 0, Asked(prompt=""))
    return make_job(keywords, blank, blank)


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
