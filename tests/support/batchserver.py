"""A fake of OpenAI's Files and Batches endpoints on 127.0.0.1, built from the public API description.

What it implements (shared/reference/API-SHAPES.md, section 1):

- ``POST /v1/files`` (multipart ``file`` + ``purpose``) -> a file object; ``GET /v1/files/{id}/content``;
- ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window: "24h"``) -> a batch in
  ``validating``; the input is checked as the API checks it (one endpoint per batch, ``POST`` only,
  unique ``custom_id``, at most 50,000 lines, the file uploaded with ``purpose=batch``);
- ``GET /v1/batches/{id}`` moves the batch one step along its script on every poll
  (``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed``, or ``expired`` /
  ``cancelled`` part way); ``request_counts`` follow;
- ``POST /v1/batches/{id}/cancel`` -> ``cancelling``, then ``cancelled`` on the next poll;
- output and error files in the documented line format, written in an order that is NOT the
  input order; lines of an expired or cancelled batch that never ran go to the error file with
  ``response: null`` and ``error.code`` ``batch_expired`` / ``batch_cancelled``.

Each line is "run" by :meth:`BatchServer.outcome` (a generation or edit answered with a small PNG;
prompts containing ``moderate`` are refused as a moderation block; ``server-error`` gives a 500).
Every custom_id ever submitted is counted in :attr:`BatchServer.submitted`, so a test can prove no
job was submitted twice.
"""

from __future__ import annotations

import base64
import collections
import email.parser
import email.policy
import itertools
import json
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .helpers import API_KEY, png

ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
MAX_LINES = 50_000
HAPPY = ("validating", "in_progress", "finalizing", "completed")


@dataclass
class StoredFile:
    id: str
    purpose: str
    filename: str
    content: bytes


@dataclass
class Batch:
    id: str
    endpoint: str
    input_file_id: str
    lines: list[dict[str, Any]]
    script: list[str]
    step: int = 0
    finished: int = 0  # how many lines ran (for expired / cancelled batches, a part)
    cancel_asked: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    polls: int = 0

    @property
    def status(self) -> str:
        return self.script[min(self.step, len(self.script) - 1)]


