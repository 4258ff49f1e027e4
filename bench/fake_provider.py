"""A loopback fake image provider for the benchmark: OpenAI-style answers of random-looking PNGs.

``python bench/fake_provider.py [--latency SECONDS]`` prints its port on stdout, then serves
``POST /v1/images/generations`` until killed. Each image of size WxH is a PNG of random pixels
stored without compression (incompressible, about W*H*3 bytes), so a 2048x2048 image is ~12 MiB
and an answer with four of them ~64 MiB of JSON. Answers are built once and cached.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from imagegate.png import encode


def random_png(width: int, height: int) -> bytes:
    """An RGB PNG of random pixels, zlib level 0: as big as the pixels themselves."""
    return encode(width, height, (os.urandom(width * 3) for _ in range(height)), level=0)


@cache
def answer(size: str, n: int) -> bytes:
    width, height = (int(side) for side in size.split("x"))
    data = [{"b64_json": base64.b64encode(random_png(width, height)).decode()} for _ in range(n)]
    return json.dumps({"created": int(time.time()), "data": data, "usage": {"total_tokens": 1}}).encode()


_build_lock = threading.Lock()


def serve(latency: float, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            size = body.get("size") or "1024x1024"
            with _build_lock:
                payload = answer(size if size != "auto" else "1024x1024", int(body.get("n") or 1))
            if latency:
                time.sleep(latency)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            view = memoryview(payload)
            for start in range(0, len(view), 1 << 20):
                self.wfile.write(view[start : start + (1 << 20)])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--warm", action="append", default=[], metavar="SIZE:N", help="build an answer now")
    args = parser.parse_args()
    for item in args.warm:
        size, n = item.split(":")
        answer(size, int(n))
    server = serve(args.latency)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
