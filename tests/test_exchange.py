"""A provider that answers later: submit -> Pending -> poll ... -> Answer, with every promise of a call.

The in-repo Jobs adapter (tests/support/jobs.py) is driven through a real server on 127.0.0.1 and
through imagegate.testing.MockTransport.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegate.adapter import Adapter, HttpRequest, Pending, Reply
from imagegate.errors import Interrupted, UnusableAnswer
from imagegate.progress import Progress
from imagegate.secret import Secret
from imagegate.testing import MockTransport, check_adapter, registered, use_transport

from .support.faultserver import FaultServer, error_reply
from .support.faultserver import Reply as Scripted
from .support.helpers import API_KEY, png
from .support.jobs import JobsAdapter

SUBMIT, POLL = "/v1/jobs", "/v1/poll"
STILL_THERE = "job {} at jobs was submitted and may still finish (and be billed); "


@pytest.fixture
def jobs() -> Iterator[type[JobsAdapter]]:
    with registered(JobsAdapter) as adapter:
        yield adapter


@pytest.fixture
def job_server(jobs, make_config) -> Iterator[FaultServer]:
    """A Jobs API on 127.0.0.1 whose submit names job-7; the test scripts its polls."""
    with FaultServer() as server:
        make_config(
            {"provider": "jobs", "api_key": API_KEY, "base_url": server.base_url, "poll_interval": 0.01}
        )
        server.script(SUBMIT, Scripted(body={"id": "job-7", "polling_url": server.root + POLL + "?id=job-7"}))
        yield server


def status(name: str, **fields: Any) -> Scripted:
    return Scripted(body={"id": "job-7", "status": name, **fields})


def ready(image: bytes) -> Scripted:
    return status("Ready", result={"b64": base64.b64encode(image).decode()})


def test_a_job_pending_a_few_times_then_ready_is_saved(cli, job_server) -> None:
    job_server.script(POLL, status("Pending"), status("Pending"), status("Running"), ready(png(5, 3)))
    run = cli("--prompt", "a red kite", "--out", "kite.png")
    assert run.code == 0, run.err
    assert Path("kite.png").read_bytes() == png(5, 3)
    assert len(job_server.requests_to(SUBMIT)) == 1 and len(job_server.requests_to(POLL)) == 4
    assert all(seen.headers.get("x-key") == API_KEY for seen in job_server.requests_to(POLL))
    assert run.json["images"][0]["path"].endswith("kite.png")


def test_progress_names_the_job_and_its_status(cli, job_server) -> None:
    job_server.script(POLL, status("Queued"), ready(png()))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 0, run.err
    assert "job job-7 at jobs: Submitted" in run.err and "job job-7 at jobs: Queued" in run.err


def test_a_ready_job_s_signed_url_is_fetched_without_the_key(cli, job_server) -> None:
    sample = job_server.script("/files/sample.png", Scripted(body=png(6, 6), content_type="image/png"))
    job_server.script(POLL, status("Pending"), status("Ready", result={"sample": sample}))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 0, run.err
    assert Path("kite.png").read_bytes() == png(6, 6)
    (download,) = job_server.requests_to("/files/sample.png")
    assert "x-key" not in {name.lower() for name in download.headers}


def test_a_moderated_job_is_exit_4_and_names_the_job(cli, job_server) -> None:
    job_server.script(POLL, status("Pending"), status("Moderated"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 4, run.err
    assert "job job-7 at jobs" in run.err and "moderated" in run.err


def test_a_failed_job_is_exit_5_and_an_unknown_one_exit_3(cli, job_server) -> None:
    job_server.script(POLL, status("Error", message="the model crashed"))
    failed = cli("--prompt", "p", "--out", "a.png")
    job_server.script(POLL, status("Task not found"))
    unknown = cli("--prompt", "p", "--out", "b.png")
    assert (failed.code, unknown.code) == (5, 3), failed.err + unknown.err
    assert "the model crashed" in failed.err and "task not found" in unknown.err


def test_a_job_stuck_in_pending_ends_at_the_timeout_naming_its_id(cli, job_server) -> None:
    job_server.script(POLL, status("Pending"))
    run = cli("--prompt", "p", "--out", "kite.png", "--timeout", "1")
    assert run.code == 5, run.err
    assert "timed out after 1 s" in run.err
    assert (
        "job job-7 at jobs was submitted and may still finish (and be billed); it was not cancelled"
        in run.err
    )
    assert len(job_server.requests_to(SUBMIT)) == 1


def test_a_poll_answered_503_or_cut_off_is_retried(cli, job_server) -> None:
    job_server.script(POLL, error_reply(503, "busy"), Scripted(hang_up=True), ready(png()))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 0, run.err
    assert len(job_server.requests_to(POLL)) == 3 and len(job_server.requests_to(SUBMIT)) == 1


def test_a_poll_answered_500_is_retried_but_the_submit_never_is(cli, job_server) -> None:
    job_server.script(POLL, error_reply(500, "oops"), ready(png()))
    assert cli("--prompt", "p", "--out", "a.png").code == 0
    job_server.script(SUBMIT, error_reply(500, "oops"))
    run = cli("--prompt", "p", "--out", "b.png")
    assert run.code == 5 and "billed" in run.err
    job_server.script(SUBMIT, Scripted(hang_up=True))
    assert cli("--prompt", "p", "--out", "c.png").code == 5
    assert len(job_server.requests_to(SUBMIT)) == 3  # one each: never re-sent


def test_polls_that_keep_failing_give_up_without_resubmitting(cli, job_server) -> None:
    job_server.script(POLL, error_reply(503, "busy"))
    run = cli("--prompt", "p", "--out", "kite.png", "--retries", "1")
    assert run.code == 5, run.err
    assert "Gave up after 2 attempts" in run.err and "job job-7 at jobs" in run.err
    assert len(job_server.requests_to(SUBMIT)) == 1 and len(job_server.requests_to(POLL)) == 2


# -- through MockTransport -------------------------------------------------------------------------
def jobs_api(polls: list[Any], seen: list[HttpRequest]) -> MockTransport:
    """An in-process Jobs API: the submit names job-9; each poll takes the next entry of ``polls``."""

    def handler(request: HttpRequest) -> Reply:
        seen.append(request)
        if request.method == "POST":
            return Reply.json({"id": "job-9", "polling_url": "https://jobs.example.test/v1/poll/job-9"})
        if request.method == "DELETE":
            return Reply.of(204)
        entry = polls.pop(0) if len(polls) > 1 else polls[0]
        if isinstance(entry, BaseException):
            raise entry
        return Reply.json(entry)

    return MockTransport(handler)


@pytest.fixture
def mock_config(jobs, make_config) -> None:
    make_config({"provider": "jobs", "api_key": API_KEY, "poll_interval": 0.0})


def test_a_job_runs_through_the_mock_transport_with_the_key_only_in_its_header(cli, mock_config) -> None:
    image = base64.b64encode(png(4, 4)).decode()
    seen: list[HttpRequest] = []
    with use_transport(
        jobs_api([{"status": "Pending"}, {"status": "Ready", "result": {"b64": image}}], seen)
    ) as mock:
        run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 0, run.err
    assert [r.method for r in mock.requests] == ["POST", "GET", "GET"]
    assert all(isinstance(r.headers["x-key"], Secret) for r in mock.requests)
    assert mock.requests[0].headers["x-key"].reveal() == API_KEY and API_KEY not in repr(mock.requests[0])


@pytest.mark.parametrize(
    ("stop", "code"), [(KeyboardInterrupt(), 130), (Interrupted("terminated", exit_code=143), 143)]
)
def test_ctrl_c_or_sigterm_while_pending_names_the_job(cli, mock_config, stop, code) -> None:
    seen: list[HttpRequest] = []
    with use_transport(jobs_api([{"status": "Pending"}, stop], seen)):
        run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == code, run.err
    assert (
        "job job-9 at jobs was submitted and may still finish (and be billed); it was not cancelled"
        in run.err
    )
    assert [r.method for r in seen].count("POST") == 1


def test_a_stopped_job_is_cancelled_once_when_the_adapter_can(cli, make_config, jobs) -> None:
    make_config({"provider": "jobs", "api_key": API_KEY, "poll_interval": 0.0, "cancel": True})
    seen: list[HttpRequest] = []
    with use_transport(jobs_api([{"status": "Pending"}, KeyboardInterrupt()], seen)):
        run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 130, run.err
    assert (
        "job job-9 at jobs was submitted and may still finish (and be billed); a cancel was sent" in run.err
    )
    assert [(r.method, r.url) for r in seen if r.method == "DELETE"] == [
        ("DELETE", "https://jobs.example.test/v1/jobs/job-9")
    ]


def test_a_sync_adapter_that_answers_pending_is_an_unusable_answer() -> None:
    class Sync(Adapter):
        name = "sync"

        def build_request(self, options):  # pragma: no cover - not called
            raise AssertionError

    with pytest.raises(UnusableAnswer, match="does not poll"):
        Sync(None).poll({}, {}, Pending(HttpRequest("GET", "https://x.test/"), "j"))  # type: ignore[arg-type]


def test_the_progress_clock_shows_the_label_the_call_sets() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    shown = threading.Event()
    progress = Progress(stream, interval=0.001)
    with progress.waiting() as ticker:
        ticker.what = "job job-1 at jobs: Pending"
        for _ in range(5000):
            if "job job-1 at jobs: Pending: " in stream.getvalue():
                shown.set()
                break
            threading.Event().wait(0.001)
    assert shown.is_set()
    assert json.dumps(stream.getvalue())  # printable


def test_check_adapter_wants_poll_written_when_poll_is_listed() -> None:
    check_adapter(JobsAdapter)

    class Forgetful(JobsAdapter):
        name = "forgetful"
        poll = Adapter.poll  # type: ignore[assignment]

    with pytest.raises(AssertionError, match="must write poll"):
        check_adapter(Forgetful)
