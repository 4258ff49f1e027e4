"""The connection itself keeps the network promises, against hostile servers, proxies and DNS on
127.0.0.1: it connects only to an address it judged (DNS rebinding), reads URLs as the check did,
skips interim answers, stays under the one deadline in every phase, and bounds decompression.

``socket.getaddrinfo`` is replaced to play a lying DNS, and every test runs with connections to
anything but loopback refused, so nothing here can leave the machine even if a guard failed.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from pathlib import Path

import pytest

from imagegate.adapter import HttpRequest
from imagegate.deadline import Deadline
from imagegate.errors import UnusableAnswer
from imagegate.reply import iter_body
from imagegate.transport import CHUNK, RequestsTransport

from .support.faultserver import FaultServer, Reply, image_reply
from .support.helpers import API_KEY, images_answer, png
from .support.rawserver import RawServer, response

REAL_GETADDRINFO = socket.getaddrinfo
REAL_CONNECT = socket.socket.connect


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Every connection to an address that is not loopback is refused and recorded (never made)."""
    attempts: list[object] = []

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else ""
        if not (str(host).startswith("127.") or host == "::1"):
            attempts.append(address)
            raise ConnectionRefusedError(f"test: no connection to {host} leaves this machine")
        return REAL_CONNECT(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def lying_dns(monkeypatch, names: dict[str, list[str]]) -> dict[str, int]:
    """``name`` answers its addresses in turn (the last one repeating); other hosts resolve truly."""
    asked: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        key = str(host).lower()
        if key not in names:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        answers = names[key]
        address = answers[min(asked.get(key, 0), len(answers) - 1)]
        asked[key] = asked.get(key, 0) + 1
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port or 0, 0, 0) if family == socket.AF_INET6 else (address, port or 0)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def public_provider(make_config, provider: FaultServer) -> None:
    """A provider whose base_url is public: its downloads must not reach private addresses."""
    make_config(
        {
            "api_key": API_KEY,
            "provider": "compatible",
            "base_url": "https://api.example.invalid/v1",
            "paths": {"generations": provider.root + "/v1/images/generations"},
        }
    )


def run_once(cli, *extra: str):
    return cli("--prompt", "a kite", "--out", "kite.png", *extra)


def image(data: bytes | None = None, **options) -> Reply:
    return Reply(body=data if data is not None else png(6, 6), content_type="image/png", **options)


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# -- #1: the host checked is the host connected to -------------------------------------------------
def test_a_backslash_image_url_does_not_reach_loopback_from_a_public_provider(
    cli, make_config, isolated
) -> None:
    with FaultServer() as provider, FaultServer() as host:
        host.script("/internal.png", image())
        url = f"http://127.0.0.1:{host.port}\\@images.example.invalid/internal.png"
        provider.generations(Reply(body={"data": [{"url": url}]}))
        public_provider(make_config, provider)
        run = run_once(cli)
    assert run.code == 6, run.err
    assert "refusing" in run.err
    assert host.seen == []
    assert files_in(isolated) == []


def test_a_redirect_with_a_backslash_is_refused(cli, make_config, isolated) -> None:
    with FaultServer() as provider, FaultServer() as host:
        start = host.script(
            "/start", Reply(status=302, headers={"Location": "http://169.254.169.254\\@8.8.8.8/"})
        )
        provider.generations(Reply(body={"data": [{"url": start}]}))
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        run = run_once(cli)
    assert run.code == 6, run.err
    assert "refusing" in run.err
    assert [seen.path for seen in host.seen] == ["/start"]


# -- #2: DNS rebinding: resolved once, judged, connected to what was judged -----------------------
def test_a_name_that_rebinds_to_loopback_is_not_fetched(cli, make_config, isolated, monkeypatch) -> None:
    with FaultServer() as provider, FaultServer() as host:
        host.script("/internal.png", image())
        lying_dns(monkeypatch, {"intranet.rebind.test": ["93.184.215.14", "127.0.0.1"]})
        url = f"http://intranet.rebind.test:{host.port}/internal.png"
        provider.generations(Reply(body={"data": [{"url": url}]}))
        public_provider(make_config, provider)
        run = run_once(cli)
    assert run.code == 6, run.err
    assert "loopback or private" in run.err
    assert host.seen == []
    assert files_in(isolated) == []


