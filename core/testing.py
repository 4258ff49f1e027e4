"""Helpers for testing provider plugins, imported by a plugin's own test suite.

- :func:`registered` makes a provider available for the duration of a ``with`` block (and
  :func:`provider_fixture` turns that into a pytest fixture);
- :func:`run_cli` runs the ``imagegate`` command in-process and captures its exit code, stdout
  (one JSON object) and stderr;
- :class:`FakeProvider` is a real HTTP server on 127.0.0.1 that records every request and answers
  with scripted answers: base64 images, image URLs (served by itself), errors or any JSON;
- :class:`MockTransport` answers in-process through a handler and records every
  :class:`~imagegate.adapter.HttpRequest` it is sent; :func:`use_transport` makes a whole CLI or
  library run send through it instead of the network;
- :func:`write_config` writes a private config file; :func:`check_adapter` checks the contract.

Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import plugins, routing
from .adapter import Adapter, HttpRequest, LocalTransport, Reply
from .options import OPERATIONS, POLL

__all__ = [
    "CliResult",
    "FakeProvider",
    "MockTransport",
    "Part",
    "RecordedRequest",
    "Reply",
    "check_adapter",
    "provider_fixture",
    "registered",
    "run_cli",
    "tiny_png",
    "use_transport",
    "write_config",
]


# -- registering a provider ------------------------------------------------------------------------
@contextlib.contextmanager
def registered(
    adapter: type[Adapter], distribution: str = "test", version: str = "0"
) -> Iterator[type[Adapter]]:
    """Make ``adapter`` a provider until the block ends; an installed provider of the same name is
    hidden meanwhile (so a plugin's tests work whether or not the plugin is also installed)."""
    with plugins.registered(adapter, distribution, version):
        yield adapter


def provider_fixture(adapter: type[Adapter], distribution: str = "test") -> Callable[..., Any]:
    """A pytest fixture that registers ``adapter`` for each test using it:
    ``my_provider = provider_fixture(MyAdapter)`` in a conftest.py."""
    import pytest

    @pytest.fixture
    def fixture() -> Iterator[type[Adapter]]:
        with registered(adapter, distribution):
            yield adapter

    return fixture


# -- an in-process transport ------------------------------------------------------------------------
class MockTransport(LocalTransport):
    """Answers every request in-process with ``handler(request) -> Reply`` and records it in ``requests``.

    ``requests`` holds the :class:`HttpRequest` objects as the core sent them (a key header holds
    its Secret: ``request.headers["Authorization"].reveal()`` in a test that checks it).
    """

    def __init__(self, handler: Callable[[HttpRequest], Reply], schemes: tuple[str, ...] = ()) -> None:
        super().__init__(handler, schemes)
        self.requests: list[HttpRequest] = []
        self._lock = threading.Lock()

    def send(self, request: HttpRequest, deadline: Any) -> Reply:
        with self._lock:
            self.requests.append(request)
        return super().send(request, deadline)


@contextlib.contextmanager
def use_transport(mock: LocalTransport) -> Iterator[LocalTransport]:
    """Until the block ends, every network request of any run (CLI, library, batch) goes to ``mock``.

    A provider's own in-process transport (its ``transport()``) still answers its own schemes.
    """
    with routing.use(mock):
        yield mock


# -- running the CLI ---------------------------------------------------------------------------------
@dataclass
class CliResult:
    """What one ``imagegate`` run did: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        """The one JSON object the command printed on stdout."""
        return json.loads(self.out)


def run_cli(*args: str | os.PathLike[str]) -> CliResult:
    """Run ``imagegate ARGS...`` in this process, with the providers registered here."""
    from .cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([os.fspath(arg) for arg in args])
    return CliResult(code, out.getvalue(), err.getvalue())


def write_config(path: str | os.PathLike[str], document: dict[str, Any]) -> Path:
    """Write a private (mode 600) config file, as imagegate requires, and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document), encoding="utf-8")
    target.chmod(0o600)
    return target


def tiny_png(width: int = 8, height: int = 8, seed: str = "imagegate.testing") -> bytes:
    """A small valid PNG; a different ``seed`` gives different colours."""
    import hashlib

    from .png import solid

    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return solid(width, height, (digest[0], digest[1], digest[2]))


def check_adapter(adapter: type[Adapter]) -> None:
    """Raise AssertionError when ``adapter`` breaks the contract a plugin must keep."""
    import jsonschema

    assert isinstance(adapter, type) and issubclass(adapter, Adapter), f"{adapter!r} is not an Adapter"
    assert adapter.name and not any(c.isspace() for c in adapter.name), f"bad name {adapter.name!r}"
    unknown = set(adapter.operations) - set(OPERATIONS)
    assert not unknown, f"unknown operations {sorted(unknown)}"
    schema = adapter.config_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema.get("type") == "object", "the config schema must describe an object"
    assert isinstance(adapter.config_schema_location(), str)
    if POLL in adapter.operations:
        assert adapter.poll is not Adapter.poll, "an adapter that lists poll must write poll()"


