"""imagegate's own reply and transport types: what a transport returns and how it is called.

No third-party type appears here; the network transport (core/transport.py) wraps its backend's
response in a :class:`Reply` and reports its failures as the neutral exceptions below, and
in-process transports build a reply with :meth:`Reply.of`. :func:`iter_body` reads any reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .deadline import timeout_error
from .errors import CutShort, NetworkError, UnusableAnswer
from .secret import redact

if TYPE_CHECKING:
    from .adapter import HttpRequest
    from .deadline import Deadline

__all__ = [
    "CutOff",
    "Headers",
    "LocalTransport",
    "NotSent",
    "Reply",
    "SentThenFailed",
    "TimedOut",
    "Transport",
    "TransportFailure",
    "Unreadable",
    "Unsendable",
    "iter_body",
    "read_limited",
    "reason",
    "shortfall",
]

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


# -- what a send may end in, whatever the backend ------------------------------------------------
class TransportFailure(Exception):
    """A request or body read that failed; ``reason`` is safe to show, ``backend`` names the error type."""

    def __init__(self, reason: str = "", backend: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.backend = backend


class NotSent(TransportFailure):
    """No byte of the request left (a refused connection, a name that does not resolve, a connect timeout).

    ``blocked``: the operating system itself refused to connect (EPERM or EACCES, as sandboxes do).
    """

    def __init__(
        self, reason: str = "", backend: str = "", *, timed_out: bool = False, blocked: bool = False
    ) -> None:
        super().__init__(reason, backend)
        self.timed_out = timed_out
        self.blocked = blocked


class SentThenFailed(TransportFailure):
    """The connection failed after the request (or part of it) was sent: it may have been billed."""


class TimedOut(TransportFailure):
    """The deadline (or the read timeout it set) passed while waiting for the answer.

    ``sent`` is False when it passed before any byte of the request left (connecting, a proxy
    tunnel, the TLS handshake): nothing can have been billed.
    """

    def __init__(self, reason: str = "", backend: str = "", *, sent: bool = True) -> None:
        super().__init__(reason, backend)
        self.sent = sent


class CutOff(TransportFailure):
    """The body ended before the length it announced."""


class Unreadable(TransportFailure):
    """The body cannot be read as sent: a content coding that is unknown, corrupt, stacked too deep,
    or that decompresses past the cap. ``reason`` says which."""


class Unsendable(TransportFailure):
    """The request could not be built or sent; ``what`` says which part (never its text)."""

    def __init__(
        self, what: Literal["header", "url", "encoding", "file", "other"], reason: str = "", backend: str = ""
    ) -> None:
        super().__init__(reason, backend)
        self.what = what


def shortfall(exc: BaseException) -> str:
    """How much of the announced body arrived, from an IncompleteRead (urllib3's) if it is there."""
    for arg in (exc, *getattr(exc, "args", ())):
        partial, expected = getattr(arg, "partial", None), getattr(arg, "expected", None)
        if isinstance(partial, int) and isinstance(expected, int):
            return f"{partial} bytes arrived, {expected} more were announced (Content-Length mismatch)"
    return reason(exc)


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact(text.split(": ", 1)[-1] if len(text) > 200 else text)


# -- reading a reply (any transport's) --------------------------------------------------------------
def iter_body(
    reply: Reply, deadline: Deadline, what: str = "reading the answer"
) -> Generator[bytes, None, None]:
    """Yield the body in chunks, never past the deadline; backend failures become the user's errors."""
    try:
        for chunk in reply.chunks():
            deadline.check(what, sent=True)
            yield chunk
    except TimedOut:
        raise timeout_error(deadline.seconds, what, sent=True) from None
    except CutOff as exc:
        raise CutShort(
            f"the answer was cut off while {what}: {exc.reason}",
            hints=("The provider may have billed the image; nothing was saved.",),
        ) from None
    except Unreadable as exc:
        raise UnusableAnswer(f"the answer could not be read while {what}: {exc.reason}") from None
    except TransportFailure as exc:
        raise NetworkError(f"the connection failed while {what}: {exc.reason}") from None
    finally:
        deadline.disarm()
        reply.close()


def read_limited(reply: Reply, deadline: Deadline, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body (enough for an error message), within the deadline."""
    parts, size = [], 0
    chunks = iter_body(reply, deadline, "reading the error answer")
    try:
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except UnusableAnswer:
        pass
    finally:
        chunks.close()
    return b"".join(parts)[:limit]
