"""A hostile BFL (or something answering in its place): polling URLs that try to take the key
elsewhere, result URLs that point inward, job ids and statuses that try to rewrite the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from imagegate_bfl.adapter import BflAdapter, same_site

from imagegate.adapter import HttpRequest, Reply
from imagegate.testing import MockTransport, run_cli, use_transport

pytestmark = pytest.mark.usefixtures("bfl")

KEY = "bfl-test-key-0123456789abcdef"


def draw(config: Path, *args: str) -> Any:
    return run_cli("--config", config, "--prompt", "a red kite", "--out", "kite.png", *args)


def bfl_api(submit: dict[str, Any], *polls: Any) -> MockTransport:
    answers = list(polls)

    def handler(request: HttpRequest) -> Reply:
        if request.method == "POST":
            return Reply.json(submit)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return Reply.json(answer)

    return MockTransport(handler)


@pytest.fixture
def default_site(config) -> Path:
    return config(base_url=None)  # https://api.bfl.ai/v1


@pytest.mark.parametrize(
    "polling_url",
    [
        "https://api.bfl.ai:8443/v1/get_result?id=j-1",
        "http://api.bfl.ai/v1/get_result?id=j-1",
        "https://api.bfl.ai.collector.test/v1/get_result?id=j-1",
        "https://bfl.ai.collector.test/v1/get_result?id=j-1",
    ],
    ids=["other-port", "plaintext", "suffix-trick", "domain-suffix-trick"],
)
def test_a_polling_url_off_bfl_s_site_never_gets_the_key(default_site, polling_url) -> None:
    with use_transport(bfl_api({"id": "j-1", "polling_url": polling_url}, {"status": "Ready"})) as mock:
        run = draw(default_site)
    assert run.code in (2, 6), run.err
    assert [r.method for r in mock.requests] == ["POST"]
    assert "job j-1" in run.err and KEY not in run.err


def test_bfl_s_site_rule_keeps_the_scheme_and_port() -> None:
    assert same_site("https://api.us1.bfl.ai/v1/get_result", "https://api.bfl.ai/v1")
    assert same_site("https://api.us1.bfl.ai:443/v1/get_result", "https://api.bfl.ai/v1")
    assert not same_site("https://api.bfl.ai:99999/v1/get_result", "https://api.bfl.ai/v1")
    assert not same_site("https://api.bfl.ai:8443/v1/get_result", "https://api.bfl.ai/v1")
    assert not same_site("http://127.0.0.1:9/v1/get_result", "http://127.0.0.1:8/v1")
    assert same_site("http://127.0.0.1:8/us1/v1/get_result", "http://127.0.0.1:8/v1")


@pytest.mark.parametrize(
    "sample", ["http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "http://127.0.0.1:1/x"]
)
def test_a_ready_sample_pointing_inward_is_never_fetched(default_site, sample) -> None:
    submit = {"id": "j-1", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=j-1"}
    answer = {"status": "Ready", "result": {"sample": sample}}
    with use_transport(bfl_api(submit, answer)) as mock:
        run = draw(default_site)
    assert run.code == 6, run.err
    assert [r.method for r in mock.requests] == ["POST", "GET"]
    assert not Path("kite.png").exists()


def test_a_job_id_and_status_full_of_escapes_are_shown_harmless(default_site) -> None:
    job_id = "j\x1b]0;owned\x07\x1b[2J\nerror: forged"
    submit = {"id": job_id, "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=j"}
    polls = [{"status": "Generating\x1b[5m" + "x" * 5000}, {"status": "Error", "error": "boom\x1b[31m"}]
    with use_transport(bfl_api(submit, *polls)):
        run = draw(default_site)
    assert run.code == 5, run.err
    assert "\x1b" not in run.err and "\x07" not in run.err
    assert "error: forged" not in run.err.splitlines()
    assert max(len(line) for line in run.err.splitlines()) < 1000


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_poll_interval_that_is_no_finite_number_ends_cleanly(config, value) -> None:
    path = config(base_url=None)
    document = json.loads(path.read_text())
    text = json.dumps(document).replace('"poll_interval": 0.01', f'"poll_interval": {value}')
    path.write_text(text)
    submit = {"id": "j-1", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=j-1"}
    with use_transport(bfl_api(submit, {"status": "Pending"})):
        run = draw(path, "--timeout", "1")
    assert run.code in (2, 5), run.err
    assert run.code == 2 or "job j-1 at bfl" in run.err
    assert "internal error" not in run.err and "Traceback" not in run.err


_ = BflAdapter
