"""The command as a process at the edges: SIGTERM while an error is printed to a slow reader, and a
stdout that is closed or gone. Each ends with its documented exit code, never a traceback.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support.faultserver import error_reply, image_reply

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pipes and /proc")


def _imagegate(*args: str) -> list[str]:
    return [sys.executable, "-m", "imagegate", *args]


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is already full: the next write to it blocks until it is read."""
    read, write = os.pipe()
    flags = fcntl.fcntl(write, fcntl.F_GETFL)
    fcntl.fcntl(write, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(write, b"." * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(write, fcntl.F_SETFL, flags)
    return read, write


def _blocked_writing(pid: int, seconds: float = 60.0) -> bool:
    """Whether the process is (or gets, within ``seconds``) stuck writing to a pipe (polled)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if "pipe_write" in Path(f"/proc/{pid}/wchan").read_text():
                return True
        except OSError:
            return False
        time.sleep(0.02)
    return False


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_while_a_long_error_is_printed_exits_143_without_a_traceback(server) -> None:
    server.generations(error_reply(400, "A" * 250_000))
    read, write = _full_pipe()
    process = subprocess.Popen(
        _imagegate("--prompt", "p", "--out", "a.png"), stdout=subprocess.DEVNULL, stderr=write
    )
    os.close(write)
    try:
        assert _blocked_writing(process.pid), "the error line never blocked on the full pipe"
        process.send_signal(signal.SIGTERM)
        err = _drain(read).decode("utf-8", "replace")
        code = process.wait(timeout=60)
    finally:
        os.close(read)
        process.kill()
    assert code == 143, err[-2000:]
    assert "Traceback" not in err


def test_a_closed_stdout_still_names_the_saved_image_and_succeeds(server) -> None:
    server.generations(image_reply())
    read, write = os.pipe()
    os.close(read)  # nobody will ever read the result: writing it is a broken pipe
    done = subprocess.run(
        _imagegate("--prompt", "p", "--out", "a.png"),
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(write)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "could not be printed" in done.stderr
    assert str(Path.cwd() / "a.png") in done.stderr
    assert (Path.cwd() / "a.png").exists()


def test_no_stdout_at_all_still_succeeds(server) -> None:
    server.generations(image_reply())
    command = " ".join(_imagegate("--prompt", "p", "--out", "a.png")) + " >&-"
    done = subprocess.run(["sh", "-c", command], stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert str(Path.cwd() / "a.png") in done.stderr  # named, since stdout could not carry it
    assert (Path.cwd() / "a.png").exists()


def test_a_closed_stderr_keeps_the_exit_code(server) -> None:
    server.generations(error_reply(400, "no such model"))
    command = " ".join(_imagegate("--prompt", "p", "--out", "a.png")) + " 2>&-"
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
