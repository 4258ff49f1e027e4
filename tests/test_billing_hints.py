""" "The provider may have billed" is said only when a byte of the request left: never for a TLS
handshake that timed out, nor for a proxy that refused its tunnel (407), where nothing was sent.

The servers are raw sockets on 127.0.0.1 that stop at the step being tested.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from .support.helpers import API_KEY


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to ``handle`` in a thread; counts them."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.handle = handle
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        with connection:
            self.handle(connection)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()


def _silent(connection: socket.socket) -> None:
    """Read the TLS ClientHello and never answer it."""
    connection.settimeout(30)
    try:
        connection.recv(65536)
        connection.recv(65536)
    except OSError:
        pass


def _refusing_proxy(connection: socket.socket) -> None:
    """A proxy that answers every CONNECT with 407 and closes."""
    connection.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.recv(4096)
        if not piece:
            return
        data += piece
    connection.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def silent_tls(make_config) -> Iterator[RawServer]:
    with RawServer(_silent) as server:
        make_config({"api_key": API_KEY, "base_url": f"https://127.0.0.1:{server.port}/v1"})
        yield server


def test_a_tls_handshake_timeout_says_nothing_was_billed(cli, silent_tls) -> None:
    run = cli("--prompt", "p", "--out", "a.png", "--timeout", "1", "--retries", "0")
    assert run.code == 5, run.err
    assert "timed out" in run.err
    assert "billed" not in run.err


def test_a_proxy_refusing_the_tunnel_says_nothing_was_billed(cli, make_config, monkeypatch) -> None:
    with RawServer(_refusing_proxy) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        make_config({"api_key": API_KEY, "base_url": "https://api.example.test/v1"})
        run = cli("--prompt", "p", "--out", "a.png", "--retries", "1")
    assert run.code == 5, run.err
    assert "billed" not in run.err
    assert proxy.accepted == 2  # nothing was sent, so the try was safely repeated


def test_an_answer_with_conflicting_lengths_says_the_request_was_sent(cli, make_config, isolated) -> None:
    """A 200 whose head cannot be read (two different Content-Lengths) came after the request left:
    not exit 2 ("nothing was sent"), which would invite a rerun that pays twice."""
    from .support.rawserver import RawServer as HeadServer

    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nContent-Length: 500\r\n\r\n{}"
    )
    with HeadServer(lambda connection, head: connection.sendall(answer)) as provider:
        make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:{provider.port}/v1"})
        run = cli("--prompt", "p", "--out", "o.png", "--retries", "0")
    assert run.code == 5, run.err
    assert "after the request was sent" in run.err and "may have made and billed" in run.err
    assert not (isolated / "o.png").exists()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "event-stream"])
def test_a_body_without_length_cut_at_the_deadline_is_a_timeout_not_its_end(
    cli, make_config, isolated, stream
) -> None:
    """A body that ends only when the connection closes, stalled: the deadline cuts the socket, and
    that must read as the timeout it is (exit 5, may have billed), not as a short answer (exit 6)."""
    import time

    from .support.rawserver import RawServer as HeadServer

    kind = "text/event-stream" if stream else "application/json"
    start = b": ping\n\n" if stream else b'{"created": 1, "data": ['

    def stall(connection: socket.socket, head: bytes) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: " + kind.encode() + b"\r\nConnection: close\r\n\r\n" + start
        )
        time.sleep(4)

    with HeadServer(stall) as provider:
        make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:{provider.port}/v1"})
        flags = ("--stream",) if stream else ()
        run = cli("--prompt", "p", "--out", "o.png", "--timeout", "1", "--retries", "0", *flags)
    assert run.code == 5, run.err
    assert "timed out" in run.err and "may have" in run.err
    assert not (isolated / "o.png").exists()
