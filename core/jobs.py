"""Batch jobs before anything is sent: reading them, their file names and keys, and checking each.

A job is a prompt or an object of per-job options, on top of the batch's defaults. Every job is
checked (options, config, input files, output paths) before the first request is sent; those the
manifest says are done come back skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .dispatch import Call, prepare
from .errors import ImagegateError, UsageError
from .inputs import check_path
from .manifest import Manifest, is_own_name
from .option_values import from_keywords
from .options import Asked, Options
from .output import OutputExists, OutputPlan
from .sniff import EXTENSIONS

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
            except RecursionError:
                raise UsageError(f"{source} line {line_number}: not a job (nested too deeply)") from None
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
    path = (out_dir / job.out).resolve()
    if not path.is_relative_to(out_dir.resolve()):
        raise UsageError(f"out {job.out!r} must be a file name inside {out_dir}")
    if path.parent == out_dir.resolve() and is_own_name(path.name):
        raise UsageError(f"out {job.out!r} is the name of the batch's own {path.name}; give another name")
    return path


def check_paths(job: Job) -> None:
    """Refuse a path of the job (``out``, ``config``, input images, mask) that no file can have.

    Checked before the job's config is read, so such a job fails at its line, never mid-call.
    """
    named: list[tuple[str, Any]] = [("out", job.out), ("config", job.config), ("mask", job.options.mask)]
    named += [("edit_images", path) for path in job.options.images]
    for key, path in named:
        if isinstance(path, (str, os.PathLike)):
            check_path(path, key)


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
            check_paths(job)
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


def defaults_from_keywords(keywords: dict[str, Any]) -> Job:
    """The batch-wide defaults from library keywords (the same names a job object uses)."""
    blank = Job(0, 0, Asked(prompt=""))
    return make_job(keywords, blank, blank)
