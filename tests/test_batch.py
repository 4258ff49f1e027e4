"""imagegate batch: checked before sending, resumable, paced by one shared limiter."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import imagegate

from .support.faultserver import FaultServer, Reply, Seen, error_reply, image_reply
from .support.helpers import png

#: The normal answer of the fake provider: one small image.
IMAGE = image_reply(png(4, 4))


@pytest.fixture
def provider(server: FaultServer) -> FaultServer:
    """conftest's FaultServer, answering every generation with IMAGE until a test sets a rule."""
    server.generations(IMAGE)
    return server


def answer_with(server: FaultServer, rule: Any) -> None:
    """Answer each generation with ``rule(request)``, or IMAGE when the rule returns None."""
    server.generations(lambda seen: rule(seen) or IMAGE)


def prompts(server: FaultServer) -> list[str]:
    """The prompts of the generations requests, in the order they arrived."""
    return [seen.json()["prompt"] for seen in list(server.seen)]


def prompt(seen: Seen) -> str:
    return seen.json()["prompt"]


def refusal(message: str) -> Reply:
    return error_reply(400, message)


class Raw(str):
    """A line written to a jobs file as it is."""


def _as_is(line: Any) -> bool:
    return isinstance(line, Raw) or (isinstance(line, str) and (line == "" or line.startswith("#")))


def write_jobs(path: Path, *lines: Any) -> Path:
    """A JSONL jobs file: strings become prompt lines, dicts objects; ``#``, blank and Raw lines as is."""
    text = [line if _as_is(line) else json.dumps(line) for line in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def test_prompts_and_objects_become_numbered_files_and_one_summary(cli, isolated: Path) -> None:
    jobs = write_jobs(
        isolated / "jobs.jsonl",
        "# a comment",
        "A red kite!",
        "",
        {"prompt": "two whales", "n": 2, "size": "64x64"},
        {"prompt": "named", "out": "named.png", "size": "32x32"},
    )
    run = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder", "--size", "48x48")
    assert run.code == 0, run.err
    out = isolated / "out"
    assert sorted(p.name for p in out.glob("*.png")) == [
        "001-a-red-kite.png",
        "002-two-whales-2.png",
        "002-two-whales.png",
        "named.png",
    ]
    summary = run.json
    assert summary["ok"] is True
    assert summary["counts"] == {"ok": 3, "skipped": 0, "failed": 0, "not run": 0}
    assert [(job["job"], job["line"], job["status"]) for job in summary["jobs"]] == [
        (1, 2, "ok"),
        (2, 4, "ok"),
        (3, 5, "ok"),
    ]
    assert summary["jobs"][0]["paths"] == [str(out / "001-a-red-kite.png")]
    assert len(run.err.strip().splitlines()) == 3  # not a terminal: one line per finished job


def test_batch_flags_are_defaults_and_a_job_overrides_them(cli, isolated: Path) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", "default size", {"prompt": "own size", "size": "40x24"})
    run = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder", "--size", "16x16", "--dry-run")
    assert run.code == 0, run.err
    assert [job["body"]["size"] for job in run.json["jobs"]] == ["16x16", "40x24"]
    assert not (isolated / "out" / ".imagegate-batch.json").exists()


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (Raw("{not json"), "not JSON"),
        ({"prompt": "x", "sise": "1024x1024"}, "unknown key 'sise'"),
        ({"prompt": "x", "n": "two"}, "n must be a whole number"),
        ({"prompt": "x", "size": "huge"}, "--size huge"),
        ({"prompt": "x", "edit_images": ["missing.png"]}, "missing.png: no such file"),
        ({"prompt": "x", "out": "../escape.png"}, "must be a file name inside"),
        ({"size": "64x64"}, "the prompt is empty"),
    ],
)
def test_a_bad_line_is_reported_with_its_line_number_before_anything_is_sent(
    cli, isolated: Path, provider: FaultServer, bad_line, message: str
) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "# two", "three", bad_line, "five")
    run = cli("batch", jobs, "--out-dir", "out")
    assert run.code == 2
    assert "jobs.jsonl line 4: " in run.err and message in run.err
    assert prompts(provider) == []
    assert not list((isolated / "out").glob("*.png")) if (isolated / "out").exists() else True


def test_two_jobs_writing_the_same_file_are_refused_before_sending(
    cli, isolated: Path, provider: FaultServer
) -> None:
    jobs = write_jobs(
        isolated / "jobs.jsonl", {"prompt": "a", "out": "x.png"}, {"prompt": "b", "out": "x.png"}
    )
    run = cli("batch", jobs, "--out-dir", "out")
    assert run.code == 2 and "line 2: writes x.png, as jobs.jsonl line 1 does" in run.err
    assert prompts(provider) == []


