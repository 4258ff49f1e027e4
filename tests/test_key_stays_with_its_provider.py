"""A profile's key goes only to the provider it was made for: choosing another provider for a call
(``--provider``, or the MCP tools' ``provider`` argument, which an agent fills in) must not send it
to that provider's own endpoint.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegate.adapter import Reply
from imagegate.mcp_tools import Settings, make_images
from imagegate.progress import Progress
from imagegate.testing import MockTransport, registered, use_transport

from .support.faultserver import FaultServer
from .support.faultserver import Reply as Scripted
from .support.helpers import API_KEY, images_answer, png
from .support.jobs import JobsAdapter


class Elsewhere(JobsAdapter):
    """Another company's API, whose default endpoint is a server the profile's key must never reach."""

    name = "elsewhere"
    default_base_url = "https://elsewhere.example.test/v1"


@pytest.fixture
def elsewhere(fresh_plugins) -> Iterator[type[Elsewhere]]:
    with registered(Elsewhere) as adapter:
        yield adapter


def test_another_provider_for_the_call_never_gets_the_profile_s_key(cli, make_config, elsewhere) -> None:
    make_config({"provider": "openai", "api_key": API_KEY})
    with FaultServer() as server:
        elsewhere.default_base_url = server.base_url
        try:
            run = cli("--provider", "elsewhere", "--prompt", "p", "--out", "kite.png")
        finally:
            elsewhere.default_base_url = Elsewhere.__mro__[1].default_base_url
        assert server.seen == []
    assert run.code == 2, run.err
    assert "is for provider 'openai'" in run.err and API_KEY not in run.err


def test_an_mcp_call_naming_another_provider_sends_nothing(tmp_path: Path, make_config, elsewhere) -> None:
    config = make_config({"provider": "openai", "api_key": API_KEY})
    settings = Settings(config=config, out_dir=tmp_path / "out", start_dir=tmp_path, config_given=True)
    mock = MockTransport(lambda request: Reply.json(images_answer(png())))
    with use_transport(mock), pytest.raises(Exception, match="is for provider 'openai'"):
        make_images(settings, {"prompt": "p", "provider": "elsewhere"}, Progress.silent())
    assert mock.requests == []


def test_the_profile_s_own_provider_and_its_own_base_url_keep_the_key(cli, make_config, elsewhere) -> None:
    with FaultServer() as server:
        server.script("/v1/jobs", Scripted(body={"id": "1", "polling_url": server.root + "/v1/poll"}))
        server.script("/v1/poll", Scripted(body={"status": "Ready", "result": {"b64": b64(png())}}))
        make_config({"provider": "openai", "api_key": API_KEY, "base_url": server.base_url})
        run = cli("--provider", "elsewhere", "--prompt", "p", "--out", "kite.png")
        assert run.code == 0, run.err
        assert [seen.headers.get("x-key") for seen in server.seen] == [API_KEY, API_KEY]


def test_a_keyless_provider_chosen_for_the_call_is_not_handed_the_key(make_config) -> None:
    from imagegate.plugins import bind

    make_config({"provider": "openai", "api_key": API_KEY})
    assert bind(provider="placeholder").profile.api_key is None
    assert bind().profile.api_key is not None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_profile_naming_no_provider_holds_the_default_provider_s_key(cli, make_config, elsewhere) -> None:
    make_config({"api_key": API_KEY})  # as `imagegate config init` writes it for OpenAI
    run = cli("--provider", "elsewhere", "--prompt", "p", "--out", "kite.png")
    assert run.code == 2 and "is for provider 'openai'" in run.err, run.err
