"""A query string or fragment inside a URL of the config (``base_url``, ``paths``, a proxy) is a
secret like a ``query`` value (RED-TEAM #13): never in ``--dry-run``, ``--verbose``, an error
echoing the request, or ``config check``.
"""

from __future__ import annotations

from typing import Any

import pytest

from imagegate import secret
from imagegate.scrub import REDACTED

from .support.faultserver import FaultServer, Reply, Seen
from .support.helpers import API_KEY

BASE_QUERY = "BASEQUERYSECRET-1234abcd"
PATH_QUERY = "PATHQUERYSECRET-5678efgh"
FRAGMENT = "FRAGMENTSECRET-9012ijkl"


def echo_request(request: Seen) -> Reply:
    """A gateway that repeats the whole request it got in its error."""
    sent = f"{request.method} {request.path} {request.headers} {request.body.decode('latin-1')}"
    return Reply(status=400, body={"error": {"message": "you sent: " + sent}})


def url_configs(server: FaultServer) -> dict[str, dict[str, Any]]:
    common = {"api_key": API_KEY, "provider": "compatible", "model": "gpt-image-2"}
    return {
        "base_url": dict(common, base_url=f"{server.base_url}?key={BASE_QUERY}"),
        "relative-path": dict(
            common, base_url=server.base_url, paths={"generations": f"images/generations?key={PATH_QUERY}"}
        ),
        "full-path-url": dict(
            common,
            base_url=server.base_url,
            paths={"generations": f"{server.base_url}/images/generations?a=1&sig={PATH_QUERY}"},
        ),
        "fragment": dict(common, base_url=f"{server.base_url}#{FRAGMENT}"),
    }


def assert_no_url_secret(*texts: str) -> None:
    for text in texts:
        for value in (BASE_QUERY, PATH_QUERY, FRAGMENT):
            assert value not in text, text
            assert value[-12:] not in text, text


@pytest.mark.parametrize("where", ["base_url", "relative-path", "full-path-url", "fragment"])
def test_a_query_value_in_a_config_url_is_not_shown_by_dry_run(cli, make_config, where) -> None:
    with FaultServer() as gateway:
        make_config(url_configs(gateway)[where])
        run = cli("--prompt", "p", "--out", "a.png", "--dry-run", "--verbose")
    assert run.code == 0, run.err
    assert_no_url_secret(run.out, run.err)


@pytest.mark.parametrize("where", ["base_url", "relative-path", "full-path-url"])
@pytest.mark.parametrize("verbose", [[], ["--verbose"]], ids=["plain", "verbose"])
def test_a_query_value_in_a_config_url_is_sent_but_never_echoed(cli, make_config, where, verbose) -> None:
    with FaultServer() as gateway:
        make_config(url_configs(gateway)[where])
        gateway.generations(echo_request)
        gateway.script("/v1", echo_request)  # a query in base_url ends the path there
        run = cli("--prompt", "p", "--out", "a.png", *verbose)
        sent = gateway.seen[0]
    assert run.code == 3, run.err
    assert (BASE_QUERY if where == "base_url" else PATH_QUERY) in sent.path  # still sent, to the gateway only
    assert "you sent" in run.err
    assert_no_url_secret(run.out, run.err)


@pytest.mark.parametrize("where", ["base_url", "full-path-url", "fragment"])
def test_config_check_shows_no_query_value_of_a_config_url(cli, make_config, where) -> None:
    with FaultServer() as gateway:
        make_config(url_configs(gateway)[where])
        run = cli("config", "check")
    assert_no_url_secret(run.out, run.err)


def test_a_query_value_of_a_proxy_url_from_the_environment_is_a_secret(cli, server, monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9/?token=proxy-QUERY-4242abcd")
    server.generations(Reply(status=400, body={"error": {"message": "proxy said proxy-QUERY-4242abcd"}}))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 3
    assert "proxy-QUERY-4242abcd" not in run.err + run.out


def test_a_url_query_value_is_remembered_as_written_and_decoded_and_hidden_by_name() -> None:
    secret.remember_url("images/generations?sig=abc%2Bdef%2F123&flag&v=1")
    assert {"abc%2Bdef%2F123", "abc+def/123"} <= secret._known
    assert "sig" in secret._hidden_query and "v" in secret._hidden_query
    assert secret.redact("GET /x?v=2&sig=other") == f"GET /x?v={REDACTED}&sig={REDACTED}"
    assert "abc+def/123" not in secret.redact("the signature abc+def/123 is wrong")


def test_a_colour_or_a_sentence_with_a_question_mark_is_not_a_url() -> None:
    for text in ("#00ff00aa11", "what is this? a lighthouse-at-dusk"):
        secret.remember_url(text)
    assert not secret._known and not secret._hidden_query
