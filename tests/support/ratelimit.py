"""A loopback image provider that enforces a token bucket, as OpenAI's rate limits behave.

Built from OpenAI's public rate-limit documentation: every answer carries
``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests`` and
``x-ratelimit-reset-requests`` (the time until the bucket is whole again, as a duration such as
``250ms`` or ``1s``); a request that finds the bucket empty gets 429 with ``Retry-After`` (whole
seconds) and the error code ``rate_limit_exceeded``. The default bucket holds 4 requests and
refills 4 a second. Answers are OpenAI-style ``b64_json`` images; every request is counted.
Used by the tests (with a fast bucket) and by ``bench/ratelimit.py``.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from imagegate.png import solid


def go_duration(seconds: float) -> str:
    """A duration as OpenAI writes it: ``250ms`` under a second, else ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


class TokenBucket:
    """``burst`` requests at once, then ``rate`` a second; thread-safe, on an injectable clock."""

    def __init__(
        self, burst: int = 4, rate: float = 4.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.rate, self.clock = burst, rate, clock
        self.tokens = float(burst)
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, dict[str, str]]:
        """Spend one request if the bucket has one; (allowed, the rate-limit headers of the answer)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            allowed = self.tokens >= 1
            if allowed:
                self.tokens -= 1
            headers = {
                "x-ratelimit-limit-requests": str(self.burst),
                "x-ratelimit-remaining-requests": str(math.floor(self.tokens)),
                "x-ratelimit-reset-requests": go_duration((self.burst - self.tokens) / self.rate),
            }
            if not allowed:
                headers["retry-after"] = str(math.ceil((1 - self.tokens) / self.rate))
            return allowed, headers


class RateLimitedProvider:
    """``POST /v1/images/generations`` behind a token bucket on 127.0.0.1; use as a context manager."""

    def __init__(
        self, burst: int = 4, rate: float = 4.0, latency: float = 0.0, port: int = 0, refuse_first: int = 0
    ) -> None:
        self.bucket = TokenBucket(burst, rate)
        self.latency = latency
        self.refuse_first = (
            refuse_first  # the first N requests get 429 (retry-after-ms 50), whatever the bucket
        )
        self.accepted = self.refused = 0
        self._lock = threading.Lock()
        self._image = base64.b64encode(solid(8, 8, (40, 120, 200))).decode()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        return self.accepted + self.refused

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            forced = self.requests < self.refuse_first
            self.refused += forced
        if forced:
            headers = {"retry-after": "1", "retry-after-ms": "50"}
            return (
                429,
                headers,
                json.dumps({"error": {"message": "slow down", "code": "rate_limit_exceeded"}}).encode(),
            )
        allowed, headers = self.bucket.take()
        with self._lock:
            self.accepted += allowed
            self.refused += not allowed
        if not allowed:
            error = {
                "message": "Rate limit reached for requests per min. Please try again shortly.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
            return 429, headers, json.dumps({"error": error}).encode()
        if self.latency:
            time.sleep(self.latency)
        count = int(body.get("n") or 1)
        answer = {
            "created": int(time.time()),
            "data": [{"b64_json": self._image} for _ in range(count)],
            "usage": {"input_tokens": 10, "output_tokens": 100, "total_tokens": 110},
        }
        return 200, headers, json.dumps(answer).encode()

    def __enter__(self) -> RateLimitedProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(provider: RateLimitedProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.split("?")[0] != "/v1/images/generations":
                self._send(404, {}, b'{"error": {"message": "not found"}}')
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            self._send(*provider.answer(body if isinstance(body, dict) else {}))

        def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
