"""``imagegate batch --remote``: the same jobs on the provider's own batch engine (cheaper, within a day).

The core keeps the promises; the adapter speaks the provider's protocol (``Adapter.batch_*``).
Jobs are checked before anything is sent; their input images are uploaded once each; lines go
into input files of at most the adapter's line and byte limits, one group (endpoint, model) per
batch. Each batch is written into the folder's manifest *before* it is created and again the
moment its id is known, so no failure afterwards can submit a job twice: a rerun (after Ctrl-C,
a crash or a reboot) polls the recorded batches instead. Result files are read line by line as
they arrive, each image decoded straight into its file (flat memory whatever the file's size),
and each job recorded in the manifest the moment its images are written.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import plugins, spend
from .adapter import UPLOAD_IMAGE, UPLOAD_LINES, Adapter, BatchState
from .budget import OverBudget
from .errors import ImagegateError, NetworkError, ProviderRefused, UsageError
from .jobs import Job, JobResult, Planned
from .manifest import BATCH_STATES, Manifest
from .remote_collect import Collector, batch_estimate, estimate_options, job_of
from .remote_lines import check_remote, custom_id, file_digest, job_record, shards
from .remote_wire import Wire
from .spool import signals_held
from .untrusted import untrusted

#: How long to wait before the first poll of a round of batches, the growth, and the longest wait.
POLL_FIRST = 5.0
POLL_BACKOFF = 1.5
POLL_MAX = 120.0
#: Rounds of polls in a row that may fail on the network before the wait gives up (a rerun resumes).
POLL_FAILURES = 5
SUBMITTED = "submitted"
CANCEL_NOTE = "not submitted (--cancel)"
#: A batch entry's life in the manifest: being created (unconfirmed), created, read to the end
#: (read_manifest checks that every entry and job record has the fields, of the types, used here).
CREATING, RUNNING, COLLECTED = BATCH_STATES

Watch = Callable[[list[dict[str, Any]], float], None]


@dataclass
class Source:
    """Where a job's batches go: the config, profile and provider it names, and their adapter."""

    config: str | None
    profile: str | None
    provider: str | None

    @property
    def key(self) -> str:
        return json.dumps([self.config, self.profile, self.provider])

    @classmethod
    def of(cls, job: Job) -> Source:
        return cls(None if job.config is None else str(job.config), job.profile, job.provider)


