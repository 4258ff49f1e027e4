"""A fake image provider on 127.0.0.1 for batch tests: records requests, can refuse, stall or rate-limit."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers import images_answer, png

#: Decides the answer to one request: (status, headers, body) or None for a normal image.
Rule = Callable[[dict[str, Any], int], "tuple[int, dict[str, str], bytes] | None"]


@dataclass
class Seen:
    prompt: str
    at: float
    status: int = 200


@dataclass
class FakeProvider:
    """The server's state: what it saw, and how it answers."""

    rule: Rule | None = None
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def prompts(self) -> list[str]:
        with self.lock:
            return [s.prompt for s in self.seen]

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            number = len(self.seen)
            entry = Seen(str(body.get("prompt")), time.monotonic())
            self.seen.append(entry)
        custom = self.rule(body, number) if self.rule else None
        status, headers, payload = custom or (200, {}, json.dumps(images_answer(png(4, 4))).encode())
        entry.status = status
        return status, headers, payload


def start(provider: FakeProvider) -> FakeProvider:
    """Serve ``provider`` in a daemon thread; call ``stop`` when done."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, headers, payload = provider.answer(body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client may be gone (killed)
                self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    provider.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.server.daemon_threads = True
    threading.Thread(target=provider.server.serve_forever, args=(0.05,), daemon=True).start()
    return provider


def stop(provider: FakeProvider) -> None:
    if provider.server is not None:
        provider.server.shutdown()
        provider.server.server_close()


def refusal(message: str = "bad request", status: int = 400) -> tuple[int, dict[str, str], bytes]:
    return status, {}, json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


class Raw(str):
    """A line written to a jobs file as it is."""


def _as_is(line: Any) -> bool:
    return isinstance(line, Raw) or (isinstance(line, str) and (line == "" or line.startswith("#")))


def write_jobs(path: Any, *lines: Any) -> Any:
    """A JSONL jobs file: strings become prompt lines, dicts objects; ``#``, blank and Raw lines as is."""
    text = [line if _as_is(line) else json.dumps(line) for line in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path