def test_a_name_that_rebinds_to_metadata_is_not_fetched_even_for_a_local_provider(
    cli, make_config, monkeypatch, loopback_only
) -> None:
    with FaultServer() as provider:
        lying_dns(monkeypatch, {"cdn.rebind.test": ["127.0.0.1", "169.254.169.254"]})
        provider.generations(Reply(body={"data": [{"url": "http://cdn.rebind.test/latest/meta-data/"}]}))
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        run = run_once(cli)
    assert run.code == 6, run.err
    assert "cloud-metadata" in run.err
    assert loopback_only == []  # refused before any connection was tried


def test_a_name_that_resolves_to_a_public_and_a_private_address_is_refused(
    cli, make_config, monkeypatch
) -> None:
    with FaultServer() as provider, FaultServer() as host:
        host.script("/a.png", image())
        asked = lying_dns(monkeypatch, {"two.rebind.test": ["93.184.215.14"]})

        def both(name, port, *args, **kwargs):
            if str(name) == "two.rebind.test":
                asked["two"] = asked.get("two", 0) + 1
                return [(2, 1, 6, "", ("93.184.215.14", port or 0)), (2, 1, 6, "", ("127.0.0.1", port or 0))]
            return REAL_GETADDRINFO(name, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", both)
        provider.generations(Reply(body={"data": [{"url": f"http://two.rebind.test:{host.port}/a.png"}]}))
        public_provider(make_config, provider)
        run = run_once(cli)
    assert run.code == 6, run.err
    assert host.seen == []


def test_a_name_that_stays_public_is_fetched_from_the_address_that_was_judged(
    cli, make_config, isolated, monkeypatch, loopback_only
) -> None:
    with FaultServer() as provider:
        lying_dns(monkeypatch, {"images.example.test": ["93.184.215.14"]})
        provider.generations(Reply(body={"data": [{"url": "http://images.example.test:8/a.png"}]}))
        public_provider(make_config, provider)
        run = run_once(cli)
    assert run.code == 5, run.err  # the test refuses the (public) connection: it was the one judged
    assert loopback_only and all(address[0] == "93.184.215.14" for address in loopback_only)


def test_the_key_is_not_sent_in_plaintext_when_localhost_resolves_to_a_public_address(
    cli, make_config, monkeypatch, loopback_only
) -> None:
    with FaultServer() as provider:
        provider.generations(image_reply())
        lying_dns(monkeypatch, {"localhost": ["93.184.215.14"]})
        make_config({"api_key": API_KEY, "base_url": f"http://localhost:{provider.port}/v1"})
        run = run_once(cli)
    assert run.code == 2, run.err
    assert "plaintext" in run.err
    assert provider.seen == [] and loopback_only == []


def test_the_key_is_not_sent_through_a_local_named_proxy_that_resolves_to_a_public_address(
    cli, make_config, monkeypatch, loopback_only
) -> None:
    with FaultServer() as proxy:
        lying_dns(monkeypatch, {"localhost": ["93.184.215.14"]})
        monkeypatch.setenv("HTTP_PROXY", f"http://localhost:{proxy.port}")
        make_config({"api_key": API_KEY, "base_url": "http://10.255.255.1:9/v1"})
        run = run_once(cli)
    assert run.code == 2, run.err
    assert "proxy" in run.err
    assert proxy.seen == [] and loopback_only == []


def test_a_local_provider_on_a_name_still_works(cli, make_config, monkeypatch) -> None:
    with FaultServer() as provider:
        provider.generations(image_reply())
        lying_dns(monkeypatch, {"localhost": ["127.0.0.1"]})
        make_config({"api_key": API_KEY, "base_url": f"http://localhost:{provider.port}/v1"})
        assert run_once(cli).code == 0


def image_proxy() -> RawServer:
    """A forwarding proxy that answers every request with a small PNG (and records what it was asked)."""
    return RawServer(lambda conn, head: conn.sendall(response(200, png(6, 6), {"Content-Type": "image/png"})))


def test_a_fetch_through_a_proxy_names_the_address_that_was_judged(cli, make_config, monkeypatch) -> None:
    with FaultServer() as provider, image_proxy() as proxy:
        lying_dns(monkeypatch, {"images.example.test": ["93.184.215.14"]})
        provider.generations(Reply(body={"data": [{"url": "http://images.example.test:8/a.png?x=1"}]}))
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        monkeypatch.setenv("HTTP_PROXY", proxy.root)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        run = run_once(cli)
    assert run.code == 0, run.err
    assert proxy.heads[0].startswith(b"GET http://93.184.215.14:8/a.png?x=1 HTTP/1.1")
    assert b"\r\nHost: images.example.test:8" in proxy.heads[0]


def test_a_name_that_rebinds_before_a_proxied_fetch_is_refused(cli, make_config, monkeypatch) -> None:
    with FaultServer() as provider, image_proxy() as proxy:
        lying_dns(monkeypatch, {"images.rebind.test": ["93.184.215.14", "127.0.0.1"]})
        provider.generations(Reply(body={"data": [{"url": "http://images.rebind.test/internal.png"}]}))
        public_provider(make_config, provider)
        monkeypatch.setenv("HTTP_PROXY", proxy.root)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        run = run_once(cli)
    assert run.code == 6, run.err
    assert "loopback or private" in run.err
    assert proxy.heads == []


def test_a_tunnelled_fetch_asks_the_proxy_for_the_judged_address(cli, make_config, monkeypatch) -> None:
    refuse = RawServer(
        lambda conn, head: conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    )
    with FaultServer() as provider, refuse as proxy:
        lying_dns(monkeypatch, {"images.example.test": ["93.184.215.14"]})
        provider.generations(Reply(body={"data": [{"url": "https://images.example.test/a.png"}]}))
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        monkeypatch.setenv("HTTPS_PROXY", proxy.root)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        run = run_once(cli, "--retries", "0")
    assert run.code == 5, run.err
    assert proxy.heads[0].startswith(b"CONNECT 93.184.215.14:443 ")


def test_a_socks_proxy_is_refused_rather_than_bypassed(cli, make_config, monkeypatch) -> None:
    with FaultServer() as provider:
        provider.generations(image_reply())
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:9")
        run = run_once(cli)
    assert run.code == 2, run.err
    assert "SOCKS" in run.err
    assert provider.seen == []


# -- interim (1xx) answers are skipped ----------------------------------------------------------
INTERIM = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 102 Processing\r\n\r\n"
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    b"HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n"
)


