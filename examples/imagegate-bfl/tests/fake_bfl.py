"""A fake Black Forest Labs API on 127.0.0.1, built from BFL's public API reference.

What it models (docs.bfl.ai: the model endpoints, ``/v1/get_result``, "Errors"; BFL's API skill):

- ``POST /v1/{model}`` with an ``x-key`` header and a JSON body (``prompt`` required; ``width`` and
  ``height`` multiples of 16 from 64; ``output_format`` jpeg or png) answers ``{"id", "polling_url"}``.
  A wrong or missing key is a 403, a bad body a 422 with FastAPI's ``{"detail": [{"loc", "msg"}]}``.
- The polling URL is a *regional* one (``/us1/v1/get_result?id=...``), as BFL's global endpoint
  gives, so a client that builds its own instead of using the one given fails here. A ``GET`` of it
  with the key answers ``{"id", "status", "result", "progress", "details"}``: each poll takes the
  next status the test scripted for that job (the last one repeats); ``Ready`` carries
  ``result.sample``, ``Error`` an ``error`` message, the moderated statuses ``details``; an unknown
  id is ``Task not found``.
- ``result.sample`` is a signed URL on ANOTHER server (another port): the delivery host, which
  serves the image only with a valid signature and records every request, so a test can prove the
  key is never sent there.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

POLL_PATH = "/us1/v1/get_result"
SIGNING_KEY = b"fake-delivery-signing-key"
#: How long a signed sample URL lasts (BFL: about ten minutes).
SAMPLE_LIFETIME = 600


@dataclass(frozen=True)
class Seen:
    """One request a fake server received (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Job:
    """One submitted job: the statuses its polls answer, in order (the last repeats)."""

    id: str
    model: str
    body: dict[str, Any]
    statuses: list[str]
    image: bytes
    reason: str = ""
    details: Any = None
    polls: int = 0


@dataclass
class Plan:
    """What the next submitted job will do."""

    statuses: tuple[str, ...] = ("Pending", "Ready")
    image: bytes = b""
    reason: str = "Internal error while generating"
    details: Any = None


@dataclass
class Fault:
    """An HTTP error answer given once, before the normal answers of that endpoint."""

    status: int
    document: Any


@dataclass
class _State:
    key: str
    plans: list[Plan] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    submit_faults: list[Fault] = field(default_factory=list)
    poll_faults: list[Fault] = field(default_factory=list)
    submits: list[Seen] = field(default_factory=list)
    polls: list[Seen] = field(default_factory=list)
    downloads: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    polled: threading.Condition = field(default_factory=threading.Condition)


class FakeBFL:
    """The BFL API (submit and polls) on one port and its delivery host on another."""

    def __init__(self, key: str, image: bytes = b"") -> None:
        self.state = _State(key)
        self.default_image = image
        self._ids = itertools.count(1)
        self.api = _server(self._api)
        self.delivery = _server(self._deliver)

    def __enter__(self) -> FakeBFL:
        for server in (self.api, self.delivery):
            threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.api, self.delivery):
            server.shutdown()
            server.server_close()

    # -- what a test uses ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The API root a profile's base_url names (BFL's is https://api.bfl.ai/v1)."""
        return f"{_root(self.api)}/v1"

    def plan(self, *statuses: str, image: bytes | None = None, reason: str = "", details: Any = None) -> None:
        """Script the next submitted job: the status each poll answers (the last repeats)."""
        plan = Plan(statuses or Plan.statuses, self.default_image if image is None else image)
        plan.reason, plan.details = reason or plan.reason, details
        with self.state.lock:
            self.state.plans.append(plan)

    def fail_submit(self, status: int, document: Any) -> None:
        self.state.submit_faults.append(Fault(status, document))

    def fail_poll(self, status: int, document: Any) -> None:
        self.state.poll_faults.append(Fault(status, document))

    @property
    def submits(self) -> list[Seen]:
        return list(self.state.submits)

    @property
    def polls(self) -> list[Seen]:
        return list(self.state.polls)

    @property
    def downloads(self) -> list[Seen]:
        return list(self.state.downloads)

    def wait_for_polls(self, count: int, seconds: float = 30.0) -> bool:
        """Block until ``count`` polls arrived (for tests that stop a call while it is pending)."""
        with self.state.polled:
            return self.state.polled.wait_for(lambda: len(self.state.polls) >= count, seconds)

    # -- the API host -------------------------------------------------------------------------------
    def _api(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.method == "POST" and re.fullmatch(r"/v1/[A-Za-z0-9._-]+", seen.path):
            return self._submit(seen)
        if seen.method == "GET" and seen.path == POLL_PATH:
            return self._poll(seen)
        return _json(404, {"detail": "Not Found"})

    def _submit(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        self.state.submits.append(seen)
        if seen.headers.get("x-key") != self.state.key:
            return _json(403, {"detail": "Not authenticated"})
        if self.state.submit_faults:
            fault = self.state.submit_faults.pop(0)
            return _json(fault.status, fault.document)
        try:
            body = seen.json
        except ValueError:
            return _json(422, {"detail": [{"loc": ["body"], "msg": "JSON decode error", "type": "json"}]})
        problems = _invalid(body)
        if problems:
            return _json(422, {"detail": problems})
        with self.state.lock:
            plan = self.state.plans.pop(0) if self.state.plans else Plan(image=self.default_image)
            job = Job(f"fake-{next(self._ids):04d}", seen.path.rsplit("/", 1)[1], body, list(plan.statuses),
                      plan.image, plan.reason, plan.details)  # fmt: skip
            self.state.jobs[job.id] = job
        polling_url = f"{_root(self.api)}{POLL_PATH}?id={job.id}"
        return _json(200, {"id": job.id, "polling_url": polling_url})

    def _poll(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        with self.state.polled:
            self.state.polls.append(seen)
            self.state.polled.notify_all()
        if seen.headers.get("x-key") != self.state.key:
            return _json(403, {"detail": "Not authenticated"})
        if self.state.poll_faults:
            fault = self.state.poll_faults.pop(0)
            return _json(fault.status, fault.document)
        job_id = seen.query.get("id", "")
        job = self.state.jobs.get(job_id)
        if job is None:
            return _json(200, {"id": job_id, "status": "Task not found", "result": None})
        status = job.statuses[min(job.polls, len(job.statuses) - 1)]
        job.polls += 1
        return _json(200, self._status_document(job, status))

    def _status_document(self, job: Job, status: str) -> dict[str, Any]:
        document: dict[str, Any] = {"id": job.id, "status": status, "result": None, "progress": None}
        if status == "Ready":
            started = time.time() - 3
            document["result"] = {
                "sample": self._signed_url(job),
                "prompt": job.body.get("prompt"),
                "seed": job.body.get("seed", 1234567890),
                "start_time": started,
                "end_time": started + 3,
                "duration": 3.0,
            }
        elif status == "Error":
            document["error"] = job.reason
        elif status in ("Request Moderated", "Content Moderated"):
            document["details"] = job.details
        elif status in ("Pending", "Generating"):
            document["progress"] = min(0.9, 0.3 * job.polls)
        return document

    # -- the delivery host --------------------------------------------------------------------------
    def _signed_url(self, job: Job) -> str:
        extension = "png" if job.body.get("output_format") == "png" else "jpeg"
        path = f"/results/{job.id}/sample.{extension}"
        expiry = str(int(time.time()) + SAMPLE_LIFETIME)
        return f"{_root(self.delivery)}{path}?se={expiry}&sig={_signature(path, expiry)}"

    def _deliver(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        self.state.downloads.append(seen)
        match = re.fullmatch(r"/results/([^/]+)/sample\.(png|jpeg)", seen.path)
        expiry, signature = seen.query.get("se", ""), seen.query.get("sig", "")
        signed = hmac.compare_digest(signature, _signature(seen.path, expiry))
        if match is None or not signed or not expiry.isdigit() or int(expiry) < time.time():
            body = b"<Error><Code>AuthenticationFailed</Code></Error>"
            return 403, {"Content-Type": "application/xml"}, body
        job = self.state.jobs[match.group(1)]
        kind = "image/png" if match.group(2) == "png" else "image/jpeg"
        return 200, {"Content-Type": kind}, job.image


def _invalid(body: Any) -> list[dict[str, Any]]:
    """What the submit's validation refuses, as FastAPI reports it."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}]
    problems = []
    if not isinstance(body.get("prompt"), str):
        problems.append({"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"})
    for side in ("width", "height"):
        value = body.get(side)
        if value is not None and (not isinstance(value, int) or value % 16 or value < 64):
            message = "Input should be a multiple of 16 of at least 64"
            problems.append({"loc": ["body", side], "msg": message, "type": "value_error"})
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        problems.append({"loc": ["body", "output_format"], "msg": "Input should be 'jpeg' or 'png'",
                         "type": "enum"})  # fmt: skip
    return problems


def _signature(path: str, expiry: str) -> str:
    return hmac.new(SIGNING_KEY, f"{path}:{expiry}".encode(), hashlib.sha256).hexdigest()[:32]


def _json(status: int, document: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def _root(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def _server(answer: Callable[[Seen], tuple[int, dict[str, str], bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, reply_headers, payload = answer(Seen(self.command, parts.path, query, headers, body))
            self.send_response(status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server
