"""imagegate's own reply and transport types: what a transport returns and how it is called.

No third-party type appears here; the network transport (core/transport.py) wraps its backend's
response in a :class:`Reply`, and in-process transports build one with :meth:`Reply.of`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .adapter import HttpRequest
    from .deadline import Deadline

__all__ = ["Headers", "LocalTransport", "Reply", "Transport"]

Headers = Mapping[str, str]  # case-insensitive


class _Caseless(Mapping[str, str]):
    """Headers looked up whatever their case, iterated in their own spelling."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._items = {key.lower(): (key, value) for key, value in (headers or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class Reply:
    """imagegate's own response: status, headers and the body as chunks (read once)."""

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: Iterable[bytes] = (),
        *,
        reason: str = "",
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers: Headers = _Caseless(headers)
        self._body = body
        self._on_close = on_close

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives (for a network reply, each read is bounded by the deadline)."""
        yield from self._body

    def close(self) -> None:
        """Release the connection (idempotent)."""
        closer, self._on_close = self._on_close, None
        if closer is not None:
            closer()

    @classmethod
    def of(
        cls,
        status: int,
        body: bytes | Iterable[bytes] = b"",
        headers: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> Reply:
        """A reply made in-process (a local transport, a test)."""
        chunks = [body] if isinstance(body, bytes) else body
        return cls(status, headers, chunks, reason=reason)

    @classmethod
    def json(cls, document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """A JSON reply made in-process."""
        return cls.of(
            status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})}
        )


class Transport(Protocol):
    """Sends one request and returns the reply (httpx's one-method transport, over our own types)."""

    schemes: tuple[str, ...]  # URL schemes it answers besides the network's (e.g. ("placeholder",))

    def send(self, request: HttpRequest, deadline: Deadline) -> Reply: ...


class LocalTransport:
    """Answers in-process through ``handler`` (the placeholder provider, tests); ``schemes`` it owns."""

    def __init__(self, handler: Callable[[HttpRequest], Reply], schemes: tuple[str, ...] = ()) -> None:
        self.handler = handler
        self.schemes = tuple(schemes)

    def send(self, request: HttpRequest, deadline: Deadline) -> Reply:
        deadline.check("waiting for the provider's answer", sent=True)
        return self.handler(request)
