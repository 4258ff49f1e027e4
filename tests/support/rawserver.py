"""A raw-socket server on 127.0.0.1 for wire faults an HTTP library will not write: interim (1xx)
answers before the final one, a proxy that drips its CONNECT answer, hand-built encodings.

Each connection is handed to ``handler(connection, head)`` in a thread of its own, with the
request's head (request line and headers) and its body already read; the handler writes raw bytes.
Every head is recorded, and whether a client hung up while the handler was still writing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """A threaded raw TCP server on 127.0.0.1; use as a context manager."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.heads: list[bytes] = []
        self.hung_up = threading.Event()  # a client went away while a handler was writing
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stopping:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            head = read_head(connection)
            if head is None:
                return
            self.heads.append(head)
            try:
                self.handler(connection, head)
            except OSError:
                self.hung_up.set()

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping = True
        self._listener.close()


def read_head(connection: socket.socket) -> bytes | None:
    """The request line and headers (and a Content-Length body, read and dropped)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.recv(65536)
        if not piece:
            return None
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(rest) < length:
        piece = connection.recv(65536)
        if not piece:
            break
        rest += piece
    return head


def response(status: int, body: bytes, headers: dict[str, str] | None = None, reason: str = "OK") -> bytes:
    """One raw HTTP/1.1 answer that closes the connection."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
