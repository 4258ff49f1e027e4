"""The provider's pace, shared by every call: rate-limit headers, 429 waits and a known rate.

One :class:`Pacer` is shared by every job of a batch (and used alone by a single call). Before a
request is sent it takes a slot from the pacer; after every answer the pacer reads the
``x-ratelimit-*`` headers (requests, images and tokens, as OpenAI sends them) and, on a 429,
``retry-after-ms`` / ``Retry-After``. While the provider says a window is spent, no job sends
until it refills; once the remaining requests are used up, sends are spaced at the rate the
headers imply (or the profile's ``rate_limit``, which paces from the first request).
:class:`Concurrency` is the batch's other half: how many jobs may be in flight, halved when 429s
come back and grown again one at a time while answers succeed, never above ``--concurrency``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .retry import retry_after

#: The windows a provider may report, as in ``x-ratelimit-remaining-<dimension>``.
DIMENSIONS = ("requests", "images", "tokens")
#: Dimensions counted in requests (one request uses about one): they decide the spacing of sends.
COUNTED = ("requests", "images")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_PERIODS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
#: What a profile's ``rate_limit`` looks like: ``5/min``, ``50/min``, ``2/s``, ``1000/day``.
RATE_PATTERN = r"^\s*\d+(\.\d+)?\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$"


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration as OpenAI sends it (``1s``, ``6m0s``, ``250ms``), or plain seconds."""
    value = text.strip().lower()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and math.isfinite(seconds) else None
    parts = _DURATION.findall(value)
    if not parts or "".join(number + unit for number, unit in parts) != value:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


@dataclass(frozen=True)
class Rate:
    """A known limit: ``count`` requests per ``period`` seconds."""

    count: float
    period: float

    @property
    def interval(self) -> float:
        """The spacing between sends that keeps to the rate."""
        return self.period / self.count

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}.get(self.period, f"{self.period:g}s")
        return f"{self.count:g}/{unit}"


def parse_rate(text: str) -> Rate:
    """A profile's ``rate_limit`` (``"5/min"``, ``"2/s"``); ValueError saying what is expected."""
    match = re.fullmatch(RATE_PATTERN, text)
    if match is None:
        raise ValueError(f"rate_limit {text[:40]!r}: expected requests per period, such as 5/min or 2/s")
    count_text, unit = (part.strip() for part in text.split("/"))
    count = float(count_text)
    if count <= 0:
        raise ValueError(f"rate_limit {text[:40]!r}: the number of requests must be above 0, such as 5/min")
    return Rate(count, _PERIODS[unit])


@dataclass(frozen=True)
class Window:
    """One rate-limit window from an answer's headers; None where the header is absent or unreadable."""

    dimension: str
    limit: float | None
    remaining: float | None
    reset: float | None  # seconds until the window is whole again

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def refill_interval(self) -> float | None:
        """Seconds per unit at which the window refills, when the headers allow working it out."""
        if self.limit is None or self.remaining is None or self.reset is None:
            return None
        used = self.limit - self.remaining
        return self.reset / used if used > 0 and self.reset > 0 else None

    def until_usable(self) -> float | None:
        """How long a spent window stays spent: one unit's refill for requests, the whole reset for tokens."""
        if not self.spent or self.reset is None:
            return None
        per_unit = self.refill_interval() if self.dimension in COUNTED else None
        return min(per_unit, self.reset) if per_unit is not None else self.reset


def read_windows(headers: Mapping[str, str]) -> list[Window]:
    """The rate-limit windows an answer reports (``x-ratelimit-{limit,remaining,reset}-<dimension>``)."""
    lowered = {str(key).lower(): str(value) for key, value in headers.items()}
    windows = []
    for dimension in DIMENSIONS:
        remaining = _number(lowered.get(f"x-ratelimit-remaining-{dimension}"))
        reset_text = lowered.get(f"x-ratelimit-reset-{dimension}")
        reset = parse_duration(reset_text) if reset_text is not None else None
        if remaining is None and reset is None:
            continue
        windows.append(
            Window(dimension, _number(lowered.get(f"x-ratelimit-limit-{dimension}")), remaining, reset)
        )
    return windows


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 and math.isfinite(value) else None


