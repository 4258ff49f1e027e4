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

from . import retry
from .options import RATE
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
#: Sends this close together may reach the provider in either order: each is taken as uncounted by the other.
SAME_TIME = 0.05
#: A send waiting for the bucket to refill goes this much later (a fraction of the refill interval,
#: within the bounds below), as the provider counts from when the request arrives, a moment later.
MARGIN, MARGIN_MIN, MARGIN_CAP = 0.02, 0.005, 0.05
#: How long after sending a request the provider is taken to count it (at most; half the answer's time).
ARRIVAL = 0.05


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
    match = re.fullmatch(RATE, text)
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


def _default_sleep(seconds: float) -> None:
    """``retry._sleep`` while it is the suite's seam for recording waits of whole calls, else time.sleep."""
    getattr(retry, "_sleep", time.sleep)(seconds)


class Concurrency:
    """How many jobs of a batch may be in flight: halved on 429s, grown back one at a time on success.

    A wave of 429s answering requests that were all sent before the last cut halves it only once
    (as TCP halves its window once per loss event); each success grows it by one, never above
    ``ceiling`` (``--concurrency``). Jobs waiting for the pacer send nothing, so growing back
    quickly costs no refusals, while a slow provider needs many jobs in flight to keep its pace.
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self._limit = self.ceiling
        self._lock = threading.Lock()
        self._cut_after = 0  # sends numbered up to this one were in flight at the last cut

    @property
    def limit(self) -> int:
        with self._lock:
            return self._limit

    def refused(self, number: int, sent: int) -> None:
        """Send ``number`` was refused with a 429; ``sent`` sends have been made so far."""
        with self._lock:
            if number > self._cut_after:
                self._limit = max(1, self._limit // 2)
                self._cut_after = sent

    def succeeded(self) -> None:
        with self._lock:
            self._limit = min(self.ceiling, self._limit + 1)


@dataclass(frozen=True)
class Ticket:
    """One send's place in the pacer's order (sends are numbered from 1)."""

    number: int


@dataclass
class Bucket:
    """A model of a provider's token bucket: ``tokens`` at time ``at``, refilling ``refill`` a second."""

    capacity: float
    refill: float
    tokens: float
    at: float

    def level(self, when: float) -> float:
        return min(self.capacity, self.tokens + max(0.0, when - self.at) * self.refill)

    def ready(self, start: float) -> float:
        """The earliest time from ``start`` (and from the last send) at which a request is available."""
        base = max(start, self.at)
        level = self.level(base)
        if level >= 1 or self.refill <= 0:
            return base
        interval = 1 / self.refill  # plus a margin: a send that arrives a moment early is refused
        return base + (1 - level) * interval + min(MARGIN_CAP, max(MARGIN_MIN, MARGIN * interval))

    def take(self, when: float) -> None:
        self.tokens, self.at = self.level(when) - 1, when


