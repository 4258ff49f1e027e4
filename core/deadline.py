"""A total deadline for one call: every wait and every read takes its time from the same budget.

Checking the clock between reads is not enough when a server drips its headers or stalls inside
one read, so a deadline can also be *armed*: when it passes, a timer runs the registered
callbacks (which cut the call's connections), and the blocked read returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import NetworkError


class Deadline:
    """Expires ``seconds`` after creation; ``remaining()`` is what any step may still spend."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.expires = self.started + seconds
        self._lock = threading.Lock()
        self._on_expiry: list[Callable[[], None]] = []
        self._timer: threading.Timer | None = None
        #: Whether the timer ran the callbacks (sockets were cut): an empty read then is no real end.
        self.fired = False

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def expired(self) -> bool:
        return time.monotonic() >= self.expires

    def check(self, what: str, *, sent: bool) -> None:
        """Raise NetworkError if the deadline passed; ``sent`` says whether the provider may have billed."""
        if self.expired():
            raise timeout_error(self.seconds, what, sent=sent)

    def on_expiry(self, callback: Callable[[], None]) -> None:
        """Register ``callback`` to run if the deadline passes while armed."""
        with self._lock:
            self._on_expiry.append(callback)

    def arm(self) -> None:
        """Start the timer that runs the callbacks when the deadline passes (a network step begins)."""
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(self.remaining(), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def disarm(self) -> None:
        """Stop the timer (the network step ended); the callbacks stay for the next step."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            callbacks, self._timer = list(self._on_expiry), None
            self.fired = True
        for callback in callbacks:
            callback()


def timeout_error(seconds: float, what: str, *, sent: bool) -> NetworkError:
    """The message for a call that ran out of time, honest about possible billing."""
    hints = ["Raise --timeout (high-quality images can take 2-3 minutes)."]
    if sent:
        hints.insert(
            0,
            "The request was sent: the provider may have made and billed the image. "
            "It was not retried, so you are not charged twice; "
            "check your provider's usage page before retrying.",
        )
    return NetworkError(f"timed out after {seconds:g} s while {what}", hints=hints)
