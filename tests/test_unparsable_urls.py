"""URLs that Python's own parser refuses to split (NFKC look-alikes of '/', '@', '?' in the host) are
refused with the documented exit code, never an internal error: from a provider's answer, in a
redirect, or in the config."""

from __future__ import annotations

import pytest

from .support.faultserver import FaultServer, Reply, configured_server
from .support.helpers import API_KEY

LOOK_ALIKES = ["\uff0f", "\uff20", "\uff1f", "\u2100"]  # fullwidth solidus, commercial at, question mark; a/c


@pytest.fixture
def provider(make_config):
    yield from configured_server(make_config)


@pytest.mark.parametrize("char", LOOK_ALIKES)
def test_an_image_url_no_parser_can_split_is_an_unusable_answer(cli, provider: FaultServer, char) -> None:
    provider.generations(Reply(body={"data": [{"url": f"http://127.0.0.1:9{char}@x.invalid/i.png"}]}))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 6, run.err
    assert "internal error" not in run.err and run.err.count("error:") == 1


@pytest.mark.parametrize("char", LOOK_ALIKES)
def test_a_base_url_no_parser_can_split_is_refused_before_sending(cli, make_config, char) -> None:
    make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:9{char}@x.invalid/v1"})
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2, run.err
    assert "internal error" not in run.err


def test_a_redirect_to_a_url_no_parser_can_split_is_refused(cli, provider: FaultServer) -> None:
    with FaultServer() as host:
        host.script(
            "/img.png", Reply(status=302, headers={"Location": "http://127.0.0.1:9\uff0f@x.invalid/i"})
        )
        provider.generations(Reply(body={"data": [{"url": f"{host.base_url}/img.png"}]}))
        run = cli("--prompt", "p", "--out", "a.png")
    assert run.code in (5, 6), run.err
    assert "internal error" not in run.err
