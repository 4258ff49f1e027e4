"""Paid work is never lost: images kept on any failure, Ctrl-C or SIGTERM; no temp file remains;
every fault is one message and its exit code (the audit's findings on paid images and inputs)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from imagegate import batch, dispatch, spool
from imagegate import jobs as batch_jobs
from imagegate.adapter import Adapter
from imagegate.keep import Previews
from imagegate.output import OutputPlan
from imagegate.providers.openai import OpenAIAdapter
from imagegate.spool import rescue_dir

from .support.faultserver import Reply, configured_server, image_reply
from .support.helpers import FullDisk, b64, images_answer, png

BASE = "https://api.example.test/v1"
GEN = f"{BASE}/images/generations"
EDITS = f"{BASE}/images/edits"


@pytest.fixture
def server(make_config):
    yield from configured_server(make_config)


def write_jobs(path: Path, *prompts: str) -> Path:
    """A jobs file of plain prompt lines."""
    path.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    return path


def leftovers(*folders: Path) -> list[str]:
    return sorted(p.name for folder in folders if folder.exists() for p in folder.rglob("*.part"))


# -- item 2: each complete image is kept, and named, whatever stops the call ----------------------


def test_both_images_are_rescued_and_named_when_the_folder_vanishes_mid_answer(
    cli, server, isolated, monkeypatch
) -> None:
    first, second = png(5, 5), png(6, 6)
    server.generations(image_reply(first, second))
    opened = spool.FileSpool._open

    def open_then_remove(directory, stem):
        result = opened(directory, stem)
        if directory == isolated / "out":
            shutil.rmtree(directory)  # image 1's handle stays open; image 2 must go elsewhere
        return result

    monkeypatch.setattr(spool.FileSpool, "_open", staticmethod(open_then_remove))
    run = cli("--prompt", "p", "--n", "2", "--out", "out/kite.png")
    assert run.code == 7, run.err
    rescued = rescue_dir()
    assert (rescued / "kite.png").read_bytes() == first
    assert (rescued / "kite-2.png").read_bytes() == second  # image 2 keeps its own name
    assert str(rescued / "kite.png") in run.err and str(rescued / "kite-2.png") in run.err
    assert "out/kite-2.png" in run.err  # where image 2 was meant to go
    assert leftovers(isolated, rescued) == []


def test_ctrl_c_while_a_url_image_downloads_keeps_the_image_that_arrived(
    cli, make_config, requests_mock, isolated, monkeypatch
) -> None:
    make_config()
    requests_mock.post(GEN, json={"data": [{"b64_json": b64(png(4, 4))}, {"url": "https://cdn.test/2.png"}]})

    def interrupted(url, target, **kwargs):
        target.write(b"\x89PNG\r\n\x1a\n half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(dispatch, "download", interrupted)
    run = cli("--prompt", "p", "--n", "2", "--out", "kite.png")
    assert run.code == 130
    assert (isolated / "kite.png").read_bytes() == png(4, 4)
    assert not (isolated / "kite-2.png").exists()
    assert "error: interrupted" in run.err and str(isolated / "kite.png") in run.err
    assert leftovers(isolated) == []


def test_ctrl_c_while_the_second_image_is_decoded_keeps_the_first(
    cli, make_config, requests_mock, isolated, monkeypatch
) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png(4, 4), png(8, 8)))
    written = spool.FileSpool._write

    def stop_on_second(self, data):
        if self.path.name.startswith(".kite-2."):
            raise KeyboardInterrupt
        written(self, data)

    monkeypatch.setattr(spool.FileSpool, "_write", stop_on_second)
    run = cli("--prompt", "p", "--n", "2", "--out", "kite.png")
    assert run.code == 130
    assert (isolated / "kite.png").read_bytes() == png(4, 4)
    assert str(isolated / "kite.png") in run.err
    assert leftovers(isolated) == []


def test_a_broken_answer_after_a_whole_image_keeps_that_image(cli, server, isolated) -> None:
    body = images_answer(png(4, 4), png(8, 8))
    body["data"][1]["b64_json"] = "not base64!"
    server.generations(Reply(body=body))
    run = cli("--prompt", "p", "--n", "2", "--out", "kite.png")
    assert run.code == 6
    assert (isolated / "kite.png").read_bytes() == png(4, 4)
    assert str(isolated / "kite.png") in run.err
    assert leftovers(isolated) == []


# -- item 8 (and 2): SIGTERM cleans up like Ctrl-C ------------------------------------------------


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while not predicate() and time.monotonic() < end:
        time.sleep(0.02)
    return predicate()


def test_sigterm_keeps_the_finished_image_and_leaves_no_temp_file(server, isolated) -> None:
    # A slow drip, so that the SIGTERM lands mid-answer even on a loaded machine.
    server.generations(Reply(body=images_answer(png(4, 4), png(30, 30)), drip=0.02))
    command = [sys.executable, "-m", "imagegate", "--prompt", "p", "--n", "2", "--out", "kite.png"]
    process = subprocess.Popen(command, cwd=isolated, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # image 2's temp file exists: image 1 arrived whole, image 2 is on its way
        assert _wait_for(lambda: any(isolated.glob(".kite-2.*.part")))
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    assert b"error: terminated" in err and str(isolated / "kite.png").encode() in err
    assert (isolated / "kite.png").read_bytes() == png(4, 4)
    assert leftovers(isolated) == []


def test_the_sigterm_handler_is_restored_after_the_command(cli, make_config) -> None:
    before = signal.getsignal(signal.SIGTERM)
    cli("--prompt", "p", "--provider", "placeholder", "--dry-run")
    assert signal.getsignal(signal.SIGTERM) is before


# -- item 3: only finite, sensible timeouts -------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-1", "0", "86401"])
def test_an_impossible_timeout_flag_is_refused_before_sending(cli, make_config, requests_mock, value) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "x.png", "--timeout", value)
    assert run.code == 2, run.err
    assert "--timeout" in run.err and "internal error" not in run.err
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("text", ["1e999", "NaN", "100000"])
def test_an_impossible_timeout_in_the_config_is_refused(cli, config_dir, requests_mock, text) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "config.json"
    document = f'{{"api_key": "sk-test-abcdefghijklmnop", "base_url": "{BASE}", "timeout": {text}}}'
    path.write_text(document)
    path.chmod(0o600)
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 2, run.err
    assert requests_mock.call_count == 0


def test_a_day_long_timeout_is_accepted(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "x.png", "--timeout", "86400").code == 0


# -- item 6: a full disk everywhere is exit 7, not an internal error ------------------------------


def test_an_image_that_fits_nowhere_is_exit_7_and_leaves_nothing(cli, server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(9, 9)))
    opened = spool.FileSpool._open

    def open_full(directory, stem):
        path, handle = opened(directory, stem)
        return path, FullDisk(handle)

    monkeypatch.setattr(spool.FileSpool, "_open", staticmethod(open_full))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 7, run.err
    assert "could not be saved anywhere" in run.err and "No space left" in run.err
    assert "internal error" not in run.err
    assert leftovers(isolated, rescue_dir()) == []


def test_no_room_even_for_the_rescue_spool_is_exit_7(cli, server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(9, 9)))

    def no_room(directory, stem):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool.FileSpool, "_open", staticmethod(no_room))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 7, run.err
    assert "could not be saved anywhere" in run.err


# -- item 5: a manifest that cannot be written is a warning, not a crash --------------------------


def test_a_manifest_that_cannot_be_written_warns_and_keeps_the_images(cli, isolated, monkeypatch) -> None:
    real_execute = batch.execute

    def manifest_becomes_a_folder(*args, **kwargs):
        (isolated / "out" / batch.MANIFEST_NAME).mkdir(exist_ok=True)
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(batch, "execute", manifest_becomes_a_folder)
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "two")
    run = cli("batch", jobs, "--out-dir", "out", "--provider", "placeholder", "--size", "64x64")
    assert run.code == 0, run.err
    assert run.json["counts"]["ok"] == 2
    for job in run.json["jobs"]:
        assert Path(job["paths"][0]).is_file()
        assert "not recorded in the manifest" in job["warnings"][-1]
    assert "not recorded in the manifest" in run.err
    assert [p.name for p in (isolated / "out").iterdir() if p.name.endswith(".tmp")] == []


# -- item 13: a second Ctrl-C still gives the whole summary ---------------------------------------


def test_a_second_ctrl_c_lists_finished_and_unstarted_jobs(cli, isolated, monkeypatch) -> None:
    real_wait, calls = batch.wait, []

    def interrupted_twice(running, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_wait(running)  # the job in flight finishes, then the second Ctrl-C comes
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "wait", interrupted_twice)
    jobs = write_jobs(isolated / "jobs.jsonl", "one", "two", "three")
    run = cli(
        "batch",
        jobs,
        "--out-dir",
        "out",
        "--provider",
        "placeholder",
        "--size",
        "64x64",
        "--concurrency",
        "1",
    )
    assert run.code == 130
    assert [job["status"] for job in run.json["jobs"]] == ["ok", "not run", "not run"]
    assert run.json["counts"] == {"ok": 1, "skipped": 0, "failed": 0, "not run": 2}


def test_a_job_still_in_flight_at_a_second_ctrl_c_is_reported(monkeypatch, isolated) -> None:
    release = threading.Event()

    def slow_job(item, manifest, *pacing):
        release.wait(10)
        return batch_jobs.JobResult(item.job, "ok", [])

    calls = []

    def interrupted_twice(running, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_run_one", slow_job)
    monkeypatch.setattr(batch, "_start", lambda item, pacers: (None, 0))  # no call behind these jobs
    monkeypatch.setattr(batch, "wait", interrupted_twice)
    jobs = [batch_jobs.Job(n, n, batch_jobs.Asked(prompt=f"p{n}")) for n in (1, 2)]
    todo = [batch_jobs.Planned(job, None, None, str(job.number)) for job in jobs]  # type: ignore[arg-type]
    results = []
    try:
        with pytest.raises(KeyboardInterrupt):
            for result in batch.run_jobs(todo, batch.Manifest(isolated / "m.json"), concurrency=1):
                results.append(result)
    finally:
        release.set()
    assert [(r.job.number, r.status) for r in results] == [(1, "failed"), (2, "not run")]
    assert "in flight" in results[0].error and results[0].exit_code == 130


# -- item 14: bad text and odd files are refused cleanly ------------------------------------------


def test_a_prompt_with_undecodable_bytes_is_refused(cli, make_config, requests_mock, isolated) -> None:
    make_config()
    (isolated / "in.png").write_bytes(png())
    requests_mock.post(EDITS, json=images_answer(png()))
    run = cli("--prompt", "caf\udce9", "--edit-image", "in.png", "--out", "x.png")
    assert run.code == 2, run.err
    assert "not valid UTF-8" in run.err and requests_mock.call_count == 0


def test_a_prompt_file_on_stdin_that_is_not_utf8_is_refused(
    cli, make_config, requests_mock, monkeypatch
) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    stdin = io.TextIOWrapper(io.BytesIO(b"caf\xe9 au lait\n"), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    run = cli("--prompt-file", "-", "--out", "x.png")
    assert run.code == 2, run.err
    assert "--prompt-file -: not UTF-8 text" in run.err and requests_mock.call_count == 0


def test_a_prompt_file_on_stdin_in_utf8_is_read(cli, make_config, requests_mock, monkeypatch) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("café\n".encode()), encoding="utf-8"))
    run = cli("--prompt-file", "-", "--out", "x.png")
    assert run.code == 0, run.err
    assert requests_mock.last_request.json()["prompt"] == "café"


def test_a_prompt_file_on_a_closed_stdin_is_a_usage_error(cli, make_config, monkeypatch) -> None:
    make_config()
    monkeypatch.setattr(sys, "stdin", None)
    run = cli("--prompt-file", "-", "--out", "x.png")
    assert run.code == 2, run.err
    assert "no standard input" in run.err


@pytest.mark.parametrize("flag", ["--edit-image", "--mask"])
def test_a_pipe_as_an_input_image_is_refused_not_read(cli, make_config, isolated, flag) -> None:
    make_config()
    (isolated / "in.png").write_bytes(png())
    fifo = isolated / "pipe.png"
    os.mkfifo(fifo)

    def feed() -> None:  # without the check the read would wait for this writer
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as writer:
            writer.write(b"not an image")

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        args = (
            ["--edit-image", "pipe.png"]
            if flag == "--edit-image"
            else ["--edit-image", "in.png", "--mask", "pipe.png"]
        )
        run = cli("--prompt", "p", *args, "--out", "x.png")
    finally:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # let the writer go
        feeder.join(5)
    assert run.code == 2, run.err
    assert f"{flag} pipe.png: not a regular file" in run.err


# -- item 16: the request id is the adapter's business ---------------------------------------------


def test_the_request_id_comes_from_the_adapter(cli, make_config, requests_mock, monkeypatch) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()), headers={"X-Request-Id": "abc"})
    assert cli("--prompt", "p", "--out", "a.png").json["request_id"] == "abc"
    monkeypatch.setattr(
        OpenAIAdapter, "request_id", lambda self, headers: f"via hook {headers['x-request-id']}"
    )
    assert cli("--prompt", "p", "--out", "b.png").json["request_id"] == "via hook abc"


def test_only_the_contract_names_the_request_id_header_and_its_default_reads_it() -> None:
    core = Path(dispatch.__file__).parent
    naming = [p.name for p in core.glob("*.py") if "x-request-id" in p.read_text().lower()]
    assert naming == ["adapter.py"]
    assert Adapter.request_id(None, {"X-Request-Id": "r"}) == "r"  # type: ignore[arg-type]
    assert Adapter.request_id(None, {"content-type": "image/png"}) is None  # type: ignore[arg-type]


def test_the_style_help_names_no_model(cli) -> None:
    run = cli("--help")
    assert "dall-e" not in run.out and "for models that have it" in run.out


# -- item 17: previews leave no temp file; the placeholder draws sensible sizes --------------------


def test_an_interrupted_preview_leaves_no_temp_file(isolated, monkeypatch) -> None:
    def interrupted(self, spool, index, info=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(OutputPlan, "commit", interrupted)
    previews = Previews(OutputPlan(isolated / "kite.png", 1), 1, lambda text: None)
    preview = spool.MemorySpool()
    preview.write(png())
    with pytest.raises(KeyboardInterrupt):
        previews.save(preview, 0.1)
    assert leftovers(isolated) == []


def test_the_placeholder_refuses_a_huge_size(cli, isolated) -> None:
    run = cli("--provider", "placeholder", "--prompt", "p", "--size", "99999x99999", "--out", "x.png")
    assert run.code == 2, run.err
    assert "at most 8192" in run.err and not (isolated / "x.png").exists()


def test_the_placeholder_accepts_its_largest_size(cli) -> None:
    run = cli("--provider", "placeholder", "--prompt", "p", "--size", "8192x8192", "--dry-run")
    assert run.code == 0, run.err
