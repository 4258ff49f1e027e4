"""imagegate batch --remote: the jobs run on a fake of the documented Files and Batches endpoints."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import imagegate
from imagegate import remote
from imagegate.jobs import Job
from imagegate.manifest import Manifest
from imagegate.options import Asked
from imagegate.providers.openai import OpenAIAdapter

from .support.batchserver import HAPPY, BatchServer
from .support.helpers import png


@pytest.fixture
def fake(make_config, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchServer]:
    """The fake batch engine, with the default config's openai profile pointing at it; polls don't wait."""
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    with BatchServer() as server:
        make_config(base_url=server.url)
        yield server


def write_jobs(path: Path, *jobs: Any) -> Path:
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs), encoding="utf-8")
    return path


def summary_of(run: Any) -> dict[str, Any]:
    return json.loads(run.out)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def statuses(document: dict[str, Any]) -> dict[int, str]:
    return {job["job"]: job["status"] for job in document["jobs"]}


def test_a_hundred_generations_and_edits_come_back_named_as_the_local_batch_names_them(
    cli, fake: BatchServer, isolated: Path
) -> None:
    (isolated / "cat.png").write_bytes(png(16, 16))
    (isolated / "dog.png").write_bytes(png(16, 16, colour=(1, 2, 3)))
    jobs = [f"a kite number {i}" for i in range(70)]
    jobs += [{"prompt": f"edit {i}", "edit_images": ["cat.png" if i % 2 else "dog.png"]} for i in range(25)]
    jobs += [{"prompt": "two at once", "n": 2}, {"prompt": "named", "out": "named.png"}]
    jobs += [{"prompt": "both", "edit_images": ["cat.png", "dog.png"]} for _ in range(3)]
    path = write_jobs(isolated / "jobs.jsonl", *jobs)

    run = cli("batch", path, "--out-dir", "remote", "--remote")
    local = cli("batch", path, "--out-dir", "local", "--provider", "placeholder", "--size", "64x64")

    assert run.code == 0, run.err
    assert local.code == 0, local.err
    assert names(isolated / "remote") == names(isolated / "local")
    assert len(names(isolated / "remote")) == 101
    document = summary_of(run)
    assert document["counts"]["ok"] == 100
    assert set(fake.submitted.values()) == {1} and len(fake.submitted) == 100
    assert sorted(b.endpoint for b in fake.batches.values()) == ["/v1/images/edits", "/v1/images/generations"]
    images = [f for f in fake.files.values() if f.purpose == "vision"]
    assert sorted(f.filename for f in images) == ["cat.png", "dog.png"]  # each uploaded once
    assert {b["id"] for b in document["remote_batches"]} == set(fake.batches)


def test_edit_lines_are_the_json_edit_form_with_file_ids(cli, fake: BatchServer, isolated: Path) -> None:
    (isolated / "cat.png").write_bytes(png(16, 16))
    (isolated / "mask.png").write_bytes(png(16, 16, alpha=True))
    path = write_jobs(
        isolated / "jobs.jsonl", {"prompt": "hat", "edit_images": ["cat.png"], "mask": "mask.png"}
    )

    assert cli("batch", path, "--out-dir", "out", "--remote", "--quality", "low").code == 0
    (batch,) = fake.batches.values()
    (line,) = batch.lines
    ids = {f.filename: f.id for f in fake.files.values() if f.purpose == "vision"}
    assert line["method"] == "POST" and line["url"] == "/v1/images/edits"
    assert line["body"]["images"] == [{"file_id": ids["cat.png"]}]
    assert line["body"]["mask"] == {"file_id": ids["mask.png"]}
    assert line["body"]["prompt"] == "hat" and line["body"]["quality"] == "low"


def test_killing_the_command_while_it_waits_then_rerunning_collects_without_resubmitting(
    cli, fake: BatchServer, isolated: Path
) -> None:
    fake.script = ["validating", *["in_progress"] * 1000]
    path = write_jobs(isolated / "jobs.jsonl", *[f"prompt {i}" for i in range(5)])
    manifest = isolated / "out" / ".imagegate-batch.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "imagegate", "batch", str(path), "--out-dir", "out", "--remote"],
        cwd=isolated,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _recorded_batch(manifest) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _recorded_batch(manifest), "the command never recorded its batch"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    fake.script = list(HAPPY)
    for batch in fake.batches.values():
        batch.script = list(HAPPY)

    run = cli("batch", path, "--out-dir", "out", "--remote")

    assert run.code == 0, run.err
    assert summary_of(run)["counts"]["ok"] == 5
    assert len(fake.batches) == 1 and set(fake.submitted.values()) == {1} and len(fake.submitted) == 5
    assert len(names(isolated / "out")) == 5


def _recorded_batch(manifest: Path) -> bool:
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(entry.get("id") for entry in document.get("remote", {}).get("batches", []))


def test_ctrl_c_while_waiting_reports_the_jobs_submitted_and_a_rerun_collects(
    cli, fake: BatchServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jobs(isolated / "jobs.jsonl", "one", "two")

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    real_sleep = time.sleep
    monkeypatch.setattr(remote.time, "sleep", interrupt)
    first = cli("batch", path, "--out-dir", "out", "--remote")
    monkeypatch.setattr(remote.time, "sleep", real_sleep)
    second = cli("batch", path, "--out-dir", "out", "--remote")

    assert first.code == 130
    assert summary_of(first)["counts"]["submitted"] == 2
    assert "run the same command again to collect" in first.err
    assert second.code == 0, second.err
    assert set(statuses(summary_of(second)).values()) == {"ok"}
    assert len(fake.batches) == 1 and set(fake.submitted.values()) == {1}


def test_no_wait_submits_and_exits_0_then_a_rerun_collects(cli, fake: BatchServer, isolated: Path) -> None:
    path = write_jobs(isolated / "jobs.jsonl", "one", "two", "three")

    first = cli("batch", path, "--out-dir", "out", "--remote", "--no-wait")
    assert first.code == 0, first.err
    assert set(statuses(summary_of(first)).values()) == {"submitted"}
    assert names(isolated / "out") == []

    second = cli("batch", path, "--out-dir", "out", "--remote")
    third = cli("batch", path, "--out-dir", "out", "--remote")

    assert second.code == 0, second.err
    assert names(isolated / "out") == ["001-one.png", "002-two.png", "003-three.png"]
    assert set(statuses(summary_of(third)).values()) == {"skipped"}
    assert len(fake.batches) == 1 and set(fake.submitted.values()) == {1}


def test_an_expired_batch_yields_its_finished_jobs_and_a_rerun_resubmits_only_the_rest(
    cli, fake: BatchServer, isolated: Path
) -> None:
    fake.script = ["validating", "in_progress", "expired"]
    fake.expire_after = 3
    path = write_jobs(isolated / "jobs.jsonl", *[f"prompt {i}" for i in range(5)])

    first = cli("batch", path, "--out-dir", "out", "--remote")
    finished = {cid for cid in fake.submitted}
    fake.script = list(HAPPY)
    second = cli("batch", path, "--out-dir", "out", "--remote")

    assert first.code == 5
    counts = summary_of(first)["counts"]
    assert (counts["ok"], counts["not run"], counts["failed"]) == (3, 2, 0)
    assert "not run" in first.err
    assert second.code == 0, second.err
    assert sorted(statuses(summary_of(second)).values()) == ["ok", "ok", "skipped", "skipped", "skipped"]
    assert len(names(isolated / "out")) == 5
    assert sorted(fake.submitted.values()) == [1, 1, 1, 2, 2] and set(fake.submitted) == finished
    (second_batch,) = [b for b in fake.batches.values() if b.status == "completed"]
    assert len(second_batch.lines) == 2


class RefusingServer(BatchServer):
    """The fake, where a prompt saying "bad-request" gets an invalid_request_error (400)."""

    def outcome(self, line: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "bad-request" in str((line.get("body") or {}).get("prompt", "")):
            return 400, {"error": {"message": "Invalid size.", "type": "invalid_request_error"}}
        return super().outcome(line)


def test_error_lines_fail_their_jobs_with_the_exit_code_of_the_same_error_in_a_normal_call(
    cli, make_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    path = write_jobs(isolated / "jobs.jsonl", "fine", "please moderate", "a server-error", "a bad-request")
    with RefusingServer() as server:
        make_config(base_url=server.url)
        run = cli("batch", path, "--out-dir", "out", "--remote")

    jobs = {job["job"]: job for job in summary_of(run)["jobs"]}
    assert jobs[1]["status"] == "ok"
    assert [jobs[n].get("exit_code") for n in (2, 3, 4)] == [4, 5, 3]
    assert "moderation_blocked" in jobs[2]["error"]
    assert run.code == 4  # the first failed job's, as in a local batch
    assert names(isolated / "out") == ["001-fine.png"]


def test_remote_is_refused_for_a_provider_without_a_batch_engine_before_anything_is_sent(
    cli, fake: BatchServer, isolated: Path
) -> None:
    path = write_jobs(isolated / "jobs.jsonl", "one", {"prompt": "two", "provider": "placeholder"})

    run = cli("batch", path, "--out-dir", "out", "--remote")

    assert run.code == 2
    assert "provider 'placeholder' has no batch engine" in run.err
    assert "openai" in run.err
    assert fake.requests == []


def test_cancel_stops_the_unfinished_batches_and_collects_what_they_finished(
    cli, fake: BatchServer, isolated: Path
) -> None:
    fake.script = ["validating", *["in_progress"] * 100]
    fake.expire_after = 1  # lines that ran before the cancel
    path = write_jobs(isolated / "jobs.jsonl", "one", "two", "three")

    assert cli("batch", path, "--out-dir", "out", "--remote", "--no-wait").code == 0
    run = cli("batch", path, "--out-dir", "out", "--remote", "--cancel")

    assert run.code == 0, run.err
    assert sorted(statuses(summary_of(run)).values()) == ["not run", "not run", "ok"]
    assert [b["status"] for b in summary_of(run)["remote_batches"]] == ["cancelled"]
    assert ("POST", f"/v1/batches/{next(iter(fake.batches))}/cancel") in fake.requests
    assert len(names(isolated / "out")) == 1


def test_lines_are_sharded_by_the_line_limit_and_generations_and_edits_never_share_a_batch(
    cli, fake: BatchServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OpenAIAdapter, "batch_max_lines", 3)
    (isolated / "cat.png").write_bytes(png(16, 16))
    path = write_jobs(
        isolated / "jobs.jsonl", *[f"gen {i}" for i in range(7)], {"prompt": "e", "edit_images": ["cat.png"]}
    )

    assert cli("batch", path, "--out-dir", "out", "--remote").code == 0
    sizes = sorted((b.endpoint, len(b.lines)) for b in fake.batches.values())
    gens = "/v1/images/generations"
    assert sizes == [("/v1/images/edits", 1), (gens, 1), (gens, 3), (gens, 3)]


def test_the_library_runs_a_remote_batch_through_run_batch(fake: BatchServer, isolated: Path) -> None:
    results = list(imagegate.run_batch(["one", {"prompt": "two", "n": 2}], isolated / "out", remote=True))

    assert sorted(r.status for r in results) == ["ok", "ok"]
    assert sorted(Path(p).name for r in results for p in r.paths) == [
        "001-one.png",
        "002-two-2.png",
        "002-two.png",
    ]
    assert set(fake.submitted.values()) == {1}


def test_no_wait_without_remote_is_refused(cli, isolated: Path) -> None:
    path = write_jobs(isolated / "jobs.jsonl", "one")

    run = cli("batch", path, "--out-dir", "out", "--no-wait", "--provider", "placeholder")

    assert run.code == 2 and "--no-wait goes with --remote" in run.err


class LosingServer(BatchServer):
    """The fake, where the first batch creation is made but its answer is lost (the connection drops)."""

    lost = 0

    def create(self, document: Any) -> tuple[int, Any]:
        answer = super().create(document)
        if not self.lost:
            self.lost += 1
            raise ConnectionAbortedError("the answer never leaves")
        return answer


def test_a_batch_whose_creation_was_never_confirmed_is_never_submitted_again(
    cli, make_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    path = write_jobs(isolated / "jobs.jsonl", "one", "two")
    with LosingServer() as server:
        make_config(base_url=server.url)
        first = cli("batch", path, "--out-dir", "out", "--remote")
        second = cli("batch", path, "--out-dir", "out", "--remote")

    assert first.code == 5
    assert {job["status"] for job in summary_of(first)["jobs"]} == {"failed"}
    assert second.code == 5
    jobs = summary_of(second)["jobs"]
    assert {job["status"] for job in jobs} == {"failed"}
    assert "never confirmed" in jobs[0]["error"] and "not submitted again" in jobs[0]["error"]
    assert len(server.batches) == 1 and set(server.submitted.values()) == {1}


def test_a_run_stopped_while_collecting_keeps_what_it_saved_and_a_rerun_saves_the_rest_once(
    cli, fake: BatchServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagegate.remote_collect import Collector

    path = write_jobs(isolated / "jobs.jsonl", *[f"prompt {i}" for i in range(5)])
    real_save = Collector._save
    saved: list[int] = []

    def save_two_then_stop(self: Collector, *args: Any) -> Any:
        if len(saved) == 2:
            raise KeyboardInterrupt
        saved.append(1)
        return real_save(self, *args)

    monkeypatch.setattr(Collector, "_save", save_two_then_stop)
    monkeypatch.setattr(Manifest, "JOURNAL_AT", 1)  # the second job on goes to the journal
    first = cli("batch", path, "--out-dir", "out", "--remote")
    journal = isolated / "out" / ".imagegate-batch.json.journal"
    assert journal.exists()
    monkeypatch.setattr(Collector, "_save", real_save)
    second = cli("batch", path, "--out-dir", "out", "--remote")

    assert not journal.exists()  # folded into the manifest once the batch was collected
    assert first.code == 130
    assert summary_of(first)["counts"]["ok"] == 2
    assert second.code == 0, second.err
    assert sorted(statuses(summary_of(second)).values()) == ["ok", "ok", "ok", "skipped", "skipped"]
    assert names(isolated / "out") == [f"{n:03d}-prompt-{n - 1}.png" for n in range(1, 6)]
    assert not [p for p in (isolated / "out").iterdir() if p.name.endswith(".part")]
    assert len(fake.batches) == 1 and set(fake.submitted.values()) == {1}


def test_a_compatible_gateway_batches_only_when_its_profile_says_it_can(
    cli, make_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    path = write_jobs(isolated / "jobs.jsonl", "one")
    with BatchServer() as server:
        make_config(provider="compatible", base_url=server.url)
        refused = cli("batch", path, "--out-dir", "out", "--remote")
        make_config(provider="compatible", base_url=server.url, batch=True)
        accepted = cli("batch", path, "--out-dir", "out", "--remote")

    assert refused.code == 2 and "provider 'compatible' has no batch engine" in refused.err
    assert accepted.code == 0, accepted.err
    assert names(isolated / "out") == ["001-one.png"]


def test_the_manifest_journal_keeps_every_whole_line_when_a_crash_cut_the_last_one(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Manifest, "JOURNAL_AT", 0)
    path = isolated / ".imagegate-batch.json"
    manifest = Manifest(path, lock=False)  # opened three times in one test: no folder lock
    for number in (1, 2):
        (isolated / f"{number}.png").write_bytes(png())
        assert (
            manifest.record(
                f"key{number}", Job(number, number, Asked(prompt="p")), [str(isolated / f"{number}.png")]
            )
            is None
        )
    with open(manifest.journal, "a", encoding="utf-8") as handle:
        handle.write('{"key": "torn", "paths": ["x')  # the crash
    again = Manifest(path, lock=False)
    (isolated / "3.png").write_bytes(png())
    again.record("key3", Job(3, 3, Asked(prompt="p")), [str(isolated / "3.png")])

    last = Manifest(path, lock=False)
    assert sorted(last.done) == ["key1", "key2", "key3"]
    assert last.finished("key3") == [str(isolated / "3.png")]


def test_a_changed_job_is_not_submitted_while_the_old_one_still_runs_under_its_name(
    cli, fake: BatchServer, isolated: Path
) -> None:
    path = write_jobs(isolated / "jobs.jsonl", "one", "two")
    assert cli("batch", path, "--out-dir", "out", "--remote", "--no-wait").code == 0
    write_jobs(isolated / "jobs.jsonl", "one", {"prompt": "two", "quality": "low"})

    run = cli("batch", path, "--out-dir", "out", "--remote")

    second = [job for job in summary_of(run)["jobs"] if job["job"] == 2]
    assert [job["status"] for job in second] == ["not run", "ok"]  # the changed job; the old one, collected
    assert "002-two.png" in second[0]["error"]
    assert len(fake.batches) == 1 and set(fake.submitted.values()) == {1}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_live_line_on_a_terminal_and_one_line_per_change_otherwise() -> None:
    from imagegate.cli.batch_remote import RemoteStatus

    batch = {"id": "batch_1", "status": "in_progress", "counts": {"total": 10, "completed": 4, "failed": 1}}
    piped, terminal = io.StringIO(), Terminal()
    for stream in (piped, terminal):
        status = RemoteStatus(stream)
        status.watch([batch], 3.0)
        status.watch([batch], 6.0)  # no change
        status.watch([{**batch, "status": "finalizing"}], 9.0)
        status.close()

    assert piped.getvalue().splitlines() == [
        "batch batch_1: in_progress, 4/10 completed, 1 failed (3 s elapsed)",
        "batch batch_1: finalizing, 4/10 completed, 1 failed (9 s elapsed)",
    ]
    assert terminal.getvalue().count("\n") == 1
    assert terminal.getvalue().count("\r\033[K") == 3
    assert "batch batch_1: finalizing, 4/10 completed, 1 failed · 9 s elapsed" in terminal.getvalue()


class FlakyServer(BatchServer):
    """The fake, whose batch status endpoint fails (HTTP 500) a few times in a row."""

    failures = 3  # one whole round of polls: the first try and its two retries

    def poll(self, batch_id: str) -> tuple[int, Any]:
        if self.failures:
            self.failures -= 1
            return 500, {"error": {"message": "The server had an error.", "type": "server_error"}}
        return super().poll(batch_id)


def test_a_wait_rides_out_a_round_of_failed_polls(
    cli, make_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    path = write_jobs(isolated / "jobs.jsonl", "one")
    with FlakyServer() as server:
        make_config(base_url=server.url)
        run = cli("batch", path, "--out-dir", "out", "--remote")

    assert run.code == 0, run.err
    assert "trying again later" in run.err
    assert names(isolated / "out") == ["001-one.png"]
    assert set(server.submitted.values()) == {1}


def test_lines_are_sharded_so_no_input_file_passes_the_size_limit(
    cli, fake: BatchServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OpenAIAdapter, "batch_max_bytes", 700)
    path = write_jobs(isolated / "jobs.jsonl", *[f"prompt number {i} " + "x" * 100 for i in range(6)])

    assert cli("batch", path, "--out-dir", "out", "--remote").code == 0
    inputs = [f.content for f in fake.files.values() if f.purpose == "batch"]
    assert len(inputs) > 1 and all(len(content) <= 700 for content in inputs)
    assert sum(len(b.lines) for b in fake.batches.values()) == 6 and set(fake.submitted.values()) == {1}


def test_sigterm_while_waiting_exits_143_with_the_jobs_submitted(fake: BatchServer, isolated: Path) -> None:
    fake.script = ["validating", *["in_progress"] * 1000]
    path = write_jobs(isolated / "jobs.jsonl", "one", "two")
    manifest = isolated / "out" / ".imagegate-batch.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "imagegate", "batch", str(path), "--out-dir", "out", "--remote"],
        cwd=isolated,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not _recorded_batch(manifest) and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)

    assert child.returncode == 143, err
    document = json.loads(out)
    assert document["counts"]["submitted"] == 2 and document["interrupted"] is True
    assert b"run the same command again to collect" in err


def _estimate_each(config: Path, usage: Any = None) -> float:
    """What the normal call of one fake job would cost, by the adapter's own price table."""
    from imagegate import plugins, spend
    from imagegate.options import Options

    adapter = plugins.bind(config)
    options = Options(prompt="p", model=adapter.model_for(Options(prompt="p")))
    cost = spend.estimate(adapter, options, usage)
    assert cost is not None
    return cost * adapter.batch_price_factor


