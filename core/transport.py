"""The network transport, and the only module that imports ``requests`` or ``urllib3``.

It keeps the sessions whose sockets the deadline can cut, gives requests' responses and
exceptions key-free copies of what was sent, reads bodies in chunks bounded by the deadline, and
maps the backend's exceptions to the neutral outcomes of core/reply.py: ``NotSent`` (nothing
left, safe to retry), ``SentThenFailed`` (it may have arrived and been billed) and ``TimedOut``.
``requests`` is imported lazily, so ``--help`` and ``--version`` never pay for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .deadline import Deadline
from .reply import (
    CutOff,
    NotSent,
    Reply,
    SentThenFailed,
    TimedOut,
    Transport,
    TransportFailure,
    Unsendable,
)
from .secret import REDACTED, Secret, guarded_streams, redact, reveal_headers

if TYPE_CHECKING:
    import requests

    from .adapter import HttpRequest

__all__ = ["RequestsTransport", "Transports", "environ_proxies", "plain_session", "select_proxy", "use"]

CHUNK = 64 * 1024
USER_AGENT = "imagegate"


# -- the network transport -------------------------------------------------------------------------
class RequestsTransport:
    """Sends over the network with sessions of its own (no .netrc, no cookies from the environment).

    Requests with credentials share one session for the call; a credential-free fetch gets a fresh
    session, so nothing (cookies included) carries over from the provider.
    """

    schemes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._session: requests.Session | None = None

    def send(self, request: HttpRequest, deadline: Deadline) -> Reply:
        if request.credentials:
            if self._session is None:
                self._session = plain_session()
            return _send(self._session, request, deadline, closing=False)
        session = plain_session()  # a fetch of its own: closed with its reply
        try:
            return _send(session, request, deadline, closing=True)
        except BaseException:
            session.close()
            raise

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


_override: list[Transport] = []
_override_lock = threading.Lock()


@contextlib.contextmanager
def use(transport: Transport) -> Iterator[Transport]:
    """Send every network request made meanwhile (any thread) through ``transport`` instead."""
    with _override_lock:
        _override.append(transport)
    try:
        yield transport
    finally:
        with _override_lock:
            _override.remove(transport)


class Transports:
    """The transports of one call: the adapter's own for its schemes, the network for the rest."""

    def __init__(self, local: Transport | None = None) -> None:
        self.local = local
        with _override_lock:
            self.network: Transport = _override[-1] if _override else RequestsTransport()

    @property
    def local_schemes(self) -> frozenset[str]:
        return frozenset(self.local.schemes) if self.local is not None else frozenset()

    def send(self, request: HttpRequest, deadline: Deadline) -> Reply:
        scheme = urlsplit(request.url).scheme.lower()
        chosen = self.local if self.local is not None and scheme in self.local_schemes else self.network
        return chosen.send(request, deadline)

    def close(self) -> None:
        if isinstance(self.network, RequestsTransport):
            self.network.close()

    def __enter__(self) -> Transports:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plain_session() -> requests.Session:
    """A session of its own: no .netrc or cookies from the environment, connections cut at the deadline."""
    import requests

    session = requests.Session()
    session.trust_env = False  # no .netrc; proxies are taken from the environment explicitly
    session.headers["User-Agent"] = USER_AGENT
    watched = _watched_transport()
    session.mount("http://", watched())
    session.mount("https://", watched())
    return session


def environ_proxies(url: str) -> dict[str, str]:
    """The environment's proxies for ``url`` (NO_PROXY honoured)."""
    import requests

    return dict(requests.utils.get_environ_proxies(url))


def select_proxy(url: str, proxies: dict[str, str]) -> str | None:
    """The proxy of ``proxies`` that ``url`` would go through, if any."""
    import requests

    return requests.utils.select_proxy(url, proxies)