def test_rerun_skips_finished_jobs_and_force_redoes_them(cli, isolated: Path, provider: FaultServer) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "two")
    assert cli("batch", jobs, "--out-dir", "out").code == 0
    again = cli("batch", jobs, "--out-dir", "out")
    assert again.code == 0 and again.json["counts"]["skipped"] == 2
    assert sorted(prompts(provider)) == ["one", "two"]
    forced = cli("batch", jobs, "--out-dir", "out", "--force")
    assert forced.code == 0 and forced.json["counts"]["ok"] == 2
    assert sorted(prompts(provider)) == ["one", "one", "two", "two"]


def test_a_changed_job_is_not_taken_for_finished(cli, isolated: Path, provider: FaultServer) -> None:
    write_jobs(isolated / "jobs.jsonl", {"prompt": "one", "out": "one.png"}, "two")
    assert cli("batch", isolated / "jobs.jsonl", "--out-dir", "out").code == 0
    write_jobs(isolated / "jobs.jsonl", {"prompt": "one", "out": "one.png", "quality": "low"}, "two")
    rerun = cli("batch", isolated / "jobs.jsonl", "--out-dir", "out")
    assert rerun.code == 2 and "one.png already exists" in rerun.err  # redoing it needs --force
    assert prompts(provider) == ["one", "two"] or sorted(prompts(provider)) == ["one", "two"]