@dataclass
class RemoteRun:
    """One ``batch --remote`` run over a folder: submit what is new, then poll, collect or cancel."""

    manifest: Manifest
    out_dir: Path
    wait: bool = True
    cancel: bool = False
    timeout: float = 600.0
    notify: Callable[[str], None] | None = None
    watch: Watch | None = None
    sleep: Callable[[float], None] | None = None  # time.sleep, looked up at each wait
    reported: set[str] = field(default_factory=set)  # custom_ids whose result was given
    touched: list[dict[str, Any]] = field(default_factory=list)  # the batches of this run
    failed_polls: int = 0
    _adapters: dict[str, Adapter] = field(default_factory=dict)
    _wires: dict[str, Wire] = field(default_factory=dict)
    _reservations: list[int] = field(default_factory=list)  # budget reservations held for this run

    def __post_init__(self) -> None:
        self.manifest.remote.setdefault("uploads", {})
        self.manifest.remote.setdefault("batches", [])
        self.started = time.monotonic()

    @property
    def batches(self) -> list[dict[str, Any]]:
        return self.manifest.remote["batches"]

    def run(self, todo: list[Planned]) -> Iterator[JobResult]:
        """Results as they come: unconfirmed and refused jobs, then each batch's jobs as it is collected."""
        waiting = {
            job["key"]
            for entry in self.batches
            if entry["state"] != COLLECTED
            for job in entry["jobs"].values()
        }
        fresh = [item for item in todo if item.key not in waiting]
        try:
            fresh = yield from self._clashing(fresh)
            yield from self._unconfirmed()
            if self.cancel:
                yield from (JobResult(item.job, "not run", error=CANCEL_NOTE) for item in fresh)
            elif fresh:
                self._count_running()
                fresh = yield from self._within_budget(fresh)
                yield from self._submit(fresh)
            yield from self._follow()
        finally:
            for reservation in self._reservations:
                spend.GUARD.release(reservation)
            for wire in self._wires.values():
                wire.close()

    # -- the profile's budget ------------------------------------------------------------------
    def _count_running(self) -> None:
        """This folder's batches still running count against the budget, as jobs in flight do."""
        for entry in self.batches:
            if entry["state"] != RUNNING:
                continue
            adapter = self.adapter(entry["source"])
            for job in entry["jobs"].values():
                cost = batch_estimate(adapter, estimate_options(job))
                self._reservations.append(spend.GUARD.reserve(None, adapter.profile.name, "", cost))

    def _within_budget(self, fresh: list[Planned]) -> Generator[JobResult, None, list[Planned]]:
        """The jobs whose estimate (at the batch price) fits the profile's budget; the rest are not run."""
        kept: list[Planned] = []
        for item in fresh:
            adapter = item.call.adapter
            cost = batch_estimate(adapter, item.call.options)
            try:
                self._reservations.append(spend.reserve(adapter.profile, item.call.model, cost))
            except OverBudget as exc:
                self.reported.add(custom_id(item))
                yield JobResult(item.job, "not run", error=exc.message, exit_code=exc.exit_code)
                continue
            kept.append(item)
        return kept

    def pending(self) -> list[JobResult]:
        """The jobs not yet reported: ``submitted`` (still running at the provider) or unconfirmed."""
        running = [
            JobResult(job_of(job), SUBMITTED)
            for entry in self.batches
            if entry["state"] == RUNNING
            for cid, job in entry["jobs"].items()
            if cid not in self.reported
        ]
        return running + list(self._unconfirmed())

    def summary(self) -> list[dict[str, Any]]:
        """Per batch of this run: its id, the provider's status and counts, how many jobs it holds."""
        return [
            {
                "id": e["id"],
                "status": e.get("status", ""),
                "counts": e.get("counts", {}),
                "jobs": len(e["jobs"]),
            }
            for e in self.touched
        ]

    # -- parts ---------------------------------------------------------------------------------
    def adapter(self, source: dict[str, Any] | Source, first: Adapter | None = None) -> Adapter:
        """The adapter of a source (the planned job's own, else resolved again on a rerun)."""
        if isinstance(source, dict):
            source = Source(**source)
        if source.key not in self._adapters:
            self._adapters[source.key] = first or plugins.bind(source.config, source.profile, source.provider)
        return self._adapters[source.key]

    def wire(self, source: dict[str, Any] | Source) -> Wire:
        key = Source(**source).key if isinstance(source, dict) else source.key
        if key not in self._wires:
            self._wires[key] = Wire(self.adapter(source), self.timeout, self.notify)
        return self._wires[key]

    def save(self, failure_means: str) -> None:
        """Write the manifest; when it cannot be written, stop with what that means."""
        failure = self.manifest.save()
        if failure is not None:
            raise ImagegateError(
                f"cannot write the batch manifest {self.manifest.path} ({failure}): {failure_means}",
                hints=("Free some space or fix the folder, then run the same command again.",),
            )

    def _clashing(self, fresh: list[Planned]) -> Generator[JobResult, None, list[Planned]]:
        """Jobs whose file name a job still at the provider will take (the jobs file changed): not sent."""
        taken = {
            job["out"]: entry["id"] or entry["input_file_id"]
            for entry in self.batches
            if entry["state"] != COLLECTED
            for job in entry["jobs"].values()
        }
        kept = []
        for item in fresh:
            batch = taken.get(os.path.relpath(item.plan.first, self.out_dir))
            if batch is None:
                kept.append(item)
                continue
            message = f"not submitted: {item.plan.first.name} is the name of a job still in batch {batch}"
            yield JobResult(item.job, "not run", error=message + " (did the jobs file change?)")
        return kept

    def _unconfirmed(self) -> Iterator[JobResult]:
        """Jobs of a batch whose creation was sent but never confirmed: never resubmitted automatically."""
        for entry in self.batches:
            if entry["state"] != CREATING or set(entry["jobs"]) <= self.reported:
                continue
            message = (
                f"its batch (input file {entry['input_file_id']}) was sent to the provider but its creation "
                "was never confirmed; it may be running, so it is not submitted again"
            )
            hint = "Check the provider's list of batches; to submit these jobs again, remove that entry from "
            hint += f"the manifest's remote batches ({self.manifest.path})."
            for cid, job in entry["jobs"].items():
                self.reported.add(cid)
                yield JobResult(job_of(job), "failed", error=message, exit_code=5, warnings=[hint])

    # -- submit --------------------------------------------------------------------------------
    def _submit(self, fresh: list[Planned]) -> Iterator[JobResult]:
        """Upload the input images once each, build the lines, shard them, create each batch."""
        by_source: dict[str, list[Planned]] = {}
        for item in fresh:
            by_source.setdefault(Source.of(item.job).key, []).append(item)
        for items in by_source.values():
            source = Source.of(items[0].job)
            adapter = self.adapter(source, items[0].call.adapter)
            files = self._upload_inputs(source, adapter, items)
            lines = [(item, adapter.batch_line(item.call.options, custom_id(item), files)) for item in items]
            for group, shard in shards(lines, adapter.batch_max_lines, adapter.batch_max_bytes):
                yield from self._create(source, adapter, group, shard)

    def _upload_inputs(self, source: Source, adapter: Adapter, items: list[Planned]) -> dict[Path, str]:
        """Each input image uploaded once (also across runs: the manifest keeps the file ids)."""
        uploads: dict[str, str] = self.manifest.remote["uploads"]
        files: dict[Path, str] = {}
        for item in items:
            for path in adapter.batch_uploads(item.call.options):
                if path in files:
                    continue
                digest = f"{source.key} {file_digest(path)}"
                if digest not in uploads:
                    answer = self.wire(source).json(adapter.upload_request(path, UPLOAD_IMAGE))
                    uploads[digest] = adapter.uploaded(answer)
                    self.save("the upload is not recorded, so a rerun uploads the image again")
                files[path] = uploads[digest]
        return files

    def _create(
        self, source: Source, adapter: Adapter, group: str, shard: list[tuple[Planned, Any]]
    ) -> Iterator[JobResult]:
        """Upload one input file and create its batch, the manifest written before and after."""
        wire = self.wire(source)
        with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=".imagegate-upload-") as folder:
            path = Path(folder) / "imagegate-batch.jsonl"
            with open(path, "w", encoding="utf-8") as handle:
                for _item, line in shard:
                    handle.write(json.dumps(line.line, separators=(",", ":")) + "\n")
            file_id = adapter.uploaded(wire.json(adapter.upload_request(path, UPLOAD_LINES)))
        jobs = {line.line["custom_id"]: job_record(item, self.out_dir) for item, line in shard}
        entry: dict[str, Any] = {
            "id": None, "state": CREATING, "source": vars(source), "group": group,
            "input_file_id": file_id, "jobs": jobs,
        }  # fmt: skip
        # Ctrl-C waits while the batch is noted, created and its id recorded (the call is bounded by
        # the deadline): a batch created but never recorded could not be collected by a rerun. A
        # signal that came before the request left stops here, with nothing submitted.
        waiting = f"stopping once the provider confirms the batch's creation (at most {self.timeout:g} s)"
        refused: ImagegateError | None = None
        with signals_held(on_signal=lambda: self._say(waiting)) as noted:
            self.batches.append(entry)
            self.save("nothing was submitted")
            if noted:
                self.batches.remove(entry)
                self.save("nothing was submitted")
            else:
                try:
                    state = adapter.batch_state(wire.json(adapter.submit_batch(file_id, group)))
                except (ProviderRefused, UsageError) as exc:  # refused (HTTP 4xx): no batch was made
                    refused = exc
                else:
                    entry.update(id=state.job_id, state=RUNNING, status=state.status, counts=state.counts)
                    self.touched.append(entry)
                    self.save(
                        f"batch {state.job_id} is not recorded (a rerun will not submit its jobs again)"
                    )
        if refused is not None:
            yield from self._refused(entry, refused)
            return
        if entry not in self.batches:  # stopped before anything was sent (a signal taken as a note)
            return
        self._say(f"submitted batch {state.job_id}: {len(jobs)} job(s) ({state.status})")

    def _refused(self, entry: dict[str, Any], exc: ImagegateError) -> Iterator[JobResult]:
        self.batches.remove(entry)
        self.save("the refused batch stays listed as unconfirmed")
        for cid, job in entry["jobs"].items():
            self.reported.add(cid)
            yield JobResult(job_of(job), "failed", error=exc.message, exit_code=exc.exit_code)

    # -- wait, cancel, collect -----------------------------------------------------------------
    def _follow(self) -> Iterator[JobResult]:
        """Poll the running batches with backoff, collecting each as it ends (one round with no wait)."""
        running = [entry for entry in self.batches if entry["state"] == RUNNING]
        for entry in running:
            if entry not in self.touched:
                self.touched.append(entry)
            if self.cancel:
                self._cancel(entry)
        interval = POLL_FIRST
        while running:
            for entry in list(running):
                state = self._poll(entry)
                if state is not None and state.done:
                    running.remove(entry)
                    yield from self._collect(entry, state)
            if self.watch is not None:
                self.watch(self.touched, time.monotonic() - self.started)
            if not running or not self.wait:
                return
            (self.sleep or time.sleep)(interval)
            interval = min(interval * POLL_BACKOFF, POLL_MAX)

    def _poll(self, entry: dict[str, Any]) -> BatchState | None:
        """The batch's state; None when the network failed (a long wait rides out a few such rounds)."""
        adapter = self.adapter(entry["source"])
        try:
            answer = self.wire(entry["source"]).json(adapter.poll_batch(entry["id"]), repeatable=True)
        except NetworkError as exc:
            self.failed_polls += 1
            if self.failed_polls > POLL_FAILURES or not self.wait:
                raise
            self._say(f"polling batch {entry['id']} failed ({exc.message}); trying again later")
            return None
        self.failed_polls = 0
        state = adapter.batch_state(answer)
        if (state.status, state.counts) != (entry.get("status"), entry.get("counts")):
            entry.update(status=state.status, counts=state.counts)
            self.save("its progress is not recorded (nothing is lost: a rerun polls it again)")
        return state

    def _cancel(self, entry: dict[str, Any]) -> None:
        adapter = self.adapter(entry["source"])
        try:
            state = adapter.batch_state(self.wire(entry["source"]).json(adapter.cancel_batch(entry["id"])))
        except ImagegateError as exc:  # finished meanwhile, say: the poll tells
            self._say(f"cancelling batch {entry['id']}: {exc.message}")
            return
        self._say(f"cancelling batch {entry['id']} ({state.status}); what it finished is collected")

    def _collect(self, entry: dict[str, Any], state: BatchState) -> Iterator[JobResult]:
        """Read the batch's result files line by line, then report the jobs they did not mention."""
        adapter = self.adapter(entry["source"])
        collector = Collector(self.manifest, self.out_dir, adapter, entry["jobs"], self._say)
        for request in state.results:
            for result in collector.read(self.wire(entry["source"]).chunks(request)):
                yield self._reported(entry, result)
        for cid, job in entry["jobs"].items():
            if cid not in collector.seen and self.manifest.finished(job["key"]) is None:
                yield self._reported(entry, collector.unmatched(job, state))
        entry["state"] = COLLECTED
        self.save("a rerun reads its result files again (nothing is submitted twice)")

    def _reported(self, entry: dict[str, Any], result: tuple[str, JobResult]) -> JobResult:
        self.reported.add(result[0])
        return result[1]

    def _say(self, text: str) -> None:
        """A note for the user; batch ids and messages in it come from the manifest or the provider."""
        if self.notify is not None:
            self.notify(untrusted(text))


def run_remote(
    todo: list[Planned],
    skipped: list[JobResult],
    manifest: Manifest,
    *,
    wait: bool = True,
    cancel: bool = False,
) -> Iterator[JobResult]:
    """The library's remote batch: checked now, then the results as they come (and those still submitted)."""
    check_remote(todo)
    run = RemoteRun(manifest, manifest.path.parent, wait=wait, cancel=cancel)

    def results() -> Iterator[JobResult]:
        yield from skipped
        yield from run.run(todo)
        yield from run.pending()

    return results()


__all__ = ["RemoteRun", "check_remote", "custom_id", "run_remote", "shards"]
