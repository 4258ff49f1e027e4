"""What the command shows on stderr while a call runs: short notes, and elapsed seconds on a terminal.

The ticking clock appears only when stderr is a terminal, so agents' logs stay clean; ``quiet``
silences everything here (errors are printed elsewhere and are never silenced).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from .untrusted import HINT_LIMIT, untrusted

DEFAULT_INTERVAL = 1.0

#: Where a stage sends a one-line note for the user (``Progress.note``, or nothing).
Notify = Callable[[str], None]


class Ticker:
    """The clock's label, which a call may change while the clock runs (a polled job's status)."""

    def __init__(self, what: str) -> None:
        self.what = what


class Progress:
    """Notes and a ticking clock on one stream (stderr by default)."""

    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, interval: float = DEFAULT_INTERVAL
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.interval = interval
        self._lock = threading.Lock()
        self._line = ""  # the clock's text currently shown, to be erased before anything else

    @classmethod
    def silent(cls) -> Progress:
        """A Progress that shows nothing (the library's default: it never writes to stderr)."""
        return cls(quiet=True)

    @property
    def live(self) -> bool:
        """Whether the clock may tick: not quiet, and the stream is a terminal."""
        if self.quiet:
            return False
        isatty = getattr(self.stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except (OSError, ValueError):
            return False

    def note(self, message: str) -> None:
        """One line of progress (unless quiet); what a provider put in it (a job's status) is made inert."""
        if self.quiet:
            return
        with self._lock:
            self._erase()
            self.stream.write(untrusted(message, HINT_LIMIT) + "\n")
            self.stream.flush()

    @contextlib.contextmanager
    def waiting(self, what: str = "waiting for the provider") -> Iterator[Ticker]:
        """While the block runs, show ``what: N s`` once a second on a terminal; nothing elsewhere."""
        ticker = Ticker(what)
        if not self.live:
            yield ticker
            return
        stop = threading.Event()
        started = time.monotonic()
        thread = threading.Thread(target=self._tick, args=(ticker, started, stop), daemon=True)
        thread.start()
        try:
            yield ticker
        finally:
            stop.set()
            thread.join()
            with self._lock:
                self._erase()
                self.stream.flush()

    def _tick(self, ticker: Ticker, started: float, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            with self._lock:
                text = f"{untrusted(ticker.what, 200)}: {time.monotonic() - started:.0f} s"
                self.stream.write("\r" + text.ljust(len(self._line)))
                self.stream.flush()
                self._line = text

    def _erase(self) -> None:
        if self._line:
            self.stream.write("\r" + " " * len(self._line) + "\r")
            self._line = ""