def test_each_collected_job_is_one_ledger_line_at_the_batch_price(
    cli, fake: BatchServer, isolated: Path
) -> None:
    from imagegate import ledger

    path = write_jobs(isolated / "jobs.jsonl", "a secret kite", "a secret gull", "a secret crow")
    run = cli("batch", path, "--out-dir", "out", "--remote")
    assert run.code == 0, run.err
    lines = [json.loads(text) for text in ledger.ledger_path().read_text().splitlines()]
    assert len(lines) == 3 and {line["images"] for line in lines} == {1}
    config = isolated.parent / "home" / ".config" / "gpt-image-2-apikey" / "config.json"
    usage = {"input_tokens": 10, "output_tokens": 1000, "total_tokens": 1010}  # what the fake answers
    assert all(line["cost_usd"] == pytest.approx(_estimate_each(config, usage)) for line in lines)
    assert all("secret" not in json.dumps({**line, "paths": []}) for line in lines)  # never the prompt


def test_under_a_budget_remote_jobs_past_the_cap_are_not_submitted(
    cli, make_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    with BatchServer() as server:
        config = make_config(base_url=server.url)
        each = _estimate_each(config)
        make_config(base_url=server.url, budget={"daily_usd": round(each * 1.5, 6)})
        path = write_jobs(isolated / "jobs.jsonl", "one", "two", "three")
        run = cli("batch", path, "--out-dir", "out", "--remote")
        assert run.code == 2
        assert list(statuses(summary_of(run)).values()) == ["ok", "not run", "not run"]
        assert len(server.submitted) == 1
        assert "daily_usd cap" in summary_of(run)["jobs"][1]["error"]


def test_ctrl_c_while_the_batch_is_created_waits_for_its_id_so_a_rerun_collects_it(
    cli, fake: BatchServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    real_create = BatchServer.create

    def create_with_ctrl_c(self: BatchServer, document: Any) -> tuple[int, Any]:
        os.kill(os.getpid(), signal.SIGINT)  # lands while imagegate waits for this answer
        return real_create(self, document)

    monkeypatch.setattr(BatchServer, "create", create_with_ctrl_c)
    path = write_jobs(isolated / "jobs.jsonl", "a kite", "a boat")
    first = cli("batch", path, "--out-dir", "out", "--remote")
    assert first.code == 130, first.err
    assert "stopping once the provider confirms the batch's creation" in first.err
    manifest = json.loads((isolated / "out" / ".imagegate-batch.json").read_text())
    assert [batch["state"] for batch in manifest["remote"]["batches"]] == ["running"]  # its id recorded
    monkeypatch.setattr(BatchServer, "create", real_create)
    second = cli("batch", path, "--out-dir", "out", "--remote")
    assert second.code == 0, second.err
    assert names(isolated / "out") == ["001-a-kite.png", "002-a-boat.png"]
    assert len(fake.batches) == 1  # collected, never submitted again


def test_ctrl_c_as_the_batch_is_noted_stops_before_anything_is_submitted(
    cli, fake: BatchServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from imagegate.remote import RemoteRun

    real_save = RemoteRun.save

    def save_with_ctrl_c(self: RemoteRun, failure_means: str) -> None:
        real_save(self, failure_means)
        if failure_means == "nothing was submitted" and not getattr(self, "_stopped_once", False):
            self._stopped_once = True  # type: ignore[attr-defined]
            os.kill(os.getpid(), signal.SIGINT)  # just after the batch is noted, before it is created

    monkeypatch.setattr(RemoteRun, "save", save_with_ctrl_c)
    path = write_jobs(isolated / "jobs.jsonl", "a kite")
    first = cli("batch", path, "--out-dir", "out", "--remote")
    assert first.code == 130, first.err
    assert len(fake.batches) == 0  # nothing was created
    manifest = json.loads((isolated / "out" / ".imagegate-batch.json").read_text())
    assert manifest.get("remote", {}).get("batches", []) == []  # no entry left "creating"
    monkeypatch.setattr(RemoteRun, "save", real_save)
    second = cli("batch", path, "--out-dir", "out", "--remote")
    assert second.code == 0, second.err
    assert names(isolated / "out") == ["001-a-kite.png"] and len(fake.batches) == 1
