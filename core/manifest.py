"""The manifest of a batch folder: which jobs are done (and where their images are), and its remote batches.

It is rewritten atomically after each finished job, so a crash loses nothing that was paid for;
past :attr:`Manifest.JOURNAL_AT` jobs, each new one is appended to a journal beside it instead.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .spool import unlink_quietly

if TYPE_CHECKING:
    from .batch import Job

MANIFEST_NAME = ".imagegate-batch.json"


class Manifest:
    """The finished jobs of a batch folder, rewritten atomically after each one.

    Past :attr:`JOURNAL_AT` finished jobs, each new one is appended to a journal beside the
    manifest instead (folded into it by the next :meth:`save`), so recording a job costs the same
    at 50,000 jobs as at 5.
    """

    JOURNAL_AT = 500

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = path.with_name(path.name + ".journal")
        self._journaled = False
        self._lock = threading.Lock()
        self.done: dict[str, dict[str, Any]] = {}
        self.remote: dict[str, Any] = {}  # the provider's batches (batch --remote), kept by remote.py
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            self.done = dict(document.get("done", {}))
            self.remote = dict(document.get("remote", {}))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"cannot read the batch manifest {path}: {exc}",
                hints=(
                    "Move it aside to start the batch afresh; then move or delete the images it "
                    "lists, or give the jobs other names (--force would pay for every job again).",
                ),
            ) from None
        self._read_journal()

    def _read_journal(self) -> None:
        """Fold in the jobs appended to the journal; a line cut off by a crash is skipped."""
        try:
            text = self.journal.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                self.done[str(entry.pop("key"))] = entry
            except (ValueError, KeyError, AttributeError, TypeError):
                continue
        self._journaled = bool(text)
        if text and not text.endswith("\n"):
            self._append_line("")  # the next record starts on a line of its own

    def finished(self, key: str) -> list[str] | None:
        """The paths a job made in an earlier run, if it finished and they are all still there."""
        record = self.done.get(key)
        if record is None:
            return None
        paths = [self.path.parent / name for name in record["paths"]]
        return [str(path) for path in paths] if all(path.exists() for path in paths) else None

    def record(self, key: str, job: Job, paths: list[str]) -> str | None:
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
        try:
            with open(self.journal, "a", encoding="utf-8") as handle:
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
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            unlink_quietly(temporary)
            return exc.strerror or str(exc)
        if self._journaled:  # all it held is in the manifest now
            unlink_quietly(self.journal)
            self._journaled = False
        return None
