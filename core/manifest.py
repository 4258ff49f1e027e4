"""A batch folder's manifest (which jobs are done, their files, its remote batches) and the lock of a
running batch.

The manifest is read as untrusted input: it may have been edited, truncated or replaced by
something that is not a file at all. Anything but a regular file holding the shape written here
(its ``done`` records and its ``remote`` part, every field: see :mod:`.manifest_shape`) is refused
with exit 2. It is rewritten atomically after each job, through a temporary file that is created
new (never a file or link already there).

One batch at a time runs in a folder: a second run refuses at once, before anything is checked or
sent, instead of paying for the jobs the first one is running.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import threading
from pathlib import Path
from typing import Any

from .errors import UsageError
from .manifest_shape import BATCH_STATES as BATCH_STATES  # re-exported: remote.py keeps a batch's state
from .manifest_shape import (
    JOURNAL_NAME,
    LOCK_NAME,
    is_own_name,
    record_problem,
    remote_problem,
)
from .manifest_shape import MANIFEST_NAME as MANIFEST_NAME  # re-exported: the batch command names it
from .secret import own
from .spool import signals_held, unlink_quietly

#: A manifest is a list of names; anything larger is not one (and would take long to read).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_WRITE_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_AFRESH = (
    "Move it aside to start the batch afresh; then move or delete the images it lists, or give "
    "the jobs other names (--force would pay for every job again)."
)
_REMOTE_HINT = (
    "Restore or fix its 'remote' part: it lists the batches submitted to the provider, and moving "
    "the manifest aside would submit (and pay for) their jobs again."
)


class Manifest:
    """The finished jobs of a batch folder (and its remote batches), rewritten atomically after each job.

    Past :attr:`JOURNAL_AT` finished jobs, each new one is appended to a journal beside the
    manifest instead (folded into it by the next :meth:`save`), so recording a job costs the same
    at 50,000 jobs as at 5. With ``lock`` (the default), the folder is locked for as long as the
    manifest is open: :meth:`close` (or the end of the process) releases it.
    """

    JOURNAL_AT = 500

    def __init__(self, path: Path, *, lock: bool = True) -> None:
        self.path = path
        own(path.parent)  # the batch's folder and files are shown as they are
        own(path)
        self.journal = path.with_name(JOURNAL_NAME)
        self._journaled = False
        self._lock = threading.Lock()
        self._folder_lock = FolderLock(path.parent) if lock else None
        try:
            self.done, self.remote = read_manifest(path)
            self._read_journal()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the folder's lock (another batch may run in it from now on)."""
        if self._folder_lock is not None:
            self._folder_lock.release()

    def _read_journal(self) -> None:
        """Fold in the jobs appended to the journal; a line cut off by a crash, or bad, is skipped."""
        try:
            text = _read_regular(self.journal)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _unreadable(self.journal, exc.strerror or str(exc)) from None
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                key = entry.pop("key")
            except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
                continue
            if isinstance(key, str) and record_problem(entry) is None:
                self.done[key] = entry
        self._journaled = bool(text)
        if text and not text.endswith("\n"):
            self._append_line("")  # the next record starts on a line of its own

    def finished(self, key: str) -> list[str] | None:
        """The paths a job made in an earlier run, if it finished and they are all still there."""
        record = self.done.get(key)
        if record is None or not record["paths"]:
            return None  # not done, or "done" with no image (as an older version could record): redo it
        folder = self.path.parent.resolve()
        paths = [self.path.parent / name for name in record["paths"]]
        if not all(_image_in(path, folder) for path in paths):
            return None  # gone, a folder now, or a link out of the folder: not this batch's image
        return [str(path) for path in paths]

    def record(self, key: str, job: Any, paths: list[str]) -> str | None:
        """Note a finished job; returns why it could not be written (disk full...), else None.

        The job's images are saved either way, so a failed write is a warning, not a failed job.
        """
        with self._lock:
            names = [os.path.relpath(path, self.path.parent) for path in paths]
            self.done[key] = {"line": job.line, "prompt": job.options.prompt[:200], "paths": names}
            if self._journaled or len(self.done) > self.JOURNAL_AT:
                return self._append_line(json.dumps({"key": key, **self.done[key]}))
            return self._write()

    def _append_line(self, line: str) -> str | None:
        """Append to the journal, never through a link planted at its name."""
        flags = (
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        try:
            fd = os.open(self.journal, flags, 0o644)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            return exc.strerror or str(exc)
        self._journaled = True
        return None

    def save(self) -> str | None:
        """Write the manifest now (the remote batches changed); returns why it could not be written."""
        with self._lock:
            return self._write()

    def _write(self) -> str | None:
        document: dict[str, Any] = {"version": 1, "done": self.done}
        if self.remote:
            document["remote"] = self.remote
        problem = write_new(self.path, json.dumps(document, indent=1))
        if problem is None and self._journaled:  # all it held is in the manifest now
            unlink_quietly(self.journal)
            self._journaled = False
        return problem


def write_new(path: Path, text: str) -> str | None:
    """Replace ``path`` with ``text`` through a temporary file made new (``O_EXCL``, no link followed).

    Returns why it failed, or None.
    """
    temporary = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        with signals_held():  # a small write: Ctrl-C waits for it, so no temp file is left
            fd = os.open(temporary, flags, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, path)
    except BaseException as exc:
        unlink_quietly(temporary)
        if not isinstance(exc, OSError):
            raise
        return exc.strerror or str(exc)
    return None


def read_manifest(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The ``done`` records (each checked) and ``remote`` batches of the manifest at ``path``."""
    try:
        text = _read_regular(path)
    except FileNotFoundError:
        return {}, {}
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _unreadable(path, "it is not valid JSON") from None
    done = document.get("done", {}) if isinstance(document, dict) else None
    if not isinstance(done, dict):
        raise _unreadable(path, "it is not a manifest (no 'done' object)")
    for key, record in done.items():
        problem = record_problem(record)
        if problem:
            raise _unreadable(path, f"its record {str(key)[:40]!r} {problem}")
    remote = document.get("remote", {})
    problem = remote_problem(remote)
    if problem:
        raise _unreadable(path, f"its 'remote' part {problem}", _REMOTE_HINT)
    return dict(done), dict(remote)


def _read_regular(path: Path) -> str:
    """The text of ``path`` if it is a regular file (not a link, FIFO or device), read from one descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)  # no blocking on a FIFO, no following a link
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise OSError(errno.EFBIG, f"it is larger than {MAX_MANIFEST_BYTES} bytes")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise OSError(errno.EINVAL, "it is not UTF-8 text") from None


def _image_in(path: Path, folder: Path) -> bool:
    """Whether ``path`` is a regular file inside ``folder`` (through links too) and not one of its own."""
    try:
        resolved = path.resolve()
        is_file = resolved.is_file()
    except (OSError, RuntimeError):  # a loop of links
        return False
    own = resolved.parent == folder and is_own_name(resolved.name)
    return is_file and resolved.is_relative_to(folder) and not own


def _unreadable(path: Path, reason: str, hint: str = _AFRESH) -> UsageError:
    return UsageError(f"cannot read the batch manifest {path}: {reason}", hints=(hint,))


class FolderLock:
    """An exclusive lock on a batch folder (``flock`` on ``.imagegate-batch.lock``), refused if held.

    The lock goes with the process: a crashed run leaves no stale lock. (Not on Windows.)
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot lock the batch folder {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise UsageError(
                f"another imagegate batch{holder} is running in {folder}; nothing was sent",
                hints=("Wait for it to finish, then run the same command again: finished jobs are skipped.",),
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor releases the flock

    def __del__(self) -> None:
        self.release()


def _holder(fd: int) -> str:
    """`` (process 1234)`` from the lock file, if it names one."""
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        if text.isdigit():
            return f" (process {int(text)})"
    return ""