@dataclass
class BatchServer:
    """The fake; ``with BatchServer() as server:`` serves it at :attr:`url` (``http://127.0.0.1:N/v1``)."""

    #: The statuses a new batch walks through, one per poll (the last one stays).
    script: list[str] = field(default_factory=lambda: list(HAPPY))
    #: For a script ending in ``expired``: how many lines ran before the window closed.
    expire_after: int = 0
    files: dict[str, StoredFile] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    submitted: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: list[tuple[str, str]] = field(default_factory=list)
    seed: int = 7

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- life ----------------------------------------------------------------------------------
    def __enter__(self) -> BatchServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    # -- what a line does ----------------------------------------------------------------------
    def outcome(self, line: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status code and body the real endpoint would have answered this line with."""
        body = line.get("body") or {}
        prompt = str(body.get("prompt", ""))
        if "moderate" in prompt:
            return 400, {
                "error": {
                    "message": "Your request was rejected by the safety system.",
                    "type": "image_generation_user_error",
                    "code": "moderation_blocked",
                }
            }
        if "server-error" in prompt:
            return 500, {"error": {"message": "The server had an error.", "type": "server_error"}}
        if line.get("url") == "/v1/images/edits":
            problem = self._check_edit(body)
            if problem:
                return 400, {"error": {"message": problem, "type": "invalid_request_error"}}
        count = int(body.get("n", 1))
        shade = sum(prompt.encode()) % 200
        data = [
            {"b64_json": base64.b64encode(png(colour=(shade, i * 20, 90))).decode()} for i in range(count)
        ]
        usage = {"input_tokens": 10, "output_tokens": 1000, "total_tokens": 1010}
        return 200, {"created": 1, "data": data, "usage": usage}

    def _check_edit(self, body: dict[str, Any]) -> str | None:
        images = body.get("images")
        if not isinstance(images, list) or not 1 <= len(images) <= 16:
            return "images must be a list of 1 to 16 image references"
        for ref in [*images, *([body["mask"]] if "mask" in body else [])]:
            if not isinstance(ref, dict) or len(ref) != 1:
                return "an image reference needs exactly one of image_url or file_id"
            file_id = ref.get("file_id")
            if file_id is not None and file_id not in self.files:
                return f"No such File object: {file_id}"
        return None

    # -- endpoints -----------------------------------------------------------------------------
    def upload(self, fields: dict[str, tuple[str, bytes]]) -> tuple[int, Any]:
        purpose = fields.get("purpose", ("", b""))[1].decode()
        if "file" not in fields or not purpose:
            return 400, {
                "error": {"message": "file and purpose are required", "type": "invalid_request_error"}
            }
        filename, content = fields["file"]
        stored = StoredFile(self.new_id("file"), purpose, filename, content)
        self.files[stored.id] = stored
        return 200, {
            "id": stored.id,
            "object": "file",
            "bytes": len(content),
            "purpose": purpose,
            "filename": filename,
        }

    def create(self, document: Any) -> tuple[int, Any]:
        if not isinstance(document, dict):
            return 400, _invalid("the body must be a JSON object")
        if document.get("completion_window") != "24h":
            return 400, _invalid("completion_window must be 24h")
        endpoint = document.get("endpoint")
        if endpoint not in ENDPOINTS:
            return 400, _invalid(f"unsupported endpoint {endpoint!r}")
        stored = self.files.get(str(document.get("input_file_id")))
        if stored is None or stored.purpose != "batch":
            return 400, _invalid("input_file_id must name a file uploaded with purpose=batch")
        lines = [json.loads(raw) for raw in stored.content.splitlines() if raw.strip()]
        problem = _check_lines(lines, endpoint)
        if problem:
            return 400, _invalid(problem)
        batch = Batch(self.new_id("batch"), endpoint, stored.id, lines, list(self.script))
        for line in lines:
            self.submitted[line["custom_id"]] += 1
        self.batches[batch.id] = batch
        return 200, self.describe(batch)

    def poll(self, batch_id: str) -> tuple[int, Any]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return 404, {
                "error": {"message": f"No batch found with id '{batch_id}'", "type": "invalid_request_error"}
            }
        batch.polls += 1
        if batch.cancel_asked:
            batch.script = [*batch.script[: batch.step + 1], "cancelled"]
        if batch.status not in ("completed", "expired", "cancelled", "failed"):
            batch.step += 1
        if batch.status in ("completed", "expired", "cancelled") and batch.output_file_id is None:
            self._finish(batch)
        return 200, self.describe(batch)

    def cancel(self, batch_id: str) -> tuple[int, Any]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return 404, {"error": {"message": "No such batch", "type": "invalid_request_error"}}
        if batch.status in ("completed", "expired", "cancelled", "failed"):
            return 400, _invalid(f"Cannot cancel a batch with status {batch.status}")
        batch.cancel_asked = True
        batch.script = [*batch.script[: batch.step + 1], "cancelling", "cancelled"]
        return 200, self.describe(batch)

    def _finish(self, batch: Batch) -> None:
        ran = len(batch.lines) if batch.status == "completed" else min(self.expire_after, len(batch.lines))
        batch.finished = ran
        output, errors = [], []
        for index, line in enumerate(batch.lines):
            entry = {"id": f"batch_req_{index}", "custom_id": line["custom_id"]}
            if index >= ran:
                code = "batch_expired" if batch.status == "expired" else "batch_cancelled"
                errors.append(
                    {
                        **entry,
                        "response": None,
                        "error": {"code": code, "message": f"This request was not run ({code})."},
                    }
                )
                continue
            status, body = self.outcome(line)
            record = {
                **entry,
                "response": {"status_code": status, "request_id": f"req_{index}", "body": body},
                "error": None,
            }
            (output if status == 200 else errors).append(record)
        random.Random(self.seed).shuffle(output)  # the documented "no order guaranteed"
        if output:
            batch.output_file_id = self._store_lines("batch_output", output)
        if errors:
            batch.error_file_id = self._store_lines("batch_error", errors)
        if not output:
            batch.output_file_id = None

    def _store_lines(self, purpose: str, lines: list[dict[str, Any]]) -> str:
        stored = StoredFile(
            self.new_id("file"),
            purpose,
            f"{purpose}.jsonl",
            b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        )
        self.files[stored.id] = stored
        return stored.id

    def describe(self, batch: Batch) -> dict[str, Any]:
        done = batch.status in ("completed", "expired", "cancelled")
        ran = batch.finished if done else 0
        failed = 0
        if done:
            failed = sum(1 for line in batch.lines[:ran] if self.outcome(line)[0] != 200)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "status": batch.status,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "request_counts": {"total": len(batch.lines), "completed": ran - failed, "failed": failed},
            "created_at": 1,
            "errors": None,
        }


def _invalid(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


def _check_lines(lines: list[Any], endpoint: str) -> str | None:
    if not lines:
        return "the input file has no requests"
    if len(lines) > MAX_LINES:
        return f"a batch takes at most {MAX_LINES} requests"
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or line.get("method") != "POST" or line.get("url") != endpoint:
            return f"line {number}: method must be POST and url {endpoint}"
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or custom_id in seen:
            return f"line {number}: The custom_id for this request is a duplicate of another request"
        seen.add(custom_id)
        if not isinstance(line.get("body"), dict):
            return f"line {number}: body must be an object"
    return None


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_filename() or "", part.get_payload(decode=True) or b"")
    return fields


def _handler(fake: BatchServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, document: Any = None, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(document).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/octet-stream" if raw is not None else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {API_KEY}":
                return True
            self._answer(
                401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
            )
            return False

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            if not self._authorised():
                return
            parts = self.path.split("?")[0].strip("/").split("/")
            with fake._lock:
                if parts[:2] == ["v1", "batches"] and len(parts) == 3:
                    self._answer(*fake.poll(parts[2]))
                elif parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
                    stored = fake.files.get(parts[2])
                    if stored is None:
                        self._answer(404, _invalid("No such File object"))
                    else:
                        self._answer(200, raw=stored.content)
                else:
                    self._answer(404, _invalid("unknown path"))

        def do_POST(self) -> None:
            fake.requests.append(("POST", self.path))
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not self._authorised():
                return
            path = self.path.split("?")[0].rstrip("/")
            with fake._lock:
                if path == "/v1/files":
                    self._answer(*fake.upload(_multipart(self.headers.get("Content-Type", ""), body)))
                elif path == "/v1/batches":
                    self._answer(*fake.create(json.loads(body or b"null")))
                elif path.startswith("/v1/batches/") and path.endswith("/cancel"):
                    self._answer(*fake.cancel(path.split("/")[3]))
                else:
                    self._answer(404, _invalid("unknown path"))

    return Handler
