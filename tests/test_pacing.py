"""The pacer: rate-limit headers, 429 waits and a known rate decide when the next request is sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.pacing import Concurrency, Pacer, Rate, Ticket, parse_duration, parse_rate, read_windows

from .support.ratelimit import TokenBucket, go_duration


class Clock:
    """A fake monotonic clock whose sleep moves time on at once."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def near(seconds: float) -> object:
    """A wait of about ``seconds``: a refill wait has a small safety margin on top."""
    return pytest.approx(seconds, abs=0.011)


def pacer(rate: Rate | None = None, concurrency: Concurrency | None = None) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(rate, concurrency=concurrency, clock=clock, sleep=clock.sleep), clock


def headers(remaining: int, reset: str, limit: int = 4, dimension: str = "requests") -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{dimension}": str(limit),
        f"x-ratelimit-remaining-{dimension}": str(remaining),
        f"x-ratelimit-reset-{dimension}": reset,
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("250ms", 0.25),
        ("1h2m3s", 3723.0),
        ("0.5s", 0.5),
        ("2", 2.0),
        ("20ms", 0.02),
    ],
)
def test_durations_are_read_as_openai_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "-1", "1s later", "nan", "s"])
def test_unreadable_durations_are_none(text: str) -> None:
    assert parse_duration(text) is None


@given(st.floats(min_value=0, max_value=7200, allow_nan=False))
def test_a_duration_survives_the_round_trip_through_its_header_text(seconds: float) -> None:
    assert parse_duration(go_duration(seconds)) == pytest.approx(seconds, abs=0.001)


@pytest.mark.parametrize(
    ("text", "interval"), [("5/min", 12.0), ("50/min", 1.2), ("2/s", 0.5), (" 100 / hour ", 36.0)]
)
def test_a_profile_rate_limit_becomes_the_spacing_between_sends(text: str, interval: float) -> None:
    assert parse_rate(text).interval == pytest.approx(interval)


@pytest.mark.parametrize("text", ["five/min", "5 per min", "0/s", "5/fortnight", "5", "/min"])
def test_a_bad_rate_limit_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="such as 5/min"):
        parse_rate(text)


def test_windows_are_read_for_each_dimension_the_answer_reports() -> None:
    answer = {"X-RateLimit-Remaining-Requests": "3", "x-ratelimit-reset-requests": "750ms"}
    answer |= headers(0, "6m0s", limit=40000, dimension="tokens")
    windows = {window.dimension: window for window in read_windows(answer)}
    assert set(windows) == {"requests", "tokens"}
    assert (windows["requests"].remaining, windows["requests"].reset, windows["requests"].limit) == (
        3,
        0.75,
        None,
    )
    assert windows["tokens"].spent and windows["tokens"].reset == 360


