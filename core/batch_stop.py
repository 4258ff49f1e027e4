"""How a batch stops: Ctrl-C and SIGTERM only noted while it runs, and the gate that keeps a job
the batch stopped waiting for from writing any file.

A signal handler that raises can land anywhere, inside the wait's own locking too; a note cannot.
The batch takes the noted signals between its steps (see :mod:`imagegate.batch`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import EXIT_TERMINATED, STOP_SIGNALS, Interrupted
from .output import OutputPlan
from .spool import FileSpool

_active: NotedSignals | None = None  # the one in effect (in the main thread), which a batch within reuses


@contextlib.contextmanager
def noted_signals() -> Iterator[NotedSignals]:
    """While the block runs, Ctrl-C and SIGTERM are only noted (see :class:`NotedSignals`).

    The command holds them this way from the first job to its summary; the batch inside reuses it.
    """
    global _active
    main = threading.current_thread() is threading.main_thread()  # the only thread handlers run in
    if main and _active is not None:
        yield _active
        return
    with NotedSignals() as signals:
        _active = signals if main else _active
        try:
            yield signals
        finally:
            _active = None if main else _active


def stronger(first: KeyboardInterrupt | None, then: KeyboardInterrupt) -> KeyboardInterrupt:
    """The interruption to end with: the first one, unless a SIGTERM came later (exit 143 wins)."""
    if first is None or getattr(then, "exit_code", None) == EXIT_TERMINATED:
        return then
    return first


class NotedSignals:
    """Ctrl-C and SIGTERM while a batch runs: their handlers only note them; the batch takes them.

    A handler that raises can land anywhere, inside the wait's own locking too; a note cannot.
    Only handlers written in Python are replaced (in the main thread), and :meth:`take` turns a
    noted signal into what that handler raises (KeyboardInterrupt, or the CLI's SIGTERM
    Interrupted). A signal noted but not taken when the batch ends normally is delivered then.
    """

    def __init__(self) -> None:
        self.noted: list[int | KeyboardInterrupt] = []
        self._previous: dict[int, Callable[[int, Any], Any]] = {}

    def __enter__(self) -> NotedSignals:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                handler = signal.getsignal(number)
                if callable(handler):
                    self._previous[number] = handler
                    signal.signal(number, self._note)
        return self

    def _note(self, signum: int, frame: object) -> None:
        self.noted.append(signum)

    def add(self, stop: KeyboardInterrupt) -> None:
        self.noted.append(stop)

    def take(self) -> KeyboardInterrupt | None:
        """The interruption of the oldest signal not taken yet, or None."""
        while self.noted:
            entry = self.noted.pop(0)
            if isinstance(entry, KeyboardInterrupt):
                return entry
            try:
                self._previous[entry](entry, None)
            except KeyboardInterrupt as stop:
                return stop
        return None

    def last_word(self, stop: KeyboardInterrupt | None) -> KeyboardInterrupt | None:
        """What a run that has ended answers to: ``stop``, or a signal noted since (SIGTERM wins)."""
        while (late := self.take()) is not None:
            stop = stronger(stop, late)
        return stop

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        with contextlib.suppress(ValueError):  # not the main thread any more: nothing was replaced
            for number, handler in self._previous.items():
                signal.signal(number, handler)
        if kind is None and (stop := self.take()) is not None:
            raise stop


class JobFiles:
    """Which jobs began writing files; once closed (the batch stopped waiting), no other job begins.

    A job that began is waited for, so it never leaves a temp file; one that had not is left, and
    can no longer write anything, so it never leaves a temp file either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._writing: set[int] = set()

    def begin(self, number: int) -> None:
        with self._lock:
            if self._closed and number not in self._writing:
                raise Interrupted("interrupted before this job's images arrived")
            self._writing.add(number)

    def allows(self, number: int) -> bool:
        """Whether the batch still waits for the job."""
        with self._lock:
            return not self._closed or number in self._writing

    def end(self, number: int) -> None:
        with self._lock:
            self._writing.discard(number)

    def close(self) -> set[int]:
        """Let no other job begin; the jobs writing now."""
        with self._lock:
            self._closed = True
            return set(self._writing)


@dataclass
class GatedPlan(OutputPlan):
    """A job's output plan whose temp files are made only while the batch lets the job write."""

    number: int = 0
    files: JobFiles | None = None

    def new_spool(self, index: int) -> FileSpool:
        if self.files is not None:
            self.files.begin(self.number)
        return super().new_spool(index)