class Concurrency:
    """How many jobs of a batch may be in flight: halved on 429s, grown back one at a time on success.

    A wave of 429s answering requests that were all sent before the last cut halves it only once
    (as TCP halves its window once per loss event); after ``limit`` successes in a row it grows by
    one, never above ``ceiling`` (``--concurrency``).
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self._limit = self.ceiling
        self._lock = threading.Lock()
        self._cut_after = 0  # sends numbered up to this one were in flight at the last cut
        self._streak = 0

    @property
    def limit(self) -> int:
        with self._lock:
            return self._limit

    def refused(self, number: int, sent: int) -> None:
        """Send ``number`` was refused with a 429; ``sent`` sends have been made so far."""
        with self._lock:
            self._streak = 0
            if number > self._cut_after:
                self._limit = max(1, self._limit // 2)
                self._cut_after = sent

    def succeeded(self) -> None:
        with self._lock:
            self._streak += 1
            if self._streak >= self._limit and self._limit < self.ceiling:
                self._limit += 1
                self._streak = 0


@dataclass(frozen=True)
class Ticket:
    """One send's place in the pacer's order (sends are numbered from 1)."""

    number: int


class Pacer:
    """When the next request may be sent, learned from what the provider says; thread-safe.

    ``clock`` and ``sleep`` default to the monotonic clock and ``time.sleep``; tests pass fakes.
    """

    def __init__(
        self,
        rate: Rate | None = None,
        *,
        concurrency: Concurrency | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.concurrency = concurrency
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._not_before = 0.0  # no send before this time (a 429's wait, a spent window)
        self._last_slot = -math.inf
        self._learned = 0.0  # the spacing the headers imply once the remaining requests are used up
        self._credit = math.inf  # requests the provider still allows before spacing applies
        self._sent = 0
        self._newest = 0  # the newest send whose answer was read
        self.refused = 0  # 429s seen (rate limits only)

    @property
    def sent(self) -> int:
        with self._lock:
            return self._sent

    def set_rate(self, rate: Rate | None) -> None:
        """Pace at a known rate from now on (a batch's jobs may name a profile that has one)."""
        with self._lock:
            if rate is not None and (self.rate is None or rate.interval > self.rate.interval):
                self.rate = rate

    def _interval(self) -> float:
        return max(self.rate.interval if self.rate else 0.0, self._learned)

    def _slot(self, now: float) -> float:
        start = max(now, self._not_before)
        if self.rate is None and self._credit > 0:
            return start
        return max(start, self._last_slot + self._interval())

    def delay(self) -> float:
        """How long a send would have to wait now (nothing is reserved)."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._slot(now) - now)

    def hold(self, seconds: float) -> None:
        """No send within the next ``seconds`` (a shorter hold never shortens a longer one)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def acquire(self, budget: float) -> Ticket | None:
        """Wait for this send's slot and take it; None (after waiting ``budget``) if it is further off."""
        with self._lock:
            now = self._clock()
            slot = self._slot(now)
            if slot - now > budget:
                pause, ticket = budget, None
            else:
                self._last_slot, self._sent = slot, self._sent + 1
                self._credit -= 1
                pause, ticket = slot - now, Ticket(self._sent)
        if pause > 0:
            self._sleep(pause)
        return ticket

    def wait(self, budget: float) -> float:
        """Sleep until a send may start, at most ``budget`` seconds; returns the time slept."""
        started = self._clock()
        self.acquire(budget)
        return self._clock() - started

    def observe(self, ticket: Ticket | None, status: int, headers: Mapping[str, str]) -> float | None:
        """Learn from an answer's headers; for a 429 (a rate limit), the wait it asks for, if it says."""
        windows = read_windows(headers)
        limited = status == 429
        with self._lock:
            number = ticket.number if ticket else self._sent
            self._learn(windows, number)
            wait = retry_after(headers) if limited else None
            if limited:
                self.refused += 1
                self._credit = 0
                if wait is None:
                    wait = max((w.until_usable() or 0.0 for w in windows), default=0.0) or None
                if wait is not None:
                    self._not_before = max(self._not_before, self._clock() + wait)
        if self.concurrency is not None:
            if limited:
                self.concurrency.refused(number, self.sent)
            elif 200 <= status < 300:
                self.concurrency.succeeded()
        return wait

    def _learn(self, windows: list[Window], number: int) -> None:
        """Update the spacing, the remaining credit and any hold from the newest answer's windows."""
        now = self._clock()
        for window in windows:
            interval = window.refill_interval() if window.dimension in COUNTED else None
            if interval is not None:
                self._learned = interval
            wait = window.until_usable()
            if wait is not None:
                self._not_before = max(self._not_before, now + wait)
        if number < self._newest:
            return  # an older answer than one already read: its count is stale
        self._newest = number
        counted = [w.remaining for w in windows if w.dimension in COUNTED and w.remaining is not None]
        if counted:
            # sends made after this one were not yet counted by the provider when it answered
            self._credit = max(0.0, min(counted) - (self._sent - number))
