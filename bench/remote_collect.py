"""Benchmark: collecting a 1 GiB batch output file with ``imagegate batch --remote`` in flat memory.

``python bench/remote_collect.py [--gib 1.0] [--lines 256]`` (from the repository, in its
virtualenv). A loopback server implements just enough of the Files and Batches endpoints: the
batch completes at once, and its output file is *generated* as it is sent (never held in memory):
one line per job, each carrying an image of (size / lines) bytes as inline base64 (a real PNG
header, then filler). imagegate runs as a subprocess; its peak RSS comes from ``os.wait4``.
It prints the figures; the goal is a peak RSS under 60 MiB. Not part of the tests.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KEY = "sk-bench-remote-collect-0123456789abcdef"
GOAL_MIB = 60


def png_header(width: int = 1024, height: int = 1024) -> bytes:
    """The signature and IHDR chunk of a PNG: enough for imagegate to know the image."""
    body = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")


class Engine:
    """The fake batch engine's memory: the custom_ids of the one batch, and the size to send."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.custom_ids: list[str] = []
        self.sent = 0

    def output_lines(self):
        """The output file, line by line, each image ``total / lines`` bytes (base64: 4/3 of that)."""
        per_image = max(1024, self.total * 3 // 4 // max(1, len(self.custom_ids)))
        block = base64.b64encode(png_header() + b"\0" * (per_image - 33 - per_image % 3))
        for index, custom_id in enumerate(reversed(self.custom_ids)):  # not the input order
            head = json.dumps({"id": f"batch_req_{index}", "custom_id": custom_id})[:-1]
            yield (head + ', "response": {"status_code": 200, "body": {"data": [{"b64_json": "').encode()
            for start in range(0, len(block), 1 << 20):
                yield block[start : start + (1 << 20)]
            yield b'"}]}}, "error": null}\n'


def handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, document: Any) -> None:
            data = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def batch(self) -> dict[str, Any]:
            total = len(engine.custom_ids)
            counts = {"total": total, "completed": total, "failed": 0}
            return {
                "id": "batch-1",
                "status": "completed",
                "output_file_id": "file-out",
                "request_counts": counts,
            }

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path.endswith("/files"):
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
                )
                for part in message.iter_parts():  # type: ignore[attr-defined]
                    if part.get_filename():
                        content = part.get_payload(decode=True) or b""
                        engine.custom_ids = [json.loads(line)["custom_id"] for line in content.splitlines()]
                self.answer({"id": "file-in", "object": "file"})
            else:
                self.answer(self.batch())

        def do_GET(self) -> None:
            if not self.path.endswith("/content"):
                self.answer(self.batch())
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in engine.output_lines():
                engine.sent += len(piece)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of the output file (default 1 GiB)")
    parser.add_argument("--lines", type=int, default=256, help="jobs (one image each) in the batch")
    args = parser.parse_args()
    engine = Engine(int(args.gib * (1 << 30)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(engine))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as folder:
        home = Path(folder)
        config = home / "config.json"
        config.write_text(
            json.dumps({"api_key": KEY, "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1"})
        )
        config.chmod(0o600)
        jobs = home / "jobs.jsonl"
        jobs.write_text("".join(json.dumps(f"image {i}") + "\n" for i in range(args.lines)))
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "XDG_STATE_HOME": str(home)}
        started = time.monotonic()
        command = [sys.executable, "-m", "imagegate", "batch", str(jobs), "--config", str(config)]
        command += ["--out-dir", str(home / "out"), "--remote", "--quiet"]
        with open(home / "stderr.txt", "w+b") as err_file:
            child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err_file)
            _pid, status, usage = os.wait4(child.pid, 0)
            seconds = time.monotonic() - started
            err_file.seek(0)
            err = err_file.read()
        files = list((home / "out").glob("*.png"))
        written = sum(path.stat().st_size for path in files)
    server.shutdown()
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    code = os.waitstatus_to_exitcode(status)
    print(f"output file streamed: {engine.sent / (1 << 30):.2f} GiB in {args.lines} lines")
    print(f"images written: {len(files)} files, {written / (1 << 20):.0f} MiB")
    print(f"exit code {code}; {seconds:.1f} s; {engine.sent / (1 << 20) / seconds:.0f} MiB/s")
    print(f"peak RSS of imagegate: {peak:.1f} MiB (goal: under {GOAL_MIB} MiB)")
    if code != 0:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return 0 if code == 0 and peak < GOAL_MIB and len(files) == args.lines else 1


if __name__ == "__main__":
    sys.exit(main())