def test_unreadable_window_values_are_ignored_not_trusted() -> None:
    (window,) = read_windows({"x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "1s"})
    assert window.remaining is None and not window.spent


def test_without_any_information_every_request_goes_at_once() -> None:
    shared, clock = pacer()
    tickets = [shared.acquire(10) for _ in range(5)]
    assert [t.number for t in tickets if t] == [1, 2, 3, 4, 5] and clock.slept == []


def test_a_spent_window_holds_every_send_until_one_request_refills() -> None:
    shared, clock = pacer()
    ticket = shared.acquire(10)
    shared.observe(ticket, 200, headers(0, "1s"))  # 4 per second: one request back in 250 ms
    assert shared.delay() == near(0.25)
    shared.acquire(10)
    assert clock.slept == [near(0.25)]


def test_once_the_remaining_requests_are_used_sends_are_spaced_at_the_refill_rate() -> None:
    shared, clock = pacer()
    shared.observe(shared.acquire(10), 200, headers(2, "500ms"))
    for _ in range(2):
        shared.acquire(10)
    assert clock.slept == []
    shared.acquire(10)
    shared.acquire(10)
    assert clock.slept == [near(0.25), near(0.25)]


def test_a_429_with_retry_after_pauses_every_job_that_shares_the_pacer() -> None:
    shared, clock = pacer()
    first, second = shared.acquire(10), shared.acquire(10)
    assert shared.observe(first, 429, {"Retry-After": "2"}) == 2
    assert shared.delay() == pytest.approx(2)
    assert shared.refused == 1
    shared.observe(second, 200, {})
    shared.acquire(10)
    assert clock.slept == [pytest.approx(2)]


def test_retry_after_ms_is_preferred_to_whole_seconds() -> None:
    shared, _ = pacer()
    assert shared.observe(shared.acquire(10), 429, {"retry-after-ms": "300", "retry-after": "1"}) == 0.3


def test_a_429_without_retry_after_waits_as_its_windows_say() -> None:
    shared, _ = pacer()
    assert shared.observe(shared.acquire(10), 429, headers(0, "1s")) == near(0.25)


def test_a_429_that_says_nothing_leaves_the_wait_to_the_caller() -> None:
    shared, _ = pacer()
    assert shared.observe(shared.acquire(10), 429, {}) is None


def test_a_spent_token_window_holds_until_it_is_whole_again() -> None:
    shared, _ = pacer()
    shared.observe(shared.acquire(10), 200, headers(0, "6m0s", limit=40000, dimension="tokens"))
    assert shared.delay() == pytest.approx(360)


def test_a_known_rate_paces_from_the_first_request() -> None:
    shared, clock = pacer(parse_rate("2/s"))
    for _ in range(3):
        shared.acquire(10)
    assert clock.slept == [near(0.5), near(0.5)]


def test_a_slot_past_the_budget_is_not_taken() -> None:
    shared, clock = pacer(parse_rate("5/min"))
    shared.acquire(60)
    assert shared.acquire(3) is None
    assert clock.slept == [3] and shared.sent == 1
    assert shared.acquire(60) is not None and shared.sent == 2


def test_an_older_answer_does_not_give_back_requests_a_newer_one_used() -> None:
    shared, clock = pacer()
    first = shared.acquire(10)
    clock.now += 1
    second = shared.acquire(10)
    shared.observe(second, 200, headers(0, "1s"))
    shared.observe(first, 200, headers(3, "250ms"))
    shared.acquire(10)
    assert clock.slept == [near(0.25)]


def test_the_modelled_bucket_refills_while_sends_wait() -> None:
    shared, clock = pacer()
    shared.observe(shared.acquire(10), 200, headers(0, "1s"))
    clock.now += 10  # long after: the provider's bucket is whole again (4), no more
    for _ in range(5):
        shared.acquire(10)
    assert clock.slept == [near(0.25)]


def test_a_refused_request_is_not_counted_as_spent() -> None:
    shared, clock = pacer()
    shared.observe(shared.acquire(10), 200, headers(1, "750ms"))
    late = shared.acquire(10)  # the model spends the last request on it...
    shared.observe(late, 429, {})  # ...but it was refused, so that request is still there
    shared.acquire(10)
    assert clock.slept == []


def test_the_wait_method_keeps_the_limiter_verb() -> None:
    shared, _ = pacer()
    shared.hold(1.5)
    assert shared.wait(10) == pytest.approx(1.5)


def test_a_wave_of_429s_halves_concurrency_once() -> None:
    gate = Concurrency(8)
    shared, _ = pacer(concurrency=gate)
    tickets = [shared.acquire(10) for _ in range(8)]
    for ticket in tickets[4:]:
        shared.observe(ticket, 429, {"retry-after": "1"})
    assert gate.limit == 4
    shared.observe(shared.acquire(10), 429, {"retry-after": "1"})  # sent after the cut: a new event
    assert gate.limit == 2


def test_concurrency_grows_back_one_at_a_time_and_never_past_the_ceiling() -> None:
    gate = Concurrency(4)
    gate.refused(1, 1)
    gate.refused(2, 2)
    assert gate.limit == 1
    seen = []
    for _ in range(20):
        gate.succeeded()
        seen.append(gate.limit)
    assert seen[:4] == [2, 3, 4, 4] and max(seen) == 4


def test_concurrency_never_drops_below_one() -> None:
    gate = Concurrency(2)
    for number in range(1, 6):
        gate.refused(number, number)
    assert gate.limit == 1


def test_paced_sends_against_a_token_bucket_are_rarely_refused() -> None:
    """40 sends, one after another on a fake clock, against a bucket of 4 refilling 4 a second."""
    shared, clock = pacer()
    bucket = TokenBucket(4, 4.0, clock=clock)
    done = refused = 0
    while done < 40:
        ticket = shared.acquire(60)
        assert isinstance(ticket, Ticket)
        allowed, answer = bucket.take()
        shared.observe(ticket, 200 if allowed else 429, answer)
        done += allowed
        refused += not allowed
    assert refused <= 2
    assert clock.now - 100 <= (40 - 4) / 4 * 1.05