# -- a loopback fake provider ------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One part of a multipart body: field name, file name (None for text fields), type, bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _payload(part: Any) -> bytes:
    """A multipart part's body as bytes (empty when the parser gives none)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


@dataclass
class RecordedRequest:
    """One request the fake provider received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, whatever its case."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def parts(self) -> list[Part]:
        """The parts of a multipart/form-data body, in order."""
        head = f"Content-Type: {self.header('content-type')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        return [
            Part(
                str(part.get_param("name", header="content-disposition") or ""),
                part.get_filename(),
                part.get_content_type() if part.get_filename() else None,
                _payload(part),
            )
            for part in message.iter_parts()
        ]

    @property
    def fields(self) -> dict[str, str]:
        """The text fields of a multipart body."""
        return {p.name: p.data.decode("utf-8") for p in self.parts if p.filename is None}

    @property
    def files(self) -> list[Part]:
        """The file parts of a multipart body."""
        return [p for p in self.parts if p.filename is not None]


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class FakeProvider:
    """An OpenAI-style image provider on 127.0.0.1 that plays scripted answers in order.

    Use it as a context manager; ``url`` is its root (``http://127.0.0.1:PORT``). With no answer
    scripted it answers each call with ``n`` base64 PNGs. ``expect()`` makes it refuse requests
    whose path, query or headers differ, the way a real provider would.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.downloads: list[RecordedRequest] = []
        self._answers: deque[_Answer] = deque()
        self._files: dict[str, bytes] = {}
        self._expected: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle
    def __enter__(self) -> FakeProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeProvider as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def last(self) -> RecordedRequest:
        """The last API request (downloads of served images not counted)."""
        return self.requests[-1]

    # -- scripting
    def expect(
        self,
        path: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Refuse (HTTP 404 or 401, OpenAI-style error) requests that do not match."""
        self._expected = {"path": path, "query": query, "headers": headers}

    def answer_b64(self, *images: bytes, **extra: Any) -> None:
        """Answer the next call with these images as ``data[].b64_json`` (plus ``extra`` keys)."""
        import base64

        data = [{"b64_json": base64.b64encode(image).decode("ascii")} for image in images]
        self.answer_json({"created": 0, "data": data, **extra})

    def answer_url(self, *images: bytes, **extra: Any) -> None:
        """Answer the next call with links to these images, served by this fake."""
        data = []
        for image in images:
            name = f"/files/{len(self._files) + 1}.png"
            self._files[name] = image
            data.append({"url": self.url + name})
        self.answer_json({"created": 0, "data": data, **extra})

    def answer_error(
        self,
        status: int,
        message: str = "refused",
        *,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next call with an OpenAI-style error body."""
        self.answer_json({"error": {"message": message, "type": type, "code": code}}, status, headers)

    def answer_json(self, document: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer the next call with any JSON document."""
        headers = {"Content-Type": "application/json", **(headers or {})}
        self.answer_raw(status, json.dumps(document).encode(), headers)

    def answer_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Answer the next call with these exact bytes."""
        with self._lock:
            self._answers.append(_Answer(status, body, dict(headers or {})))

    # -- serving
    def _respond(self, request: RecordedRequest) -> _Answer:
        if request.method == "GET" and request.path in self._files:
            self.downloads.append(request)
            return _Answer(200, self._files[request.path], {"Content-Type": "image/png"})
        with self._lock:
            self.requests.append(request)
            refusal = self._mismatch(request)
            if refusal is not None:
                return refusal
            if self._answers:
                return self._answers.popleft()
        import base64

        count = _requested_count(request)
        data = [{"b64_json": base64.b64encode(tiny_png(seed=str(i))).decode()} for i in range(count)]
        return _json_answer(200, {"created": 0, "data": data})

    def _mismatch(self, request: RecordedRequest) -> _Answer | None:
        expected = self._expected
        problems = []
        if expected.get("path") not in (None, request.path):
            problems.append((404, f"expected path {expected['path']}, got {request.path}"))
        for key, value in (expected.get("query") or {}).items():
            if request.query.get(key) != value:
                problems.append((404, f"expected query {key}={value}, got {request.query.get(key)}"))
        for key, value in (expected.get("headers") or {}).items():
            if request.header(key) != value:
                problems.append((401, f"expected header {key} with the right value"))
        if not problems:
            return None
        status, message = problems[0]
        error = {"error": {"message": message, "type": "invalid_request_error", "code": "fake_mismatch"}}
        return _json_answer(status, error)


def _json_answer(status: int, document: Any) -> _Answer:
    return _Answer(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


def _requested_count(request: RecordedRequest) -> int:
    try:
        if (request.header("content-type") or "").startswith("multipart/"):
            return int(request.fields.get("n", 1))
        return int(request.json.get("n") or 1)
    except (ValueError, AttributeError, TypeError):
        return 1


def _handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = RecordedRequest(
                self.command, parts.path, dict(parse_qsl(parts.query)), dict(self.headers.items()), body
            )
            answer = fake._respond(request)
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