def _send(session: requests.Session, request: HttpRequest, deadline: Deadline, *, closing: bool) -> Reply:
    """One try on ``session``: the reply, or a neutral :class:`TransportFailure`."""
    import requests

    sent = _Sent()
    token = _sending.set(sent)
    try:
        response = _request(session, request, deadline)
    except requests.exceptions.ConnectTimeout as exc:
        _forget_key(exc, request)
        raise NotSent("timed out", type(exc).__name__, timed_out=True) from None
    except requests.exceptions.ConnectionError as exc:
        _forget_key(exc, request)
        raise _connection_failure(exc, deadline, sent.started) from None
    except requests.exceptions.Timeout as exc:
        raise TimedOut("timed out", type(exc).__name__, sent=sent.started) from None
    except requests.exceptions.RequestException as exc:  # an OSError too: caught first, never shown
        _forget_key(exc, request)
        raise _unsendable(exc) from None
    except UnicodeError:  # http.client encodes headers as Latin-1; the text may hold a key
        raise Unsendable("encoding") from None
    except OSError as exc:
        raise Unsendable("file", str(exc.strerror or exc), type(exc).__name__) from None
    finally:
        _sending.reset(token)
    _forget_key(response, request)
    return _reply(response, deadline, session if closing else None)


def _request(session: requests.Session, request: HttpRequest, deadline: Deadline) -> requests.Response:
    """The backend call itself: files open only while sending, sockets watched by the deadline."""
    remaining = max(deadline.remaining(), 0.001)
    web = urlsplit(request.url).scheme in ("http", "https")
    with contextlib.ExitStack() as stack:
        files = [
            (part.field, (part.path.name, stack.enter_context(open(part.path, "rb")), part.content_type))
            for part in request.files
        ]
        stack.enter_context(watching(deadline))
        return session.request(
            request.method,
            request.url,
            headers=reveal_headers(request.headers) if request.credentials else _keyless(request),
            json=request.json,
            data=request.form or None,
            files=files or None,
            stream=True,
            timeout=(min(30.0, remaining), remaining),
            allow_redirects=False,
            proxies=environ_proxies(request.url) if web else {},
        )


def _keyless(request: HttpRequest) -> dict[str, str]:
    """The headers of a credential-free fetch: none that carries a key."""
    secret = {name.lower() for name in request.secret_headers}
    return {k: v for k, v in request.headers.items() if not isinstance(v, Secret) and k.lower() not in secret}


def _connection_failure(exc: Exception, deadline: Deadline, started: bool = True) -> TransportFailure:
    """What a failed connection means; ``started``: a byte of the request itself was written.

    Before that (connecting, a proxy's tunnel refused with 407, the TLS handshake) nothing can have
    reached the provider, so nothing was billed and the try may be repeated.
    """
    if deadline.expired():
        return TimedOut("timed out", type(exc).__name__, sent=started)
    if not started or _not_sent(exc):
        return NotSent(_reason(exc), type(exc).__name__, blocked=_refused_by_the_system(exc))
    return SentThenFailed(_reason(exc), type(exc).__name__)


def _unsendable(exc: Exception) -> Unsendable:
    """A request that requests refused to build or send; its text is never shown (it may hold a header)."""
    import requests

    if isinstance(exc, requests.exceptions.InvalidHeader):
        return Unsendable("header", backend=type(exc).__name__)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return Unsendable("url", backend=type(exc).__name__)
    return Unsendable("other", backend=type(exc).__name__)


def _reply(response: requests.Response, deadline: Deadline, session: requests.Session | None) -> Reply:
    def close() -> None:
        response.close()
        if session is not None:
            session.close()

    reply = Reply(response.status_code, response.headers, (), reason=response.reason or "", on_close=close)
    reply.chunks = lambda: _chunks(response, deadline)  # type: ignore[method-assign]
    return reply


def _chunks(response: requests.Response, deadline: Deadline) -> Iterator[bytes]:
    """The body in chunks as they arrive, each read bounded by the deadline (a dripping server included)."""
    import urllib3

    raw = response.raw
    try:
        while True:
            if deadline.expired():
                raise TimedOut("timed out")
            _limit_wait(raw, deadline.remaining())
            chunk = raw.read1(CHUNK, decode_content=True) if hasattr(raw, "read1") else raw.read(CHUNK)
            if not chunk:
                break
            yield chunk
    except urllib3.exceptions.HTTPError as exc:
        if deadline.expired() or isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            raise TimedOut("timed out", type(exc).__name__) from None
        if not isinstance(exc, urllib3.exceptions.ProtocolError):
            raise SentThenFailed(_reason(exc), type(exc).__name__) from None
        raise CutOff(_shortfall(exc), type(exc).__name__) from None
    except TimeoutError:
        raise TimedOut("timed out") from None


# -- sockets the deadline can cut -------------------------------------------------------------------
_current_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "imagegate_deadline", default=None
)


