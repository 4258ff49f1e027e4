"""imagegate says what blocked it: a network the OS refuses, an output folder it may not write.

Sandboxes (Codex's among them) refuse a socket with EPERM or EACCES before anything is sent, and
mount folders read-only (EROFS). The OS error is raised at the socket and file boundary, and the
message is checked end to end through the CLI.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from imagegate import retry

from .support.faultserver import FaultServer, image_reply

BLOCKED = "network access is blocked here (a sandbox?); nothing was sent, nothing was billed"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits the retry logic asked for (nothing is really slept)."""
    asked: list[float] = []
    monkeypatch.setattr(retry, "_sleep", asked.append)
    return asked


def refuse_connect(monkeypatch, error: OSError) -> None:
    """Every outgoing connect fails with ``error``, as the kernel (or a seccomp filter) answers it."""

    def connect(self: socket.socket, address: Any) -> None:
        raise error

    monkeypatch.setattr(socket.socket, "connect", connect)


def refuse_new_sockets(monkeypatch) -> None:
    """Creating a socket fails with EPERM, as Codex's Linux sandbox does without network access."""
    real_init = socket.socket.__init__

    def init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("fileno") is None and len(args) < 4:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "__init__", init)


@pytest.mark.parametrize(
    "block",
    [
        lambda mp: refuse_connect(mp, PermissionError(errno.EPERM, os.strerror(errno.EPERM))),
        lambda mp: refuse_connect(mp, PermissionError(errno.EACCES, os.strerror(errno.EACCES))),
        refuse_new_sockets,
    ],
    ids=["EPERM at connect", "EACCES at connect", "EPERM at socket()"],
)
def test_a_connection_the_system_refuses_is_exit_5_saying_nothing_was_sent_or_billed(
    block, cli, server: FaultServer, waits, monkeypatch
) -> None:
    server.generations(image_reply())
    block(monkeypatch)
    run = cli("--prompt", "a red kite", "--out", "kite.png")
    assert run.code == 5
    assert run.err.splitlines()[0] == f"error: could not connect to http://127.0.0.1:{server.port}: {BLOCKED}"
    assert "retrying" not in run.err and "Traceback" not in run.err
    assert waits == []
    assert server.seen == []
    assert run.out == ""


def test_a_connection_refused_by_the_other_side_is_still_retried_and_not_called_blocked(
    cli, server: FaultServer, waits, monkeypatch
) -> None:
    refuse_connect(monkeypatch, ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED)))
    run = cli("--prompt", "a red kite", "--out", "kite.png")
    assert run.code == 5
    assert len(waits) == 2
    assert "blocked" not in run.err


def refuse_files_in(monkeypatch, folder: Path, error: OSError) -> None:
    """Creating a file in ``folder`` fails with ``error``, at the file boundary imagegate uses."""
    real = tempfile.TemporaryFile

    def temporary_file(*args: Any, **kwargs: Any) -> Any:
        if Path(kwargs.get("dir") or ".").resolve() == folder.resolve():
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr("imagegate.output.tempfile.TemporaryFile", temporary_file)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.EROFS, os.strerror(errno.EROFS)), "the file system is read-only (a read-only sandbox"),
        (
            PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
            "permission denied (the folder's permissions",
        ),
        (
            PermissionError(errno.EPERM, os.strerror(errno.EPERM)),
            "or a sandbox that allows writing only elsewhere",
        ),
    ],
    ids=["EROFS", "EACCES", "EPERM"],
)
def test_an_output_folder_that_cannot_be_written_is_named_with_its_cause_before_any_request(
    error: OSError, reason: str, cli, server: FaultServer, isolated: Path, monkeypatch
) -> None:
    server.generations(image_reply())
    refuse_files_in(monkeypatch, isolated, error)
    run = cli("--prompt", "a red kite", "--out", str(isolated / "kite.png"))
    assert run.code == 2
    first = run.err.splitlines()[0]
    assert first.startswith(f"error: cannot write into {isolated}: ") and reason in first
    assert first.endswith("; nothing was sent")
    assert "hint: Save into a folder this command may write" in run.err
    assert server.seen == []
    assert not list(isolated.iterdir())


def test_an_output_folder_that_cannot_be_created_on_a_read_only_file_system_says_so(
    cli, server: FaultServer, isolated: Path, monkeypatch
) -> None:
    server.generations(image_reply())
    target = isolated / "renders"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self == target:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    run = cli("--prompt", "a red kite", "--out", str(target / "kite.png"))
    assert run.code == 2
    assert run.err.splitlines()[0] == (
        f"error: cannot create output folder {target}: the file system is read-only "
        "(a read-only sandbox or mount?); nothing was sent"
    )
    assert "must run outside the sandbox" in run.err
    assert server.seen == []


def test_a_really_read_only_folder_is_refused_with_the_read_only_message(isolated: Path) -> None:
    """The same through a real read-only bind mount, where this machine allows a private one."""
    folder = isolated / "mounted"
    folder.mkdir()
    mount = f"mount --bind -o ro '{folder}' '{folder}'"
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True, check=False).returncode
    ):
        pytest.skip("this machine does not allow a private read-only mount")
    command = [sys.executable, "-m", "imagegate", "--provider", "placeholder", "--prompt", "x"]
    command += ["--out", str(folder / "x.png")]
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$@"', "sh", *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines()[0] == (
        f"error: cannot write into {folder}: the file system is read-only (a read-only sandbox or mount?); "
        "nothing was sent"
    )
