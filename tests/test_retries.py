"""Retries: only what cannot have been billed, with honest waits, and never a surprise second charge.

Waits are recorded instead of slept (``imagegate.retry._sleep`` is replaced), so the numbers the
server asks for can be checked without the suite waiting for them.
"""

from __future__ import annotations

import email.utils
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate import retry
from imagegate.pacing import Pacer as Limiter
from imagegate.retry import RetryPolicy, retry_after

from .support.faultserver import FaultServer, Reply, error_reply, image_reply, local_config
from .support.helpers import API_KEY


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits the retry logic asked for, in order (nothing is really slept)."""
    asked: list[float] = []
    monkeypatch.setattr(retry, "_sleep", asked.append)
    monkeypatch.setattr(retry, "BACKOFF_BASE", 0.01)
    return asked


def rate_limited(**headers: str) -> Reply:
    return error_reply(429, "Rate limit reached for requests", "rate_limit_exceeded", **headers)


def run_once(cli, *extra: str):
    return cli("--prompt", "a kite", "--out", "kite.png", *extra)


def test_a_429_storm_waits_within_the_timeout_then_gives_up(cli, server, waits) -> None:
    server.generations(rate_limited())
    run = run_once(cli, "--timeout", "30")
    assert run.code == 3
    # a rate limit was not billed: it does not use up --retries, but its waits come out of the
    # one deadline (backing off to 8 s each), so a storm is not hammered
    assert 3 < len(server.seen) < 40
    assert "rate-limited attempts" in run.err and "past the --timeout" in run.err
    assert "rate limited, resuming in" in run.err


def test_a_rate_limit_does_not_use_up_the_retries(cli, server, waits, isolated) -> None:
    server.generations(rate_limited(), rate_limited(**{"Retry-After": "2"}), image_reply())
    run = run_once(cli, "--retries", "0")
    assert run.code == 0, run.err
    assert len(server.seen) == 3 and (isolated / "kite.png").exists()
    assert "rate limited, resuming in 2 s" in run.err


def test_quiet_hides_the_retry_notes(cli, server, waits) -> None:
    server.generations(rate_limited(), error_reply(503, "overloaded"), image_reply())
    run = run_once(cli, "--quiet")
    assert run.code == 0
    assert "retrying" not in run.err and "resuming" not in run.err


@pytest.mark.parametrize("retries", [0, 1, 4])
def test_retries_flag_sets_the_number_of_retries(cli, server, waits, retries) -> None:
    server.generations(error_reply(503, "overloaded"))
    run = run_once(cli, "--retries", str(retries))
    assert run.code == 5
    assert len(server.seen) == retries + 1
    if retries:
        assert "HTTP 503: retrying in" in run.err and f"(retry {retries} of {retries})" in run.err
        assert f"Gave up after {retries + 1} attempts" in run.err


def test_retries_config_key_sets_the_number_of_retries(cli, make_config, waits) -> None:
    with FaultServer() as server:
        local_config(make_config, server, retries=1)
        server.generations(error_reply(503, "overloaded"))
        assert run_once(cli).code == 5
        assert len(server.seen) == 2


@pytest.mark.parametrize("status", [429, 503])
def test_a_rate_limit_or_503_then_success_saves_the_image(cli, server, waits, isolated, status) -> None:
    first = rate_limited() if status == 429 else error_reply(503, "overloaded")
    server.generations(first, image_reply())
    run = run_once(cli)
    assert run.code == 0, run.err
    assert len(server.seen) == 2
    assert (isolated / "kite.png").exists()


def test_an_exhausted_quota_is_not_retried(cli, server, waits) -> None:
    server.generations(error_reply(429, "You exceeded your current quota", "insufficient_quota"))
    run = run_once(cli)
    assert run.code == 3
    assert "insufficient_quota" in run.err
    assert len(server.seen) == 1
    assert waits == []


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_after_sending_is_not_retried_and_says_it_may_be_billed(cli, server, waits, status) -> None:
    server.generations(error_reply(status, "internal error"), image_reply())
    run = run_once(cli)
    assert run.code == 5
    assert len(server.seen) == 1
    assert "may have made and billed" in run.err


def test_a_timeout_after_sending_is_not_retried(cli, server, waits) -> None:
    server.generations(Reply(delay=2.0, body={"data": []}), image_reply())
    run = run_once(cli, "--timeout", "0.5")
    assert run.code == 5
    assert "timed out" in run.err and "billed" in run.err
    assert len(server.seen) == 1


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
def test_a_moderation_refusal_is_exit_4_and_never_retried(cli, server, waits, code) -> None:
    message = "Your request was rejected by the safety system. safety_violations=[violence]"
    server.generations(error_reply(400, message, code))
    run = run_once(cli, "--retries", "5")
    assert run.code == 4
    assert "safety_violations=[violence]" in run.err  # the categories, when the provider gives them
    assert len(server.seen) == 1
    assert waits == []


def test_retry_after_seconds_is_honoured(cli, server, waits) -> None:
    server.generations(rate_limited(**{"Retry-After": "7"}), image_reply())
    assert run_once(cli).code == 0
    assert waits and 6.5 <= waits[0] <= 7.0


def test_retry_after_http_date_is_honoured(cli, server, waits) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.generations(rate_limited(**{"Retry-After": when}), image_reply())
    assert run_once(cli).code == 0
    assert waits and 18.0 <= waits[0] <= 20.0


def test_retry_after_ms_is_honoured_first(cli, server, waits) -> None:
    server.generations(rate_limited(**{"retry-after-ms": "1500", "Retry-After": "9"}), image_reply())
    assert run_once(cli).code == 0
    assert waits and 1.3 <= waits[0] <= 1.5


def test_a_wait_longer_than_the_cap_is_reported_not_waited(cli, server, waits) -> None:
    server.generations(rate_limited(**{"Retry-After": "120"}), image_reply())
    run = run_once(cli)
    assert run.code == 3
    assert waits == []
    assert len(server.seen) == 1
    assert "wait 120 s" in run.err and "max_retry_wait (60 s)" in run.err


def test_max_retry_wait_config_key_sets_the_cap(cli, make_config, waits) -> None:
    with FaultServer() as server:
        local_config(make_config, server, max_retry_wait=5)
        server.generations(rate_limited(**{"Retry-After": "10"}), image_reply())
        run = run_once(cli)
        assert run.code == 3
        assert "max_retry_wait (5 s)" in run.err
        assert len(server.seen) == 1


def test_a_wait_past_the_deadline_is_not_waited(cli, server, waits) -> None:
    server.generations(rate_limited(**{"Retry-After": "30"}), image_reply())
    run = run_once(cli, "--timeout", "5")
    assert run.code == 3
    assert waits == []
    assert "past the --timeout" in run.err


def test_backoff_without_retry_after_is_exponential(cli, server, waits, monkeypatch) -> None:
    monkeypatch.setattr(retry, "BACKOFF_BASE", 1.0)
    server.generations(error_reply(503, "overloaded"))
    assert run_once(cli, "--retries", "3").code == 5
    assert len(waits) == 3
    assert 0.7 <= waits[0] <= 1.0 and 1.4 <= waits[1] <= 2.0 and 2.9 <= waits[2] <= 4.0


def test_backoff_is_jittered_and_capped() -> None:
    policy = RetryPolicy()
    samples = {policy.backoff(1) for _ in range(50)}
    assert len(samples) > 1  # jitter: concurrent clients do not retry in lockstep
    assert all(0.75 * retry.BACKOFF_BASE * 2 <= s <= retry.BACKOFF_BASE * 2 for s in samples)
    assert policy.backoff(30) <= retry.BACKOFF_CAP


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_connection_refused_before_sending_is_retried(cli, make_config, monkeypatch) -> None:
    port = free_port()
    make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:{port}/v1"})
    started: list[FaultServer] = []

    def start_server_instead_of_sleeping(seconds: float) -> None:
        if not started:
            server = FaultServer(port=port).__enter__()
            server.generations(image_reply())
            started.append(server)

    monkeypatch.setattr(retry, "_sleep", start_server_instead_of_sleeping)
    try:
        run = run_once(cli)
    finally:
        for server in started:
            server.__exit__(None, None, None)
    assert run.code == 0, run.err
    assert len(started[0].seen) == 1


def test_a_connection_that_never_opens_ends_with_exit_5(cli, make_config, waits) -> None:
    make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:{free_port()}/v1"})
    run = run_once(cli)
    assert run.code == 5
    assert "could not connect" in run.err
    assert len(waits) == 2


class FakeTime:
    """A clock that moves only when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_limiter_hold_makes_every_call_sharing_it_wait_out_the_rest_of_it() -> None:
    time_ = FakeTime()
    limiter = Limiter(clock=time_.clock, sleep=time_.sleep)
    assert limiter.wait(100.0) == 0.0 and time_.slept == []  # nothing held: nobody waits
    limiter.hold(5.0)  # one call saw a 429 asking for 5 s
    time_.now += 2.0
    assert limiter.delay() == 3.0  # any other call sharing the limiter still has 3 s to wait
    limiter.hold(1.0)  # a shorter hold never shortens the longer one
    assert limiter.wait(100.0) == 3.0 and time_.slept == [3.0]
    assert limiter.delay() == 0.0 and limiter.wait(100.0) == 0.0  # after it, calls go at once
    limiter.hold(10.0)
    assert limiter.wait(4.0) == 4.0 and limiter.delay() == 6.0  # a wait never exceeds its budget


@given(st.dictionaries(st.sampled_from(["Retry-After", "retry-after-ms", "RETRY-AFTER"]), st.text()))
def test_retry_after_never_fails_on_any_header_text(headers) -> None:
    wait = retry_after(headers)
    assert wait is None or wait >= 0
