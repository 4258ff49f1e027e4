"""A batch folder's manifest (which jobs are done, their files, its remote batches) and the lock of a
running batch.

The manifest is read as untrusted input: it may have been edited, truncated or replaced by
something that is not a file at all. Anything but a regular file holding the shape written here
(its ``done`` records and its ``remote`` part, every field) is refused with exit 2, and no record
may name a file outside its folder or one of the folder's own files (the manifest, its journal,
its lock). It is rewritten
atomically after each job, through a temporary file that is created new (never a file or link
already there).

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
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import UsageError
from .inputs import path_problem
from .options import row
from .spool import signals_held, unlink_quietly

MANIFEST_NAME = ".imagegate-batch.json"
LOCK_NAME = ".imagegate-batch.lock"
JOURNAL_NAME = MANIFEST_NAME + ".journal"
#: The folder's own files: never a job's image (compared ignoring case, as some file systems do).
OWN_NAMES = frozenset(name.casefold() for name in (MANIFEST_NAME, JOURNAL_NAME, LOCK_NAME))
#: A remote batch's life in the manifest: being created (unconfirmed), created, read to the end.
BATCH_STATES = ("creating", "running", "collected")
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
            if isinstance(key, str) and _record_problem(entry) is None:
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
        problem = _record_problem(record)
        if problem:
            raise _unreadable(path, f"its record {str(key)[:40]!r} {problem}")
    remote = document.get("remote", {})
    problem = _remote_problem(remote)
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


def _record_problem(record: Any) -> str | None:
    """Why a manifest record cannot be trusted, or None: it must list names inside the folder."""
    if not isinstance(record, dict):
        return "is not an object"
    paths = record.get("paths")
    if not isinstance(paths, list) or not all(isinstance(name, str) and name for name in paths):
        return "has no list of file names ('paths')"
    for name in paths:
        problem = _name_problem(name)
        if problem:
            return problem
    return None


def _name_problem(name: str) -> str | None:
    """Why ``name`` (relative to the folder) cannot be a file this batch made, or None."""
    shown = repr(name[:80])
    impossible = path_problem(name)
    if impossible is not None:
        return f"names no possible file ({shown} {impossible})"
    flavours = (PurePosixPath(name), PureWindowsPath(name))
    if any(flavour.is_absolute() or ".." in flavour.parts for flavour in flavours):
        return f"names a file outside the folder ({shown})"
    if any(len(flavour.parts) == 1 and is_own_name(flavour.name) for flavour in flavours):
        return f"names the batch's own {shown}, not an image"
    return None


def is_own_name(name: str) -> bool:
    """Whether a file name in a batch folder is one of its own files (manifest, journal, lock)."""
    return name.casefold() in OWN_NAMES


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


# -- the remote part: what remote.py writes of each batch, and remote_lines.job_record of each job --

Check = tuple[Callable[[Any], bool], str]  # a test of a field's value, and what it must be
_KINDS = {str: "a string", bool: "true or false", dict: "an object"}


def _is(kind: type, *, empty: bool = True, none: bool = False) -> Check:
    def test(value: Any) -> bool:
        if value is None:
            return none
        if isinstance(value, bool) != (kind is bool):  # true is not a number, 1 is not true
            return False
        return isinstance(value, kind) and (empty or bool(value))

    what = _KINDS[kind] if empty else f"a non-empty {_KINDS[kind].split()[-1]}"
    return test, what + (" or null" if none else "")


def _whole(low: int, high: int | None = None, *, none: bool = False) -> Check:
    def test(value: Any) -> bool:
        if value is None:
            return none
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole and value >= low and (high is None or value <= high)

    what = f"a whole number from {low}" + (f" to {high}" if high is not None else "")
    return test, what + (" or null" if none else "")


_IMAGES = int(row("n").high or 1)  # the most images one job asks for
_JOB_FIELDS: dict[str, Check] = {
    "key": _is(str, empty=False),
    "job": _whole(1),
    "line": _whole(1),
    "out": _is(str, empty=False),
    "count": _whole(1, _IMAGES),
    "force": _is(bool),
    "source": _is(str),
    "prompt": _is(str),
    # written since a later version, for the spend ledger: absent in older manifests
    "model": _is(str, none=True),
    "operation": _is(str, none=True),
    "size": _is(str, none=True),
    "quality": _is(str, none=True),
    "n": _whole(1, _IMAGES, none=True),
}
_BATCH_FIELDS: dict[str, Check] = {
    "input_file_id": _is(str, empty=False),
    "group": _is(str, none=True),
    "status": _is(str, none=True),
    "counts": _is(dict, none=True),
}
_SOURCE_KEYS = ("config", "profile", "provider")


def _remote_problem(remote: Any) -> str | None:
    """Why the ``remote`` part is not what imagegate writes (uploaded file ids, batches), or None."""
    if not isinstance(remote, dict):
        return "is not an object"
    uploads = remote.get("uploads", {})
    if not isinstance(uploads, dict) or not all(isinstance(v, str) and v for v in uploads.values()):
        return "holds 'uploads' that are not an object of file ids"
    batches = remote.get("batches", [])
    if not isinstance(batches, list):
        return "holds 'batches' that are not a list"
    for number, entry in enumerate(batches, start=1):
        problem = _batch_problem(entry)
        if problem:
            return f"holds a batch (number {number}) {problem}"
    return None


def _batch_problem(entry: Any) -> str | None:
    """What is wrong with one batch entry (``that ...`` or ``whose ...``), or None."""
    if not isinstance(entry, dict):
        return "that is not an object"
    state = entry.get("state")
    if state not in BATCH_STATES:
        return f"whose 'state' is not one of {', '.join(BATCH_STATES)}"
    batch_id = entry.get("id")
    if not (isinstance(batch_id, str) and batch_id) and not (batch_id is None and state == BATCH_STATES[0]):
        return "whose 'id' is not a non-empty string (null only while it is being created)"
    problem = _fields_problem(entry, _BATCH_FIELDS) or _source_problem(entry.get("source"))
    if problem:
        return problem
    jobs = entry.get("jobs")
    if not isinstance(jobs, dict):
        return "whose 'jobs' is not an object"
    for custom_id, record in jobs.items():
        problem = _job_problem(record)
        if problem:
            return f"holds a job {custom_id[:40]!r} {problem}"
    return None


def _source_problem(source: Any) -> str | None:
    """The config, profile and provider a batch was made with: each a string or null."""
    if not isinstance(source, dict) or sorted(source) != sorted(_SOURCE_KEYS):
        return f"whose 'source' is not an object of {', '.join(_SOURCE_KEYS)}"
    if not all(value is None or isinstance(value, str) for value in source.values()):
        return "whose 'source' holds a value that is not a string or null"
    config = source["config"]
    impossible = None if config is None else path_problem(config)
    return None if impossible is None else f"whose 'source' config {config[:80]!r} {impossible}"


def _job_problem(record: Any) -> str | None:
    """What is wrong with the record of one submitted job (``that ...`` or ``whose ...``), or None."""
    if not isinstance(record, dict):
        return "that is not an object"
    problem = _fields_problem(record, _JOB_FIELDS)
    if problem:
        return problem
    problem = _name_problem(record["out"])
    return None if problem is None else f"whose 'out' {problem}"


def _fields_problem(record: dict[str, Any], fields: dict[str, Check]) -> str | None:
    for name, (test, what) in fields.items():
        if not test(record.get(name)):
            return f"whose {name!r} is not {what}"
    return None


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