def test_interim_answers_before_the_answer_are_skipped(cli, make_config, isolated) -> None:
    import json

    body = json.dumps(images_answer(png(4, 4))).encode()

    def answer(conn, head):
        conn.sendall(INTERIM + response(200, body, {"Content-Type": "application/json"}))

    with RawServer(answer) as raw:
        make_config({"api_key": API_KEY, "base_url": raw.root + "/v1"})
        run = run_once(cli)
    assert run.code == 0, run.err
    assert files_in(isolated) == ["kite.png"]


def test_interim_answers_before_a_download_are_skipped(cli, make_config, isolated) -> None:
    def answer(conn, head):
        conn.sendall(INTERIM + response(200, png(6, 6), {"Content-Type": "image/png"}))

    with FaultServer() as provider, RawServer(answer) as raw:
        provider.generations(Reply(body={"data": [{"url": raw.root + "/a.png"}]}))
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        run = run_once(cli)
    assert run.code == 0, run.err
    assert Path(run.json["output_paths"][0]).read_bytes() == png(6, 6)


def test_endless_interim_answers_are_a_broken_server_not_a_hang(cli, make_config, isolated) -> None:
    def answer(conn, head):
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 500)

    with RawServer(answer) as raw:
        make_config({"api_key": API_KEY, "base_url": raw.root + "/v1"})
        run = run_once(cli, "--retries", "0")
    assert run.code == 5, run.err
    assert files_in(isolated) == []


# -- #11: every phase under the one deadline -----------------------------------------------------
def dripping_proxy(seconds: float) -> RawServer:
    """A proxy that answers CONNECT one byte at a time for ``seconds`` (then gives up)."""

    def answer(conn, head):
        end = time.monotonic() + seconds
        line = b"HTTP/1.1 200 Connection established\r\n"
        index = 0
        while time.monotonic() < end:
            conn.sendall(line[index % len(line) : index % len(line) + 1] if index < len(line) else b"X")
            index += 1
            time.sleep(0.1)

    return RawServer(answer)


