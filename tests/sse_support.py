"""A real HTTP server on 127.0.0.1 for streaming tests: it records each request and answers with
whatever the test scripted (server-sent events written in small pieces, or plain JSON)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers import b64, png


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What the server answers: a status, headers and the body in pieces (each written and flushed)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    pieces: list[bytes] = field(default_factory=list)


def sse(kind: str, document: Any, *, newline: str = "\n", with_event_line: bool = True) -> bytes:
    """One server-sent event carrying ``document`` as JSON data."""
    lines = [f"event: {kind}"] if with_event_line else []
    lines.append(f"data: {json.dumps(document)}")
    return (newline.join(lines) + newline + newline).encode()


def partial_event(image: bytes, index: int, prefix: str = "image_generation") -> bytes:
    return sse(
        f"{prefix}.partial_image",
        {
            "type": f"{prefix}.partial_image",
            "b64_json": b64(image),
            "created_at": 1,
            "size": "1024x1024",
            "quality": "low",
            "background": "opaque",
            "output_format": "png",
            "partial_image_index": index,
        },
    )


USAGE = {
    "input_tokens": 50,
    "output_tokens": 70,
    "total_tokens": 120,
    "input_tokens_details": {"text_tokens": 50},
}


def completed_event(image: bytes, prefix: str = "image_generation") -> bytes:
    return sse(
        f"{prefix}.completed",
        {
            "type": f"{prefix}.completed",
            "b64_json": b64(image),
            "created_at": 2,
            "size": "1024x1024",
            "quality": "low",
            "background": "opaque",
            "output_format": "png",
            "usage": USAGE,
        },
    )


def split(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes, so events straddle writes."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def standard_stream(partials: int = 2, prefix: str = "image_generation") -> tuple[list[bytes], bytes]:
    """Pieces of a stream with ``partials`` previews and one final image; returns (pieces, final)."""
    final = png(24, 16, colour=(1, 2, 3))
    events = b": keep-alive comment\n\n"
    for index in range(partials):
        events += partial_event(png(24, 16, colour=(index * 40, 0, 0)), index, prefix)
    events += completed_event(final, prefix)
    return split(events, 97), final


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        request = Recorded("POST", self.path, {k: v for k, v in self.headers.items()}, body)
        self.server.requests.append(request)  # type: ignore[attr-defined]
        reply: Reply = self.server.respond(request)  # type: ignore[attr-defined]
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            for piece in reply.pieces:
                self.wfile.write(piece)
                self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def server(respond: Callable[[Recorded], Reply]) -> Iterator[tuple[str, list[Recorded]]]:
    """Run a server on 127.0.0.1; yields its API root (``http://127.0.0.1:PORT/v1``) and the requests."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.requests = []  # type: ignore[attr-defined]
    httpd.respond = respond  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", httpd.requests  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
