"""A total deadline for one call: every wait and every read takes its time from the same budget."""

from __future__ import annotations

import time

from .errors import NetworkError


class Deadline:
    """Expires ``seconds`` after creation; ``remaining()`` is what any step may still spend."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.expires = self.started + seconds

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
