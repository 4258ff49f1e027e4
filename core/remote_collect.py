"""Reads a batch's result file as it arrives: each image straight into its file, each job recorded at once.

Lines come in any order and are matched on their ``custom_id``. Every image is decoded into a
temporary file in the output folder while its line arrives (memory stays flat whatever the size
of the file), then linked into the name the local batch would give it. A line that failed fails
its job with the exit code the same error gets in a normal call; a line that never ran (the batch
expired or was cancelled) is reported ``not run``, and a rerun submits it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from . import spend
from .adapter import Answer, ImageRef, LineResult
from .errors import ImagegateError, UnusableAnswer
from .jobs import Job, JobResult
from .jsonstream import BadLine, InvalidAnswer, documents
from .manifest import Manifest
from .options import GENERATE, Asked, Options
from .output import OutputPlan
from .sniff import require_image
from .spool import FileSpool, Spool, signals_held

if TYPE_CHECKING:
    from .adapter import Adapter, BatchState, ProviderError

#: The stem of the temporary files images are decoded into.
SPOOL_STEM = "imagegate-remote"


class Collector:
    """Saves the results of one batch's files; ``seen`` holds the custom_ids that had a line."""

    def __init__(
        self,
        manifest: Manifest,
        out_dir: Path,
        adapter: Adapter,
        jobs: dict[str, dict[str, Any]],
        say: Callable[[str], None],
    ) -> None:
        self.manifest, self.out_dir, self.adapter, self.jobs, self.say = manifest, out_dir, adapter, jobs, say
        self.seen: set[str] = set()
        self.unreadable = 0  # lines that could not be read: their jobs may have run (and been billed)

    def read(self, chunks: Iterable[bytes]) -> Iterator[tuple[str, JobResult]]:
        """(custom_id, result) for each line of the file naming a job not yet done."""
        spools: list[Spool] = []

        def new_spool() -> Spool:
            with signals_held():  # the temp file is made and recorded before any interruption
                spool = FileSpool(self.out_dir, SPOOL_STEM)
                spools.append(spool)
            return spool

        try:
            for document in documents(chunks, self.adapter.batch_b64_fields, new_spool):
                made, spools[:] = list(spools), []
                try:
                    result = self._line(document, made)
                finally:
                    for spool in made:
                        spool.discard()  # no-op for the committed ones
                if result is not None:
                    yield result
        except InvalidAnswer as exc:
            raise UnusableAnswer(f"a batch result file is {exc}") from None
        finally:
            for spool in spools:
                spool.discard()  # a line cut off (Ctrl-C, a broken connection): its job is not recorded

    def _line(self, document: Any, spools: list[Spool]) -> tuple[str, JobResult] | None:
        if isinstance(document, BadLine):
            self._unreadable(f"line {document.number} is {document.reason}")
            return None
        try:
            line = self.adapter.batch_result(document)
        except ImagegateError as exc:
            self._unreadable(exc.message)
            return None
        record = self.jobs.get(line.custom_id)
        if record is None:
            self.say(f"warning: a result line names {line.custom_id!r}, no job of this batch; skipped")
            return None
        self.seen.add(line.custom_id)
        if self.manifest.finished(record["key"]) is not None:
            return None  # saved by an earlier run that stopped while reading this file
        return line.custom_id, self._result(line, record, job_of(record))

    def _unreadable(self, why: str) -> None:
        self.unreadable += 1
        self.say(f"warning: a batch result line could not be read ({why}); its job is reported failed")

    def _result(self, line: LineResult, record: dict[str, Any], job: Job) -> JobResult:
        if line.not_run is not None:
            return JobResult(job, "not run", error=line.not_run)
        if line.error is not None:
            error = failure(line.error)
            return JobResult(
                job, "failed", error=error.message, exit_code=error.exit_code, warnings=list(error.hints)
            )
        if line.answer is None or not line.answer.images:
            return JobResult(job, "failed", error="the provider's answer holds no image", exit_code=5)
        return self._save(job, record, line.answer)

    def _save(self, job: Job, record: dict[str, Any], answer: Answer) -> JobResult:
        """Link each decoded image into its name, then record the job in the manifest."""
        plan = OutputPlan(self.out_dir / record["out"], record["count"], record["force"])
        paths: list[str] = []
        problems: list[str] = []
        for index, ref in enumerate(answer.images):
            try:
                paths.append(str(self._commit(plan, ref, len(paths), index)))
            except ImagegateError as exc:
                problems.append(exc.message)
        warnings = list(plan.warnings)
        if paths:
            with signals_held():  # recorded as done and in the ledger together, or neither
                failure = self.manifest.record(record["key"], job, paths)
                unrecorded = self._spent(record, answer, paths)
            if failure is not None:
                warnings.append(f"saved, but not recorded in the manifest {self.manifest.path} ({failure})")
            if unrecorded is not None:
                warnings.append(unrecorded)
        if problems:
            kept = [f"The images that did arrive were saved: {', '.join(paths)}"] if paths else []
            return JobResult(job, "failed", paths, error=problems[0], exit_code=5, warnings=warnings + kept)
        return JobResult(job, "ok", paths, warnings=warnings)

    def _spent(self, record: dict[str, Any], answer: Answer, paths: list[str]) -> str | None:
        """The job's line in the spend ledger, at the batch engine's price; a warning if not written."""
        options = estimate_options(record)
        cost = batch_estimate(self.adapter, options, answer.usage)
        facts = SimpleNamespace(
            operation=record.get("operation") or GENERATE, size=options.size, quality=options.quality
        )
        return spend.record(
            self.adapter.profile,
            options.model or self.adapter.model_for(options),
            facts,
            images=len(paths),
            usage=answer.usage,
            cost=cost,
            request_id=None,
            paths=paths,
        )

    def _commit(self, plan: OutputPlan, ref: ImageRef, slot: int, index: int) -> Path:
        spool = ref.data
        if not isinstance(spool, FileSpool):
            raise UnusableAnswer(
                f"image {index + 1} of the answer is not inline (a link is not fetched here)"
            )
        info = require_image(spool.head, f"image {index + 1} in the answer", UnusableAnswer)
        path, _info = plan.commit(spool, slot, info)
        return path

    def unmatched(self, record: dict[str, Any], state: BatchState) -> tuple[str, JobResult]:
        """A job no line of the batch's files mentioned."""
        cid = next(key for key, value in self.jobs.items() if value is record)
        job = job_of(record)
        if state.problem is not None:
            message = f"the provider refused batch {state.job_id}: {state.problem}"
            return cid, JobResult(job, "failed", error=message, exit_code=3)
        if self.unreadable:
            message = f"batch {state.job_id} ended ({state.status}) but its result line could not be read"
            warning = "It may have run and been billed; a rerun submits it again."
            return cid, JobResult(job, "failed", error=message, exit_code=5, warnings=[warning])
        return cid, JobResult(
            job, "not run", error=f"batch {state.job_id} ended ({state.status}) before it ran"
        )


def estimate_options(record: dict[str, Any]) -> Options:
    """The options a job's spend is estimated from, as its manifest record keeps them."""
    return Options(
        prompt="",
        model=record.get("model"),
        size=record.get("size") or "auto",
        quality=record.get("quality") or "auto",
        n=record.get("n") or record.get("count") or 1,
    )


def batch_estimate(adapter: Adapter, options: Options, usage: Any = None) -> float | None:
    """The adapter's estimate at the batch engine's price (None when it has none)."""
    cost = spend.estimate(adapter, options, usage)
    return None if cost is None else cost * adapter.batch_price_factor


def failure(error: ProviderError) -> ImagegateError:
    """The error a normal call would raise for this provider error (so the same exit code)."""
    from .http import verdict

    return verdict(error)[0]


def job_of(record: dict[str, Any]) -> Job:
    """The job a manifest record stands for (its number, line and prompt)."""
    return Job(
        record["job"],
        record["line"],
        Asked(prompt=record.get("prompt", "")),
        source=record.get("source", "job"),
    )
