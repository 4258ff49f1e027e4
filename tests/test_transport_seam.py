"""The transport seam: one module speaks requests/urllib3, everything else speaks imagegate's own
Reply and Transport, and one function, verdict(), decides what an error answer means."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from imagegate.adapter import HttpRequest, LocalTransport, ProviderError, Reply
from imagegate.deadline import Deadline
from imagegate.errors import ContentRefused, NetworkError, ProviderRefused
from imagegate.http import BILLING_HINT, verdict
from imagegate.routing import Transports
from imagegate.testing import MockTransport, use_transport
from imagegate.transport import RequestsTransport

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("requests", "urllib3")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_only_core_transport_imports_requests_or_urllib3() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("core", "providers")
        for path in (ROOT / folder).rglob("*.py")
        if any(name.split(".")[0] in BACKENDS for name in imported_modules(path))
    )
    assert importers == ["core/transport.py"]


def test_the_placeholder_imports_neither_a_backend_nor_another_provider() -> None:
    names = imported_modules(ROOT / "providers" / "placeholder.py")
    assert not [
        name for name in names if name.split(".")[0] in BACKENDS or name.startswith("imagegate.providers")
    ]


@pytest.mark.parametrize(
    ("error", "exception", "retry"),
    [
        (ProviderError(400, "no", kind="content"), ContentRefused, False),
        (ProviderError(429, "spent", kind="quota"), ProviderRefused, False),
        (ProviderError(404, "gone", kind="not_found"), ProviderRefused, False),
        (ProviderError(200, "crashed", kind="failed"), NetworkError, False),
        (ProviderError(429, "slow down"), ProviderRefused, True),
        (ProviderError(503, "busy"), NetworkError, True),
        (ProviderError(500, "oops"), NetworkError, False),
        (ProviderError(401, "bad key"), ProviderRefused, False),
    ],
)
def test_verdict_decides_exception_and_retry_from_kind_then_status(error, exception, retry) -> None:
    made, retried = verdict(error)
    assert type(made) is exception and retried is retry
    assert error.message in made.message


def test_a_5xx_is_retried_only_for_a_repeatable_request_and_billing_is_named_otherwise() -> None:
    once, retried = verdict(ProviderError(502, "bad gateway"))
    assert not retried and BILLING_HINT in once.hints
    again, retried = verdict(ProviderError(502, "bad gateway"), repeatable=True)
    assert retried and BILLING_HINT not in again.hints


def test_a_reply_made_in_process_has_caseless_headers_and_its_body_once() -> None:
    reply = Reply.of(201, [b"ab", b"c"], {"Content-Type": "text/plain"})
    assert reply.headers["content-type"] == "text/plain" and list(reply.headers) == ["Content-Type"]
    assert b"".join(reply.chunks()) == b"abc"
    assert Reply.json({"a": 1}).headers["CONTENT-TYPE"] == "application/json"


def test_a_call_sends_its_own_schemes_locally_and_the_rest_through_the_network() -> None:
    local = LocalTransport(lambda request: Reply.of(200, b"local"), ("placeholder",))
    mock = MockTransport(lambda request: Reply.of(200, b"network"))
    deadline = Deadline(5)
    with use_transport(mock), Transports(local) as transports:
        here = transports.send(HttpRequest("POST", "placeholder://local/v1/x"), deadline)
        there = transports.send(HttpRequest("GET", "https://example.test/x"), deadline)
    assert b"".join(here.chunks()) == b"local" and b"".join(there.chunks()) == b"network"
    assert [request.url for request in mock.requests] == ["https://example.test/x"]
    assert isinstance(Transports().network, RequestsTransport)  # the override ended with its block


def test_a_connection_that_times_out_at_the_deadline_is_reported_as_the_timeout(cli, make_config) -> None:
    from imagegate.reply import NotSent

    make_config()

    def slow_connect(request):
        time.sleep(0.9)  # the connect was given what was left of the deadline, and used it
        raise NotSent("timed out", "ConnectTimeout", timed_out=True)

    with use_transport(MockTransport(slow_connect)):
        run = cli("--prompt", "p", "--out", "x.png", "--timeout", "1")
    assert run.code == 5, run.err
    assert "timed out after 1 s" in run.err and "could not connect" not in run.err
