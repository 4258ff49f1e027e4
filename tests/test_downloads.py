"""Image URLs are fetched with a separate request that carries no credentials, from allowed hosts only.

The provider runs on one local server and the image host on another, so every request the
download makes (redirects included) can be inspected for Authorization, cookies and .netrc.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from imagegate.download import DEFAULT_MAX_BYTES

from .support.faultserver import FaultServer, Reply, configured_server, local_config
from .support.helpers import API_KEY, BASE, GEN, b64, png

CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


@pytest.fixture
def provider(make_config):
    yield from configured_server(make_config)


@pytest.fixture
def host():
    with FaultServer() as running:
        yield running


def answer_with_url(provider: FaultServer, url: str, **headers: str) -> None:
    provider.generations(Reply(body={"data": [{"url": url}]}, headers=headers))


def image(data: bytes | None = None, **options) -> Reply:
    return Reply(body=data if data is not None else png(6, 6), content_type="image/png", **options)


def run_once(cli, *extra: str):
    return cli("--prompt", "a kite", "--out", "kite.png", *extra)


def assert_no_credentials(seen) -> None:
    for request in seen:
        lowered = {key.lower(): value for key, value in request.headers.items()}
        for name in CREDENTIAL_HEADERS:
            assert name not in lowered, f"{request.path} carried {name}"
        assert API_KEY not in str(request.headers)


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_an_image_url_is_downloaded_without_key_cookies_or_netrc(cli, provider, host, isolated) -> None:
    Path.home().joinpath(".netrc").write_text("machine 127.0.0.1 login someone password hunter2\n")
    Path.home().joinpath(".netrc").chmod(0o600)
    url = host.script("/img.png", image())
    answer_with_url(provider, url, **{"Set-Cookie": "session=provider-secret; Path=/"})
    run = run_once(cli)
    assert run.code == 0, run.err
    assert Path(run.json["output_paths"][0]).read_bytes() == png(6, 6)
    assert provider.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert len(host.seen) == 1
    assert_no_credentials(host.seen)


def test_redirects_are_followed_without_credentials(cli, provider, host, isolated) -> None:
    with FaultServer() as third:
        final = third.script("/final.png", image())
        url = host.script("/start", Reply(status=302, headers={"Location": final}))
        answer_with_url(provider, url)
        run = run_once(cli)
        assert run.code == 0, run.err
        assert len(third.seen) == 1
        assert_no_credentials(host.seen + third.seen)


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "http://[fd00:ec2::254]/latest"],
)
def test_a_redirect_to_a_forbidden_place_is_refused(cli, provider, host, isolated, target) -> None:
    url = host.script("/start", Reply(status=302, headers={"Location": target}))
    answer_with_url(provider, url)
    run = run_once(cli)
    assert run.code == 6
    assert "refusing" in run.err or "only http(s)" in run.err
    assert files_in(isolated) == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://files.example.test/a.png", "gopher://x/1", "data:text/plain,hello"],
)
def test_only_http_and_https_urls_are_fetched(cli, provider, isolated, url) -> None:
    answer_with_url(provider, url)
    run = run_once(cli)
    assert run.code == 6
    assert "only http(s) is fetched" in run.err or "not http(s) or base64 data:" in run.err
    assert files_in(isolated) == []


def test_a_base64_data_url_is_decoded_not_fetched(cli, provider, isolated) -> None:
    answer_with_url(provider, f"data:image/png;base64,{b64(png(6, 6))}")
    run = run_once(cli)
    assert run.code == 0, run.err
    assert (isolated / "kite.png").read_bytes() == png(6, 6)
    assert len(provider.seen) == 1  # the call itself: nothing was fetched
    answer_with_url(provider, "data:image/png;base64,AAAA")
    assert cli("--prompt", "p", "--out", "bad.png").code == 6
    assert files_in(isolated) == ["kite.png"]


def test_an_inline_image_over_the_cap_is_refused(cli, make_config, isolated) -> None:
    with FaultServer() as provider:
        local_config(make_config, provider, download_max_bytes=500)
        answer_with_url(provider, f"data:image/png;base64,{b64(png(6, 6) + bytes(1000))}")
        run = run_once(cli)
    assert run.code == 6 and "over download_max_bytes (500 bytes)" in run.err
    assert files_in(isolated) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://169.254.1.1/x.png",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/x.png",
    ],
)
def test_link_local_and_metadata_addresses_are_refused(cli, provider, isolated, url) -> None:
    answer_with_url(provider, url)
    run = run_once(cli)
    assert run.code == 6
    assert "link-local or cloud-metadata" in run.err


def public_provider(make_config, requests_mock, url: str) -> None:
    make_config({"api_key": API_KEY, "base_url": BASE})
    requests_mock.post(GEN, json={"data": [{"url": url}]})


def test_loopback_urls_are_refused_when_the_provider_is_public(cli, make_config, requests_mock, host) -> None:
    url = host.script("/img.png", image())
    public_provider(make_config, requests_mock, url)
    run = run_once(cli)
    assert run.code == 6
    assert "loopback or private" in run.err
    assert host.seen == []


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.20", "127.0.0.1"])
def test_a_name_resolving_to_a_private_address_is_refused_when_the_provider_is_public(
    cli, make_config, requests_mock, monkeypatch, address
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", (address, 0))])
    public_provider(make_config, requests_mock, "https://images.example.test/a.png")
    run = run_once(cli)
    assert run.code == 6
    assert "loopback or private" in run.err
    assert requests_mock.call_count == 1  # the provider call only


def test_a_public_url_is_fetched_without_the_key(cli, make_config, requests_mock, monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 0))])
    public_provider(make_config, requests_mock, "https://images.example.test/a.png")
    requests_mock.get("https://images.example.test/a.png", content=png(3, 3))
    run = run_once(cli)
    assert run.code == 0, run.err
    download = requests_mock.request_history[-1]
    assert download.url == "https://images.example.test/a.png"
    assert "Authorization" not in download.headers and "Cookie" not in download.headers


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_url_says_so(cli, provider, host, isolated, status) -> None:
    url = host.script("/old.png", Reply(status=status, body="<Error>AccessDenied</Error>"))
    answer_with_url(provider, url)
    run = run_once(cli)
    assert run.code == 6
    assert "probably expired" in run.err
    assert files_in(isolated) == []


@pytest.mark.parametrize("no_length", [False, True], ids=["declared", "undeclared"])
def test_a_download_over_the_cap_is_refused_and_leaves_no_file(
    cli, make_config, host, isolated, no_length
) -> None:
    with FaultServer() as provider:
        local_config(make_config, provider, download_max_bytes=500)
        url = host.script("/big.png", image(png(6, 6) + b"\0" * 1000, no_length=no_length))
        answer_with_url(provider, url)
        run = run_once(cli)
    assert run.code == 6
    assert "cap" in run.err and "500" in run.err
    assert files_in(isolated) == []


def test_a_download_under_the_cap_is_saved(cli, make_config, host, isolated) -> None:
    with FaultServer() as provider:
        local_config(make_config, provider, download_max_bytes=len(png(6, 6)))
        answer_with_url(provider, host.script("/ok.png", image()))
        assert run_once(cli).code == 0


def test_the_default_download_cap_is_64_mib() -> None:
    assert DEFAULT_MAX_BYTES == 64 * 1024 * 1024


def test_a_truncated_download_is_exit_6_and_leaves_no_file(cli, provider, host, isolated) -> None:
    url = host.script("/cut.png", image(png(40, 40), cut_at=30))
    answer_with_url(provider, url)
    run = run_once(cli)
    assert run.code == 6
    assert "cut off" in run.err
    assert files_in(isolated) == []


def test_a_download_that_is_not_an_image_is_exit_6(cli, provider, host, isolated) -> None:
    url = host.script("/page", Reply(body="<html>login</html>", content_type="text/html"))
    answer_with_url(provider, url)
    run = run_once(cli)
    assert run.code == 6
    assert files_in(isolated) == []