def test_a_killed_batch_reruns_only_the_unfinished_jobs(cli, isolated: Path, provider: FaultServer) -> None:
    release = threading.Event()

    def stall_fourth(seen: Seen) -> None:
        if prompt(seen) == "job-4":
            release.wait(10)

    answer_with(provider, stall_fourth)
    expected = [f"job-{k}" for k in range(1, 7)]
    jobs = write_jobs(isolated / "jobs.jsonl", *expected)
    command = [
        sys.executable,
        "-m",
        "imagegate",
        "batch",
        str(jobs),
        "--out-dir",
        "out",
        "--concurrency",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while "job-4" not in prompts(provider) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert "job-4" in prompts(provider), process.communicate()
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        release.set()
    assert prompts(provider) == expected[:4]
    rerun = cli("batch", jobs, "--out-dir", "out", "--concurrency", "1")
    assert rerun.code == 0, rerun.err
    assert prompts(provider) == expected[:4] + expected[3:]  # only job-4 (cut off) onwards is sent again
    assert rerun.json["counts"] == {"ok": 3, "skipped": 3, "failed": 0, "not run": 0}
    assert not list((isolated / "out").glob(".*.part"))


def test_a_429_seen_by_one_job_makes_every_later_request_wait_first(
    cli, isolated: Path, provider: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, by order alone: after one job's 429, no request of any job goes out before a wait.

    The limiter's waits are recorded, not slept (its clock is tested in test_retries.py). Three jobs
    are in flight when the 429 comes; the other two are answered only once the 429 has been seen.
    """
    from imagegate import retry

    events: list[str] = []
    limited_job: list[str] = []
    first_three = threading.Barrier(3, timeout=10)
    limited = threading.Event()

    def wait_recorded(seconds: float) -> None:
        events.append("wait")
        limited.set()

    def rate_limit_first(seen: Seen) -> Reply | None:
        events.append(prompt(seen))
        if seen.number < 3:
            first_three.wait()  # three jobs are in flight when the 429 comes
        if seen.number == 0:
            limited_job.append(prompt(seen))
            return error_reply(429, "slow down", **{"retry-after": "30"})
        if seen.number < 3:
            limited.wait(10)  # the other two finish only after the 429 was seen
        return None

    monkeypatch.setattr(retry, "_sleep", wait_recorded)
    answer_with(provider, rate_limit_first)
    jobs = write_jobs(isolated / "jobs.jsonl", *[f"job-{k}" for k in range(1, 7)])
    run = cli("batch", jobs, "--out-dir", "out", "--concurrency", "3")
    assert run.code == 0, run.err
    first, later = events[:3], events[3:]
    assert "wait" not in first
    assert sorted(event for event in later if event != "wait") == sorted(
        [*limited_job, "job-4", "job-5", "job-6"]
    )
    sent = waited = 0
    for event in later:  # every later request (the retry and jobs 4-6) follows a wait of its own
        waited += event == "wait"
        sent += event != "wait"
        assert sent <= waited, later


def test_fail_fast_starts_no_job_after_a_failure(cli, isolated: Path, provider: FaultServer) -> None:
    answer_with(provider, lambda seen: refusal("no such model") if prompt(seen) == "bad" else None)
    jobs = write_jobs(isolated / "jobs.jsonl", "good", "bad", "later", "last")
    run = cli("batch", jobs, "--out-dir", "out", "--concurrency", "1", "--fail-fast")
    assert run.code == 3
    assert prompts(provider) == ["good", "bad"]
    assert [job["status"] for job in run.json["jobs"]] == ["ok", "failed", "not run", "not run"]
    assert run.json["ok"] is False


def test_a_failed_job_fails_the_batch_but_the_others_run(cli, isolated: Path, provider: FaultServer) -> None:
    answer_with(provider, lambda seen: refusal("no such model") if prompt(seen) == "bad" else None)
    jobs = write_jobs(isolated / "jobs.jsonl", "good", "bad", "later")
    run = cli("batch", jobs, "--out-dir", "out", "--concurrency", "2")
    assert run.code == 3
    assert sorted(prompts(provider)) == ["bad", "good", "later"]
    failed = [job for job in run.json["jobs"] if job["status"] == "failed"]
    assert failed == [
        {
            "job": 2,
            "line": 2,
            "status": "failed",
            "error": failed[0]["error"],
            "exit_code": 3,
            "seconds": failed[0]["seconds"],
        }
    ]
    assert "no such model" in failed[0]["error"]
    assert "failed jobs.jsonl line 2" in run.err
    assert run.json["counts"] == {"ok": 2, "skipped": 0, "failed": 1, "not run": 0}
    rerun = cli("batch", jobs, "--out-dir", "out")
    assert rerun.json["counts"]["skipped"] == 2 and prompts(provider).count("bad") == 2


def test_library_batch_yields_every_result(isolated: Path) -> None:
    results = list(
        imagegate.run_batch(
            ["a lighthouse", {"prompt": "a kite", "format": "png", "n": 2}],
            isolated / "lib",
            provider="placeholder",
            size="32x32",
            concurrency=2,
        )
    )
    assert sorted((r.job.number, r.status, len(r.paths)) for r in results) == [(1, "ok", 1), (2, "ok", 2)]
    assert all(Path(path).is_file() for r in results for path in r.paths)
    again = list(
        imagegate.run_batch(["a lighthouse"], isolated / "lib", provider="placeholder", size="32x32")
    )
    assert [r.status for r in again] == ["skipped"]


def test_library_batch_checks_every_job_before_running_any(isolated: Path) -> None:
    with pytest.raises(imagegate.UsageError, match="job 2: unknown key 'colour'"):
        imagegate.run_batch(
            ["fine", {"prompt": "x", "colour": "red"}], isolated / "lib", provider="placeholder"
        )
    assert not (isolated / "lib").exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_live_status_line(isolated: Path) -> None:
    from imagegate.cli.batch import BatchStatus
    from imagegate.jobs import Job, JobResult
    from imagegate.options import Asked

    now = [100.0]  # a fake clock: the status line's times do not depend on the machine's speed
    stream = Terminal()
    progress = BatchStatus(total=4, skipped=1, todo=3, concurrency=4, stream=stream, clock=lambda: now[0])
    job = Job(2, 3, Asked(prompt="p"), source="jobs.jsonl")
    now[0] += 4.0
    progress.finished(JobResult(job, "ok", [str(isolated / "002-p.png")], seconds=1.0))
    assert progress.status().endswith("done 2/4 · failed 0 · in flight 2 · 4 s elapsed · ETA 8 s")
    now[0] += 6.0
    progress.finished(JobResult(job, "failed", error="refused", exit_code=3))
    progress.close()
    text = stream.getvalue()
    assert "002-p.png" not in text  # successes only move the counters
    assert "failed jobs.jsonl line 3: refused (exit 3)" in text
    assert text.rstrip().endswith("done 2/4 · failed 1 · in flight 1 · 10 s elapsed · ETA 5 s")


def test_input_images_are_found_beside_the_jobs_file(cli, isolated: Path) -> None:
    from .support.helpers import png

    folder = isolated / "shoot"
    folder.mkdir()
    (folder / "photo.png").write_bytes(png(8, 8))
    jobs = write_jobs(folder / "jobs.jsonl", {"prompt": "make it night", "edit_images": "photo.png"})
    run = cli("batch", jobs, "--out-dir", isolated / "out", "--provider", "placeholder", "--dry-run")
    assert run.code == 0, run.err
    assert run.json["jobs"][0]["body"]["images"] == [str(folder / "photo.png")]


def test_ctrl_c_lets_jobs_in_flight_finish_and_records_them(
    cli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagegate import batch

    real_wait, calls = batch.wait, []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(batch, "wait", interrupted_once)
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "two", "three")
    run = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder", "--concurrency", "1")
    assert run.code == 130
    assert [job["status"] for job in run.json["jobs"]] == ["ok", "not run", "not run"]
    assert run.json["interrupted"] is True and "in flight finish first" in run.err
    rerun = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder")
    assert rerun.code == 0 and rerun.json["counts"] == {"ok": 2, "skipped": 1, "failed": 0, "not run": 0}


def test_a_moved_output_folder_still_resumes(cli, isolated: Path, provider: FaultServer) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", "one", {"prompt": "two", "out": "two.png"})
    assert cli("batch", jobs, "--out-dir", "first").code == 0
    (isolated / "first").rename(isolated / "moved")
    rerun = cli("batch", jobs, "--out-dir", "moved")
    assert rerun.code == 0 and rerun.json["counts"]["skipped"] == 2
    assert sorted(prompts(provider)) == ["one", "two"]


def test_quiet_batch_reports_only_failures_on_stderr(cli, isolated: Path, provider: FaultServer) -> None:
    answer_with(provider, lambda seen: refusal("no such model") if prompt(seen) == "bad" else None)
    jobs = write_jobs(isolated / "jobs.jsonl", "good", "bad", "later")
    run = cli("batch", jobs, "--out-dir", "out", "--quiet")
    assert run.code == 3
    assert run.err.strip().splitlines() == [line for line in run.err.strip().splitlines() if "failed" in line]
    assert len(run.err.strip().splitlines()) == 1
    assert run.json["counts"]["ok"] == 2


def test_batch_refuses_a_key_flag_without_echoing_it(cli, isolated: Path) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", "p")
    run = cli("batch", jobs, "--out-dir", "out", "--api-key", "sk-pasted-secret-value-123456")
    assert run.code == 2
    assert "never takes an API key" in run.err and "sk-pasted" not in run.err + run.out


def test_a_plain_text_line_is_a_prompt(cli, isolated: Path) -> None:
    (isolated / "jobs.txt").write_text("a plain prompt, no quotes\n", encoding="utf-8")
    run = cli(
        "batch", isolated / "jobs.txt", "--out-dir", "out", "--provider", "placeholder", "--size", "32x32"
    )
    assert run.code == 0, run.err
    assert [p.name for p in (isolated / "out").glob("*.png")] == ["001-a-plain-prompt-no-quotes.png"]


def test_an_existing_output_gets_a_hint_that_does_not_suggest_repaying_everything(
    cli, isolated: Path
) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "two")
    (isolated / "out").mkdir()
    (isolated / "out" / "002-two.png").write_bytes(b"someone else's file")
    run = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder", "--size", "32x32")
    assert run.code == 2
    assert "jobs.jsonl line 2: output" in run.err and run.err.count("jobs.jsonl line 2") == 1
    assert "--force would redo (and pay for) every job" in run.err


def test_an_out_outside_the_folder_is_named_once(cli, isolated: Path) -> None:
    jobs = write_jobs(isolated / "jobs.jsonl", {"prompt": "p", "out": "../escape.png"})
    run = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder")
    assert run.code == 2
    assert run.err.count("jobs.jsonl line 1") == 1 and "must be a file name inside" in run.err


def test_a_terminated_batch_exits_143(cli, isolated: Path, monkeypatch) -> None:
    from imagegate import batch
    from imagegate.errors import Interrupted

    real_wait, calls = batch.wait, []

    def wait_then_terminate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise Interrupted("terminated", exit_code=143)
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(batch, "wait", wait_then_terminate)
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "two", "three")
    run = cli(
        "batch",
        jobs,
        "--out-dir",
        "out",
        "--provider",
        "placeholder",
        "--size",
        "32x32",
        "--concurrency",
        "1",
    )
    assert run.code == 143
    assert run.json["counts"]["not run"] == 2


def test_a_failed_job_keeps_the_hints_naming_its_saved_images(
    cli, isolated: Path, make_config, requests_mock
) -> None:
    from .support.helpers import GEN, b64

    make_config()
    url = "https://cdn.example.test/two.png"
    requests_mock.post(GEN, json={"data": [{"b64_json": b64(png())}, {"url": url}]})
    requests_mock.get(url, status_code=500)
    jobs = write_jobs(isolated / "jobs.jsonl", {"prompt": "p", "n": 2, "out": "q.png"})
    run = cli("batch", jobs, "--out-dir", "out")
    assert run.code == 6
    (job,) = run.json["jobs"]
    assert any("were saved" in warning for warning in job["warnings"])
    assert any(url in warning for warning in job["warnings"])