class Pacer:
    """When the next request may be sent, learned from what the provider says; thread-safe.

    It keeps a model of the provider's bucket from the newest answer's headers (what remains,
    how fast it refills, sends made since), holds every send while a 429's wait or a spent window
    lasts, and with a known ``rate`` also spaces sends evenly from the first one.
    ``clock`` and ``sleep`` default to the monotonic clock and ``time.sleep``; tests pass fakes.
    """

    def __init__(
        self,
        rate: Rate | None = None,
        *,
        concurrency: Concurrency | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self._clock, self._sleep = clock, sleep or _default_sleep
        self._lock = threading.Lock()
        self._not_before = 0.0  # no send before this time (a 429's wait, a spent window)
        self._last_slot = -math.inf
        self._paced: Bucket | None = None  # the known rate: one request at a time, evenly spaced
        self._learned: Bucket | None = None  # the provider's bucket, as its headers describe it
        self._sent = 0
        self._outstanding: dict[int, float] = {}  # sends not yet answered: number -> when sent
        self._newest = 0  # the newest send whose answer was read
        self._generation = 0  # moves on whenever what the pacer knows changes
        self.refused = 0  # 429s seen (rate limits only)
        self.set_rate(rate)

    @property
    def sent(self) -> int:
        with self._lock:
            return self._sent

    def set_rate(self, rate: Rate | None) -> None:
        """Pace at a known rate from now on (the slower one wins if two are set)."""
        if rate is None:
            return
        with self._lock:
            if self._paced is None or 1 / rate.interval < self._paced.refill:
                self._paced = Bucket(1.0, 1 / rate.interval, 1.0, self._clock())

    def _slot(self, now: float) -> float:
        slot = max(now, self._not_before, self._last_slot)
        for bucket in (self._paced, self._learned):
            if bucket is not None:
                slot = bucket.ready(slot)
        return slot

    def delay(self) -> float:
        """How long a send would have to wait now (nothing is reserved)."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._slot(now) - now)

    def hold(self, seconds: float) -> None:
        """No send within the next ``seconds`` (a shorter hold never shortens a longer one)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)
            self._generation += 1

    def acquire(self, budget: float) -> Ticket | None:
        """Wait for a slot and take it; None (after waiting ``budget``) if none comes within it.

        A slot is taken only when it has come, by the pacer's latest knowledge: an answer that
        arrives meanwhile (a 429, fewer requests remaining) moves every waiting send.
        """
        left = budget  # counted by what was slept, so an injected sleep that keeps no time still ends
        slept_for: tuple[int, float] | None = None
        while True:
            with self._lock:
                now = self._clock()
                slot = self._slot(now)
                if slot <= now or slept_for == (self._generation, slot):
                    return self._take(now)  # its time has come, and nothing was learnt meanwhile
                pause = min(slot - now, left)
                slept_for = (self._generation, slot)
            if pause <= 0:
                return None
            self._sleep(pause)
            left -= pause
            if left <= 0 and slot - now > pause:
                return None

    def _take(self, now: float) -> Ticket:
        for bucket in (self._paced, self._learned):
            if bucket is not None:
                bucket.take(now)
        self._generation += 1
        self._last_slot, self._sent = now, self._sent + 1
        self._outstanding[self._sent] = now
        return Ticket(self._sent)

    def wait(self, budget: float) -> float:
        """Sleep until a send may start, at most ``budget`` seconds; returns the time slept."""
        started = self._clock()
        self.acquire(budget)
        return self._clock() - started

    def observe(self, ticket: Ticket | None, status: int, headers: Mapping[str, str]) -> float | None:
        """Learn from an answer's headers; for a 429 (a rate limit), the wait it asks for, if it says."""
        limited = status == 429
        windows = read_windows(headers)
        with self._lock:
            number = ticket.number if ticket else self._sent
            now = self._clock()
            self._generation += 1
            sent = self._outstanding.pop(number, now)
            sent_at = sent + min(ARRIVAL, (now - sent) / 2)  # about when the provider counted it
            if limited and self._learned is not None and number > self._newest:
                self._learned.tokens += 1  # counted as spent when sent; a refused request spends nothing
            self._learn(windows, number, sent_at, now)
            wait = retry_after(headers) if limited else None
            if limited:
                self.refused += 1
                if wait is None and self._learned is not None:
                    wait = max(0.0, self._learned.ready(now) - now) or None
                if wait is not None:
                    self._not_before = max(self._not_before, now + wait)
        if self.concurrency is not None:
            if limited:
                self.concurrency.refused(number, self.sent)
            elif 200 <= status < 300:
                self.concurrency.succeeded()
        return wait

    def _learn(self, windows: list[Window], number: int, sent_at: float, now: float) -> None:
        """Update the model of the provider's bucket, and any hold, from the newest answer's windows.

        The provider counted what remained when the request arrived (about ``sent_at``): sends made
        after it (or at about the same time) were not yet counted, and the bucket refills from then.
        """
        counted = [w for w in windows if w.dimension in COUNTED and w.remaining is not None]
        for window in windows:
            if window.dimension not in COUNTED or window.refill_interval() is None:
                wait = window.until_usable()  # tokens, or a window whose refill cannot be worked out
                if wait is not None:
                    self._not_before = max(self._not_before, now + wait)
        if number < self._newest or not counted:
            return  # an older answer than one already read: its count is stale
        self._newest = number
        window = min(counted, key=lambda w: w.remaining or 0.0)
        interval = window.refill_interval()
        refill = 1 / interval if interval else (self._learned.refill if self._learned else 0.0)
        capacity = window.limit if window.limit is not None else math.inf
        close = sum(1 for n, at in self._outstanding.items() if n < number and at >= sent_at - SAME_TIME)
        uncounted = self._sent - number + close
        self._learned = Bucket(capacity, refill, (window.remaining or 0.0) - uncounted, sent_at)
        for old in [n for n, at in self._outstanding.items() if at < now - 600]:
            del self._outstanding[old]  # a send that never got an answer (its connection failed)