@contextlib.contextmanager
def watching(deadline: Deadline) -> Iterator[None]:
    """Connections opened meanwhile are cut when ``deadline`` passes (headers dripping included).

    While http.client's debug printing is on (a library caller may turn it on), what it prints
    passes through the redaction too.
    """
    import http.client

    token = _current_deadline.set(deadline)
    deadline.arm()
    debugging = http.client.HTTPConnection.debuglevel > 0
    try:
        with guarded_streams() if debugging else contextlib.nullcontext():
            yield
    finally:
        _current_deadline.reset(token)


class _Sent:
    """Whether a byte of the request itself has been written (after connecting, tunnelling, TLS)."""

    started = False


_sending: contextvars.ContextVar[_Sent | None] = contextvars.ContextVar("imagegate_sending", default=None)


def _started(connection: Any) -> None:
    """Connect first if needed (a failure there sends nothing), then note the request is leaving."""
    if getattr(connection, "connecting", False):
        return
    if connection.sock is None:
        connection.connect()
    sent = _sending.get()
    if sent is not None:
        sent.started = True


def _cut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def _watched_transport() -> type:
    """A requests transport whose connections register with the deadline of the call opening them."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection

    def register(connection: Any) -> None:
        deadline, sock = _current_deadline.get(), connection.sock
        if deadline is not None and sock is not None:
            deadline.on_expiry(lambda: _cut(sock))

    class Watched(HTTPConnection):
        def connect(self) -> None:
            self.connecting = True  # what connect() sends (a proxy's CONNECT) is not the request
            try:
                super().connect()
            finally:
                self.connecting = False
            register(self)

        def send(self, data: Any) -> None:
            _started(self)
            super().send(data)

    class WatchedTLS(HTTPSConnection):
        def connect(self) -> None:
            self.connecting = True
            try:
                super().connect()
            finally:
                self.connecting = False
            register(self)

        def send(self, data: Any) -> None:
            _started(self)
            super().send(data)

    class WatchedTransport(HTTPAdapter):
        def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
            pool = super().get_connection_with_tls_context(*args, **kwargs)
            setattr(pool, "ConnectionCls", WatchedTLS if pool.scheme == "https" else Watched)  # noqa: B010
            return pool

    return WatchedTransport


def _forget_key(holder: Any, request: HttpRequest) -> None:
    """Give a response (or requests exception) a copy of its sent request with the key blanked.

    requests keeps the request it sent on the response and on its exceptions; after this, nothing
    imagegate holds once the request is sent, a traceback's local variables included, carries the
    key. (The object requests sent is left as it was, so a test double that recorded it still can.)
    """
    prepared = getattr(holder, "request", None)
    headers = getattr(prepared, "headers", None)
    names = [name for name, value in request.headers.items() if isinstance(value, Secret)]
    if prepared is None or headers is None or not any(name in headers for name in names):
        return
    clean = prepared.copy()
    for name in names:
        if name in clean.headers:
            clean.headers[name] = REDACTED
    holder.request = clean


def _limit_wait(raw: Any, seconds: float) -> None:
    """Let the next read block no longer than the deadline allows (not the per-read timeout)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # the connection handed its socket to the response (Connection: close)
        reader = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


def _shortfall(exc: BaseException) -> str:
    """How much of the announced body arrived, from urllib3's IncompleteRead if it is there."""
    for arg in (exc, *getattr(exc, "args", ())):
        partial, expected = getattr(arg, "partial", None), getattr(arg, "expected", None)
        if isinstance(partial, int) and isinstance(expected, int):
            return f"{partial} bytes arrived, {expected} more were announced (Content-Length mismatch)"
    return _reason(exc)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from, down to the socket's own error (urllib3 nests them)."""
    import urllib3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            current = current.reason
            continue
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or current.__context__ or nested


def _not_sent(exc: BaseException) -> bool:
    """Whether a connection error happened before any byte of the request left (safe to retry)."""
    import urllib3

    kinds = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError)
    return any(isinstance(cause, kinds) for cause in _causes(exc))


def _refused_by_the_system(exc: BaseException) -> bool:
    """Whether the socket itself was refused by the OS (EPERM/EACCES at socket or connect): a sandbox."""
    blocked = (errno.EPERM, errno.EACCES)
    return any(isinstance(cause, OSError) and cause.errno in blocked for cause in _causes(exc))


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact(text.split(": ", 1)[-1] if len(text) > 200 else text)
