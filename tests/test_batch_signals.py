"""Signals sent to a real ``imagegate batch`` process at the moments they used to hurt: while the
jobs wait for their answers, while their images arrive (a temp file open), two signals close
together, a third one while the batch stops. Each run ends with 130 (Ctrl-C) or 143 (SIGTERM),
no traceback, no partial file, and a summary that says what the folder and the manifest hold.

The fake provider holds each answer at a point the test chooses (before its headers, or halfway
through its image) until the test lets it go; the test moves on when the provider or the process
says a moment has come (a request arrived, a temp file exists, a line on stderr), never on a timer.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from imagegate.manifest import Manifest

from .support.faultserver import local_config
from .support.helpers import b64, png

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: How long any one moment may take to come before the test fails (never waited when all is well).
PATIENCE = 30.0
#: The image every answer carries: large enough that half of its base64 already fills a temp file.
IMAGE = png(256, 256)


class HeldProvider:
    """An OpenAI-style generations endpoint on 127.0.0.1 that holds answers where it is told.

    ``hold[prompt]`` is ``"before"`` (nothing is answered until released) or ``"midway"`` (the
    headers and half of the image's base64 are sent, then the rest once released); any other
    prompt is answered at once. ``release(prompt)`` lets a held answer go on.
    """

    def __init__(self, hold: dict[str, str]) -> None:
        self.hold = hold
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def event(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def reached(self, name: str) -> None:
        assert self.event(name).wait(PATIENCE), f"the provider never reached {name!r}"

    def release(self, prompt: str) -> None:
        self.event(f"release {prompt}").set()

    def release_all(self) -> None:
        for prompt in self.hold:
            self.release(prompt)

    def close(self) -> None:
        self.release_all()
        self._server.shutdown()
        self._server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, prompt: str) -> None:
        body = json.dumps({"created": 1, "data": [{"b64_json": b64(IMAGE)}]}).encode()
        self.event(f"asked {prompt}").set()
        how = self.hold.get(prompt)
        if how == "before":
            self.event(f"release {prompt}").wait(PATIENCE)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if how == "midway":
            half = len(body) // 2
            handler.wfile.write(body[:half])
            handler.wfile.flush()
            self.event(f"midway {prompt}").set()
            self.event(f"release {prompt}").wait(PATIENCE)
            body = body[half:]
        handler.wfile.write(body)
        handler.wfile.flush()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the batch left it
                    provider.answer(self, json.loads(body)["prompt"])

        return Handler


class Batch:
    """``imagegate batch`` as a process, its stderr read line by line as it comes."""

    def __init__(self, work: Path, prompts: list[str]) -> None:
        jobs = work / "jobs.jsonl"
        jobs.write_text("".join(json.dumps(p) + "\n" for p in prompts), encoding="utf-8")
        self.out = work / "out"
        command = [sys.executable, "-m", "imagegate", "batch", str(jobs), "--out-dir", str(self.out)]
        self.process = subprocess.Popen(
            [*command, "--concurrency", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.err.append(line)
            self.lines.put(line)
        self.lines.put("")  # the end

    def says(self, *starts: str) -> str:
        """Wait for the next line of stderr that starts with one of ``starts``."""
        end = time.monotonic() + PATIENCE
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(starts):
                return line
            assert line, f"imagegate ended without saying {starts}: {''.join(self.err)}"
        raise AssertionError(f"imagegate never said {starts}: {''.join(self.err)}")

    def send(self, *signums: int) -> None:
        for signum in signums:
            self.process.send_signal(signum)

    def temp_files(self) -> list[Path]:
        return sorted(self.out.glob(".*.part"))

    def wait_for_temp_files(self, count: int) -> None:
        """Wait until ``count`` temp files exist: the images are arriving (polled, not timed)."""
        end = time.monotonic() + PATIENCE
        while len(self.temp_files()) < count and time.monotonic() < end:
            time.sleep(0.01)
        assert len(self.temp_files()) == count, (self.temp_files(), "".join(self.err))

    def end(self) -> tuple[int, dict[str, Any], str]:
        """The exit code, the JSON summary and stderr, once the process has ended."""
        stdout, _ = self.process.communicate(timeout=PATIENCE)
        self.lines.get(timeout=PATIENCE)  # stderr is read to its end
        return self.process.returncode, json.loads(stdout), "".join(self.err)


@pytest.fixture
def held(make_config) -> Iterator[Any]:
    """``held(hold)``: a HeldProvider the default config points at (closed after the test)."""
    made: list[HeldProvider] = []

    def make(hold: dict[str, str]) -> HeldProvider:
        provider = HeldProvider(hold)
        local_config(make_config, provider)  # type: ignore[arg-type]  # it only needs base_url
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def statuses(summary: dict[str, Any]) -> dict[int, str]:
    return {job["job"]: job["status"] for job in summary["jobs"]}


def assert_clean(batch: Batch, err: str) -> None:
    """No partial file, no traceback, no internal error; the summary agrees with the manifest."""
    assert batch.temp_files() == [], err
    for words in ("Traceback", "Exception ignored", "internal error"):
        assert words not in err, err


def assert_summary_is_true(batch: Batch, summary: dict[str, Any]) -> None:
    """Every job the summary calls ok has its image and its manifest record; no other job has."""
    recorded = {
        name
        for record in Manifest(batch.out / ".imagegate-batch.json", lock=False).done.values()
        for name in record["paths"]
    }
    reported = set()
    for job in summary["jobs"]:
        if job["status"] == "ok":
            (path,) = job["paths"]
            assert Path(path).is_file()
            reported.add(Path(path).name)
    assert reported == recorded
    images = {p.name for p in batch.out.iterdir() if p.suffix == ".png"}
    assert images == recorded  # no image was saved that the summary does not name


@pytest.mark.parametrize(("third", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_third_signal_while_images_arrive_leaves_no_partial_file_and_no_traceback(
    held, isolated: Path, third: int, code: int
) -> None:
    provider = held({"one": "midway", "two": "midway"})
    batch = Batch(isolated, ["one", "two", "three", "four"])
    try:
        provider.reached("midway one")
        provider.reached("midway two")
        batch.wait_for_temp_files(2)  # both images are arriving: a temp file each
        batch.send(signal.SIGINT)
        batch.says("interrupted: the 2 job(s) in flight finish first")
        batch.send(signal.SIGINT)
        batch.says("stopping:", "[")  # (the job lines: what imagegate 0ad0e2d said instead)
        batch.send(third)
        batch.says("stopping already:", "hint:")  # heard, while the images are still held midway
    finally:
        provider.release_all()
    exit_code, summary, err = batch.end()
    assert exit_code == code, err
    assert_clean(batch, err)
    assert statuses(summary) == {1: "ok", 2: "ok", 3: "not run", 4: "not run"}
    assert_summary_is_true(batch, summary)
    assert "stopping: 2 job(s) save the images arriving first\n" in err


@pytest.mark.parametrize(
    ("signals", "code"),
    [((signal.SIGINT, signal.SIGTERM), 143), ((signal.SIGTERM, signal.SIGINT), 143)],
)
def test_two_close_signals_stop_waiting_for_answers_at_once(
    held, isolated: Path, signals: tuple[int, int], code: int
) -> None:
    provider = held({"one": "before", "two": "before"})
    batch = Batch(isolated, ["one", "two", "three", "four"])
    try:
        provider.reached("asked one")
        provider.reached("asked two")
        batch.send(*signals)  # back to back, while the batch waits for both answers
        exit_code, summary, err = batch.end()  # while the provider still holds both answers
    finally:
        provider.release_all()
    assert exit_code == code, err
    assert_clean(batch, err)
    assert statuses(summary) == {1: "failed", 2: "failed", 3: "not run", 4: "not run"}
    for job in summary["jobs"][:2]:
        assert (
            job["error"].startswith("interrupted while in flight: it may be paid for")
            and job["exit_code"] == code
        )
    assert_summary_is_true(batch, summary)


def test_a_second_ctrl_c_saves_the_image_arriving_and_leaves_the_job_still_waiting(
    held, isolated: Path
) -> None:
    provider = held({"one": "midway", "two": "before"})
    batch = Batch(isolated, ["one", "two", "three"])
    try:
        provider.reached("asked two")
        provider.reached("midway one")
        batch.wait_for_temp_files(1)
        batch.send(signal.SIGINT)
        batch.says("interrupted:")
        batch.send(signal.SIGINT)
        line = batch.says("stopping:", "[")
        provider.release("one")  # job two's answer stays held: the batch ends without it
        exit_code, summary, err = batch.end()
    finally:
        provider.release_all()
    assert exit_code == 130, err
    assert_clean(batch, err)
    assert "1 job(s) save the images arriving first" in line and "1 job(s) in flight are left" in line
    assert statuses(summary) == {1: "ok", 2: "failed", 3: "not run"}
    assert_summary_is_true(batch, summary)
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagegate",
            "batch",
            str(isolated / "jobs.jsonl"),
            "--out-dir",
            str(batch.out),
        ],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["counts"] == {"ok": 2, "skipped": 1, "failed": 0, "not run": 0}


def test_a_library_batch_gives_the_signal_handlers_back(isolated: Path) -> None:
    import imagegate

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    results = list(imagegate.run_batch(["a kite"], "kites", provider="placeholder", size="32x32"))
    assert [result.status for result in results] == ["ok"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