def test_a_proxy_dripping_its_connect_answer_is_cut_at_the_deadline(cli, make_config, monkeypatch) -> None:
    with dripping_proxy(12.0) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.root)
        make_config({"api_key": API_KEY, "base_url": "https://api.example.test/v1"})
        run = run_once(cli, "--timeout", "1", "--retries", "0")
        assert proxy.hung_up.wait(8), "the client kept reading the dripping CONNECT answer"
    assert run.code == 5, run.err
    assert "timed out" in run.err
    assert proxy.heads and proxy.heads[0].startswith(b"CONNECT api.example.test:443")


def test_a_download_through_a_dripping_proxy_is_cut_at_the_deadline(cli, make_config, monkeypatch) -> None:
    with FaultServer() as provider, dripping_proxy(12.0) as proxy:
        provider.generations(Reply(body={"data": [{"url": "https://images.example.test/a.png"}]}))
        lying_dns(monkeypatch, {"images.example.test": ["93.184.215.14"]})
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        monkeypatch.setenv("HTTPS_PROXY", proxy.root)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        run = run_once(cli, "--timeout", "2", "--retries", "0")
        assert proxy.hung_up.wait(8), "the download kept reading the dripping CONNECT answer"
    assert run.code == 5, run.err
    assert "timed out" in run.err


def test_a_name_that_never_resolves_is_cut_at_the_deadline(cli, make_config, monkeypatch) -> None:
    released, returned = threading.Event(), threading.Event()

    def stuck(host, port, *args, **kwargs):
        if str(host) == "slow-dns.example.test":
            released.wait(20)
            returned.set()
            raise socket.gaierror("gave up")
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    make_config({"api_key": API_KEY, "base_url": "https://slow-dns.example.test/v1"})
    try:
        run = run_once(cli, "--timeout", "1", "--retries", "0")
        ended_first = not returned.is_set()
    finally:
        released.set()
    assert ended_first  # the run ended while the lookup was still blocked
    assert run.code == 5, run.err
    assert "timed out" in run.err


# -- #10 wire side: decompression is imagegate's, bounded, and capped --------------------------------
def fetch(url: str, cap: int = 1 << 30) -> bytes:
    """One credential-free GET through the network transport; the whole decoded body."""
    transport = RequestsTransport(max_body_bytes=cap)
    deadline = Deadline(10)
    reply = transport.send(HttpRequest("GET", url, credentials=False), deadline)
    pieces = list(iter_body(reply, deadline))
    assert all(len(piece) <= CHUNK for piece in pieces)
    return b"".join(pieces)


@pytest.fixture
def local_fetches():
    """Credential-free fetches to loopback, as for a provider on loopback."""
    from imagegate.addresses import download_guard
    from imagegate.connections import guarding

    with guarding(download_guard(True), fetches=True):
        yield


def test_a_gzip_bomb_stops_at_the_decompressed_cap(local_fetches) -> None:
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    with FaultServer() as host:
        url = host.script("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
        with pytest.raises(UnusableAnswer, match="larger than 1048576 bytes decompressed"):
            fetch(url, cap=1024 * 1024)


def test_a_deflate_body_is_read_in_bounded_pieces(local_fetches) -> None:
    data = b"\0" * (4 * 1024 * 1024)
    with FaultServer() as host:
        url = host.script(
            "/deflate", Reply(body=zlib.compress(data, 9), headers={"Content-Encoding": "deflate"})
        )
        assert fetch(url) == data


@pytest.mark.parametrize(
    ("encoding", "body", "said"),
    [
        ("gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(b"x"))), "stacks 3"),
        ("br", b"\x0b\x00\x80hello\x03", "not one imagegate asked for"),
        ("gzip", gzip.compress(b"x" * 1000)[:-12], "cut short"),
        ("gzip", b"this is not gzip", "corrupt"),
    ],
    ids=["stacked", "brotli", "truncated", "corrupt"],
)
def test_a_body_that_cannot_be_decoded_is_unusable(local_fetches, encoding, body, said) -> None:
    with FaultServer() as host:
        url = host.script("/odd", Reply(body=body, headers={"Content-Encoding": encoding}))
        with pytest.raises(UnusableAnswer, match=said):
            fetch(url)


def test_only_the_codings_imagegate_decodes_are_asked_for(local_fetches) -> None:
    with FaultServer() as host:
        url = host.script("/plain", Reply(body=b"ok"))
        assert fetch(url) == b"ok"
        assert host.seen[0].headers["Accept-Encoding"] == "gzip, deflate"
