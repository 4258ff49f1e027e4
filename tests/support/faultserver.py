"""A real HTTP server on 127.0.0.1 that misbehaves on purpose, for the faults requests-mock cannot make.

Each path gets a script of :class:`Reply` records, answered in order (the last one repeats):
HTML pages, 429 storms, bodies that drip a byte at a time, bodies cut short of their
Content-Length, redirects, server-sent events written in pieces, and connections closed after the
request arrived. A script entry may also be a function of the request (a rule) that returns the
reply, for answers that depend on what was sent or must wait for the test. Every request is
recorded (method, path, headers, body, arrival number) so tests can check what was sent, and how
often. This is the suite's one fake HTTP server (imagegate.testing.FakeProvider is the public kit
for plugin authors).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .helpers import API_KEY, images_answer, png


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    drip: float = 0.0  # seconds between single bytes of the body
    cut_at: int | None = None  # send only this many body bytes, with the full Content-Length
    hang_up: bool = False  # close the connection without answering
    delay: float = 0.0  # seconds to wait before answering at all
    no_length: bool = False  # no Content-Length: the body ends when the connection closes
    header_drip: float = 0.0  # seconds between single bytes of the status line and headers
    pieces: list[bytes] | None = None  # the body as these pieces, each written and flushed

    def payload(self) -> tuple[bytes, str]:
        if self.pieces is not None:
            return b"".join(self.pieces), self.content_type or "text/event-stream"
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), self.content_type or "application/json"
        data = self.body.encode() if isinstance(self.body, str) else self.body
        return data, self.content_type or "application/octet-stream"


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    number: int = 0  # the order of arrival at this server, from 0

    def json(self) -> Any:
        return json.loads(self.body)


#: A script entry computed from the request; it runs in the server's thread and may block.
Rule = Callable[[Seen], Reply]


def image_reply(*images: bytes, **extra: Any) -> Reply:
    """A 200 with an OpenAI-style b64_json answer."""
    return Reply(body=images_answer(*(images or (png(),)), **extra))


def stream_reply(pieces: list[bytes], **fields: Any) -> Reply:
    """Server-sent events (or any body) written in ``pieces``, ending when the connection closes."""
    return Reply(pieces=pieces, no_length=True, **fields)


def html_reply(status: int = 200, title: str = "Bad Gateway") -> Reply:
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return Reply(status=status, body=page, content_type="text/html; charset=utf-8")


def error_reply(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    """An OpenAI-style error answer."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return Reply(status=status, body={"error": error}, headers=dict(headers))


class FaultServer:
    """A threaded HTTP server on 127.0.0.1 with per-path scripts; use as a context manager."""

    def __init__(self, port: int = 0) -> None:
        self.scripts: dict[str, list[Reply | Rule]] = {}
        self.seen: list[Seen] = []
        self.hung_up: list[str] = []  # paths whose client hung up while the headers were dripping
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def script(self, path: str, *replies: Reply | Rule) -> str:
        """Answer ``path`` with ``replies`` in order, the last one repeating; returns its full URL."""
        with self._lock:
            self.scripts[path] = list(replies)
        return self.root + path

    def generations(self, *replies: Reply | Rule) -> None:
        self.script("/v1/images/generations", *replies)

    def edits(self, *replies: Reply | Rule) -> None:
        self.script("/v1/images/edits", *replies)

    def wait_for_hang_up(self, seconds: float = 5.0) -> bool:
        """Whether a client hangs up mid-headers within ``seconds`` (polled, not timed)."""
        end = time.monotonic() + seconds
        while not self.hung_up and time.monotonic() < end:
            time.sleep(0.02)
        return bool(self.hung_up)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.split("?")[0] == path]

    def record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Seen:
        with self._lock:
            seen = Seen(method, path, headers, body, len(self.seen))
            self.seen.append(seen)
        return seen

    def next_reply(self, request: Seen) -> Reply:
        with self._lock:
            script = self.scripts.get(request.path.split("?")[0])
            if not script:
                return Reply(status=404, body={"error": {"message": f"no script for {request.path}"}})
            entry = script.pop(0) if len(script) > 1 else script[0]
        return entry if isinstance(entry, Reply) else entry(request)  # a rule runs outside the lock

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = server.record(self.command, self.path, dict(self.headers.items()), body)
            self._answer(server.next_reply(request))

        do_GET = do_POST = _handle

        def _answer(self, reply: Reply) -> None:
            time.sleep(reply.delay)
            if reply.hang_up:
                self.close_connection = True
                return
            data, content_type = reply.payload()
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            if not reply.no_length:
                self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.cut_at is not None or reply.drip or reply.no_length:
                self.send_header("Connection", "close")
                self.close_connection = True
            if reply.header_drip:
                self._drip_headers(reply.header_drip)
            try:
                self.end_headers()
                self._send_body(reply, data)
            except (BrokenPipeError, ConnectionResetError):  # the client is gone (hung up or killed)
                self.close_connection = True

        def _drip_headers(self, pause: float) -> None:
            buffered, self._headers_buffer = b"".join(self._headers_buffer), []
            try:
                for index in range(len(buffered)):
                    self.wfile.write(buffered[index : index + 1])
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:
                server.hung_up.append(self.path)
                raise

        def _send_body(self, reply: Reply, data: bytes) -> None:
            if reply.cut_at is not None:
                self.wfile.write(data[: reply.cut_at])
                self.wfile.flush()
                return
            if reply.pieces is not None:
                for piece in reply.pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
                return
            if not reply.drip:
                self.wfile.write(data)
                return
            for index in range(len(data)):
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
                time.sleep(reply.drip)

    return Handler


def configured_server(make_config: Any, **keys: Any) -> Iterator[FaultServer]:
    """For a fixture (conftest's ``server``): a running server, with the default config pointing at it."""
    with FaultServer() as running:
        local_config(make_config, running, **keys)
        yield running


def local_config(make_config: Any, server: FaultServer, **keys: Any) -> Any:
    """A config (seed flat form) pointing the default provider at ``server``."""
    return make_config({"api_key": API_KEY, "base_url": server.base_url, **keys})


__all__ = [
    "FaultServer",
    "Reply",
    "Rule",
    "Seen",
    "configured_server",
    "error_reply",
    "html_reply",
    "image_reply",
    "local_config",
    "stream_reply",
]
