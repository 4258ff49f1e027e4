"""When to retry and how long to wait (the pace all calls share is :mod:`imagegate.pacing`).

Only what cannot have been billed is retried: connection failures before the request was sent,
429 rate limits (not an exhausted quota) and 503. A timeout or other 5xx after sending is
reported instead, because the provider may already have made (and charged for) the image.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_RETRIES = 2
DEFAULT_MAX_WAIT = 60.0
RETRYABLE_STATUS = frozenset({429, 503})
#: The first backoff wait in seconds (then doubling, up to BACKOFF_CAP); tests make it tiny.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
#: How a call's own pacer sleeps when it is given none; a module attribute so tests of the whole
#: call path (which cannot reach the pacer) can record waits instead of waiting.
_sleep = time.sleep


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and the longest wait accepted before giving up and saying so."""

    retries: int = DEFAULT_RETRIES
    max_wait: float = DEFAULT_MAX_WAIT

    def backoff(self, attempt: int) -> float:
        """Jittered exponential backoff for attempt 0, 1, 2...: about 0.5 s, 1 s, 2 s... up to 8 s."""
        return min(BACKOFF_BASE * 2**attempt, BACKOFF_CAP) * (1 - 0.25 * random.random())


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``Retry-After`` seconds or date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get("retry-after-ms")
    if value is not None:
        try:
            seconds = float(value) / 1000
            if seconds >= 0:
                return seconds
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
