"""A hostile provider against the poll loop: where the key may follow a job, and what a job's
answers may make the core do (wait, print, fetch), driven through real servers on 127.0.0.1.

The in-repo Jobs adapter (tests/support/jobs.py) is deliberately naive: it follows whatever
polling_url the provider gives, so these tests check what the core itself guarantees to every
plugin.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from imagegate.adapter import Pending

from .support.faultserver import FaultServer
from .support.faultserver import Reply as Scripted
from .support.helpers import API_KEY, png
from .support.jobs import JobsAdapter

SUBMIT, POLL = "/v1/jobs", "/v1/poll"


@pytest.fixture
def jobs(fresh_plugins) -> Iterator[type[JobsAdapter]]:
    from imagegate.testing import registered

    with registered(JobsAdapter) as adapter:
        yield adapter


@pytest.fixture
def provider(jobs, make_config) -> Iterator[FaultServer]:
    """The configured Jobs API on 127.0.0.1; the test scripts its submit and polls."""
    with FaultServer() as server:
        make_config(
            {"provider": "jobs", "api_key": API_KEY, "base_url": server.base_url, "poll_interval": 0.01}
        )
        yield server


@pytest.fixture
def elsewhere() -> Iterator[FaultServer]:
    """Another server on 127.0.0.1 (another port: another origin), which must never see the key."""
    with FaultServer() as server:
        yield server


def status(name: str, **fields: Any) -> Scripted:
    return Scripted(body={"id": "job-7", "status": name, **fields})


def ready(image: bytes) -> Scripted:
    return status("Ready", result={"b64": base64.b64encode(image).decode()})


def submitted(polling_url: str, job_id: str = "job-7") -> Scripted:
    return Scripted(body={"id": job_id, "polling_url": polling_url})


def keys_seen(server: FaultServer) -> list[str]:
    return [
        value
        for seen in server.seen
        for name, value in seen.headers.items()
        if name.lower() == "x-key" or API_KEY in value
    ]


# -- where the key may go after the submit ------------------------------------------------------
def test_a_polling_url_on_another_origin_never_receives_the_key(cli, provider, elsewhere) -> None:
    provider.script(SUBMIT, submitted(elsewhere.root + "/steal?id=job-7"))
    elsewhere.script("/steal", ready(png()))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert keys_seen(elsewhere) == []
    assert run.code == 6, run.err
    assert "refusing to send the API key" in run.err
    assert "job job-7 at jobs was submitted" in run.err and API_KEY not in run.err + run.out
    assert not Path("kite.png").exists()
    assert len(provider.requests_to(SUBMIT)) == 1


def test_a_poll_on_the_provider_s_own_origin_still_gets_the_key(cli, provider) -> None:
    provider.script(SUBMIT, submitted(provider.root + "/elsewhere/on/the/same/site?id=job-7"))
    provider.script("/elsewhere/on/the/same/site", status("Pending"), ready(png(3, 3)))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 0, run.err
    assert Path("kite.png").read_bytes() == png(3, 3)


def test_a_poll_that_moves_the_next_poll_to_another_origin_never_sends_the_key(
    cli, provider, elsewhere, jobs, monkeypatch
) -> None:
    """A provider's later answer (not only the submit's) may try to move the job elsewhere."""

    def moving_poll(self, document, headers, job):
        if document.get("status") == "Moved":
            return replace(job, next=replace(job.next, url=document["next"]), status="Moved")
        return JobsAdapter.poll(self, document, headers, job)

    monkeypatch.setattr(jobs, "poll", moving_poll)
    provider.script(SUBMIT, submitted(provider.root + POLL + "?id=job-7"))
    provider.script(POLL, status("Moved", next=elsewhere.root + "/steal"))
    elsewhere.script("/steal", ready(png()))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert keys_seen(elsewhere) == []
    assert run.code == 6 and "job job-7 at jobs" in run.err, run.err


def test_a_cancel_aimed_at_another_origin_is_not_sent_with_the_key(
    cli, provider, elsewhere, jobs, make_config, monkeypatch
) -> None:
    make_config(
        {"provider": "jobs", "api_key": API_KEY, "base_url": provider.base_url, "poll_interval": 0.01}
    )

    def cancel(self, job):
        return replace(job.next, method="POST", url=elsewhere.root + "/cancel")

    monkeypatch.setattr(jobs, "cancel", cancel)
    elsewhere.script("/cancel", Scripted(status=204))
    provider.script(SUBMIT, submitted(provider.root + POLL + "?id=job-7"))
    provider.script(POLL, status("Pending"))
    run = cli("--prompt", "p", "--out", "kite.png", "--timeout", "1")
    assert run.code == 5 and "job job-7 at jobs" in run.err, run.err
    assert "cancelling it failed" in run.err
    assert keys_seen(elsewhere) == []


# -- what a job's fields may make the core do ---------------------------------------------------
@pytest.mark.parametrize("after", [math.nan, -5.0, math.inf, 1e308])
def test_any_wait_an_adapter_suggests_ends_cleanly(cli, provider, jobs, monkeypatch, after) -> None:
    original = JobsAdapter.decode

    def decode(self, document, headers):
        pending = original(self, document, headers)
        return replace(pending, after=after) if isinstance(pending, Pending) else pending

    monkeypatch.setattr(jobs, "decode", decode)
    provider.script(SUBMIT, submitted(provider.root + POLL + "?id=job-7"))
    provider.script(POLL, ready(png()))
    run = cli("--prompt", "p", "--out", "kite.png", "--timeout", "1")
    assert run.code in (0, 5), run.err
    assert "Traceback" not in run.err and "internal error" not in run.err
    if run.code == 5:
        assert "job job-7 at jobs" in run.err


def test_a_job_id_and_status_with_terminal_escapes_are_shown_harmless(cli, provider) -> None:
    job_id = "job\x1b]0;pwned\x07\x1b[2J\r\nerror: fake line"
    provider.script(SUBMIT, submitted(provider.root + POLL + "?id=x", job_id=job_id))
    provider.script(POLL, status("Pending"), status("Error", message="\x1b[31mRED\x1b[0m\nhint: forged"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 5, run.err
    assert "hint: forged" not in run.err.splitlines()
    assert "\x1b" not in run.err and "\x07" not in run.err and "\r" not in run.err
    assert "error: fake line" not in run.err.replace("\\n", " ").splitlines()


def test_a_job_id_holding_the_key_is_shown_redacted(cli, provider) -> None:
    provider.script(SUBMIT, submitted(provider.root + POLL + "?id=x", job_id=f"id-{API_KEY}"))
    provider.script(POLL, status("Pending"), status("Error", message=f"failed for {API_KEY}"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 5, run.err
    assert API_KEY not in run.err + run.out
    encoded = base64.b64encode(API_KEY.encode()).decode()
    assert encoded not in run.err + run.out


@pytest.mark.parametrize(
    ("url", "origin", "allowed"),
    [
        ("https://api.us1.bfl.ai/v1/get_result?id=1", "https://api.bfl.ai/v1/flux-2-pro", True),
        ("https://bfl.ai/poll", "https://api.bfl.ai/v1/x", True),
        ("https://api.bfl.ai.evil.test/poll", "https://api.bfl.ai/v1/x", False),
        ("https://evilbfl.ai/poll", "https://api.bfl.ai/v1/x", False),
        ("https://api.bfl.ai:8443/poll", "https://api.bfl.ai/v1/x", False),
        ("http://api.bfl.ai/poll", "https://api.bfl.ai/v1/x", False),
        ("https://attacker.co.uk/poll", "https://images.co.uk/v1", False),
        ("https://other.example.test/poll", "https://example.test/v1", False),
        ("http://127.0.0.1:9/poll", "http://127.0.0.1:8/v1", False),
        ("http://localhost:8/poll", "http://127.0.0.1:8/v1", False),
        ("http://127.0.0.1:8/poll?id=1", "http://127.0.0.1:8/v1/jobs", True),
        ("https://user:pw@api.bfl.ai/x", "https://api.bfl.ai/v1", True),
        ("https://api.bfl.ai:99999/x", "https://api.bfl.ai/v1", False),
    ],
)
def test_a_credentialed_follow_up_stays_on_the_submit_s_site(url, origin, allowed) -> None:
    from imagegate.exchange import on_site

    assert on_site(url, origin) is allowed


# -- what a poll may answer ---------------------------------------------------------------------
def _poll_answers(provider: FaultServer, *replies: Scripted) -> None:
    provider.script(SUBMIT, submitted(provider.root + POLL + "?id=job-7"))
    provider.script(POLL, *replies)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Scripted(body="<html><body>Bad Gateway</body></html>", content_type="text/html"), 6),
        (Scripted(body=b"\x00\xff" * 1000), 6),
        (Scripted(body="[" * 100_000 + "]" * 100_000, content_type="application/json"), 6),
        (Scripted(body={"status": ["Ready"]}), 5),
        (Scripted(status=302, headers={"Location": "http://169.254.169.254/latest"}), 5),
    ],
    ids=["html", "binary", "deep-nesting", "odd-status", "redirect"],
)
def test_a_poll_answering_garbage_is_one_clear_error_naming_the_job(cli, provider, reply, code) -> None:
    _poll_answers(provider, status("Pending"), reply)
    run = cli("--prompt", "p", "--out", "kite.png", "--retries", "0")
    assert run.code == code, run.err
    # (the fake server's own thread may print a traceback when imagegate stops reading a huge body)
    assert [line for line in run.err.splitlines() if line.startswith("error: ")] != []
    assert len([line for line in run.err.splitlines() if line.startswith("error: ")]) == 1
    assert "internal error" not in run.err
    assert "job job-7 at jobs" in run.err
    assert len(provider.requests_to(SUBMIT)) == 1 and not Path("kite.png").exists()


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "file:///etc/passwd"]
)
def test_a_ready_job_s_url_at_a_metadata_address_or_a_file_is_never_fetched(cli, provider, url) -> None:
    _poll_answers(provider, status("Ready", result={"sample": url}))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 6, run.err
    assert "refusing" in run.err or "only http(s)" in run.err
    assert not Path("kite.png").exists()


def test_a_429_storm_while_polling_ends_at_the_timeout_without_resubmitting(cli, provider) -> None:
    from .support.faultserver import error_reply

    _poll_answers(provider, error_reply(429, "slow down", **{"Retry-After": "0"}))
    run = cli("--prompt", "p", "--out", "kite.png", "--timeout", "1", "--retries", "10")
    assert run.code in (3, 5), run.err
    assert "job job-7 at jobs" in run.err
    assert len(provider.requests_to(SUBMIT)) == 1


# -- an adapter's own bug while a job is pending ------------------------------------------------
def test_an_adapter_bug_while_polling_still_names_the_pending_job(cli, provider, jobs, monkeypatch) -> None:
    def broken_poll(self, document, headers, job):
        return document["no such field"]  # a plugin's bug: KeyError

    monkeypatch.setattr(jobs, "poll", broken_poll)
    _poll_answers(provider, status("Pending"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 6, run.err
    assert "job job-7 at jobs was submitted and may still finish" in run.err
    assert "KeyError" in run.err and "plugin" in run.err
    assert len(run.err.splitlines()[-3:]) == 3 and "Traceback" not in run.err


def test_an_adapter_bug_reading_the_submit_s_answer_says_it_was_sent(
    cli, provider, jobs, monkeypatch
) -> None:
    def broken_decode(self, document, headers):
        raise TypeError("unexpected answer shape")

    monkeypatch.setattr(jobs, "decode", broken_decode)
    _poll_answers(provider, status("Pending"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 6, run.err
    assert "TypeError" in run.err and "billed" in run.err


def test_a_malformed_pending_still_names_the_job(cli, provider, jobs, monkeypatch) -> None:
    original = JobsAdapter.decode

    def decode(self, document, headers):
        return replace(original(self, document, headers), next=None)  # not a request at all

    monkeypatch.setattr(jobs, "decode", decode)
    _poll_answers(provider, status("Pending"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 6, run.err
    assert "job job-7 at jobs was submitted and may still finish" in run.err
