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
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .deadline import Deadline
from .decoding import content_codings, decoded
from .reply import (
    CutOff,
    NotSent,
    Reply,
    SentThenFailed,
    TimedOut,
    Transport,
    TransportFailure,
    Unreadable,
    Unsendable,
)
from .secret import REDACTED, Secret, guarded_streams, redact, reveal_headers

if TYPE_CHECKING:
    import requests

    from .adapter import HttpRequest

__all__ = [
    "MAX_BODY_BYTES",
    "Guard",
    "RequestsTransport",
    "Transports",
    "environ_proxies",
    "guarding",
    "parse_url",
    "plain_session",
    "resolve",
    "select_proxy",
    "use",
]

CHUNK = 64 * 1024
USER_AGENT = "imagegate"
#: The content codings imagegate asks for and decodes itself (bounded, see core/decoding.py).
ACCEPT_ENCODING = "gzip, deflate"
#: The default cap on one answer body, counted after decompression (profile key answer_max_bytes).
MAX_BODY_BYTES = 1024 * 1024 * 1024
#: The most interim (1xx) responses skipped before one answer; more is a broken server.
MAX_INTERIM = 100


# -- the network transport -------------------------------------------------------------------------
class RequestsTransport:
    """Sends over the network with sessions of its own (no .netrc, no cookies from the environment).

    Requests with credentials share one session for the call; a credential-free fetch gets a fresh
    session, so nothing (cookies included) carries over from the provider.
    """

    schemes: tuple[str, ...] = ()

    def __init__(self, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._session: requests.Session | None = None
        self.max_body_bytes = max_body_bytes

    def send(self, request: HttpRequest, deadline: Deadline) -> Reply:
        with guarding(_guard_for(request)):
            if request.credentials:
                if self._session is None:
                    self._session = plain_session()
                return _send(self._session, request, deadline, closing=False, cap=self.max_body_bytes)
            session = plain_session()  # a fetch of its own: closed with its reply
            try:
                return _send(session, request, deadline, closing=True, cap=self.max_body_bytes)
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

    def __init__(self, local: Transport | None = None, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.local = local
        with _override_lock:
            self.network: Transport = _override[-1] if _override else RequestsTransport(max_body_bytes)

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
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING  # only what core/decoding.py decodes
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


def parse_url(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` exactly as the connection reads them (requests prepares the
    URL, then urllib3 parses what it prepared); ValueError for a URL requests would refuse."""
    import requests
    import urllib3

    try:
        parts = urllib3.util.parse_url(_requests_url(url))
    except (requests.exceptions.RequestException, ValueError, UnicodeError) as exc:
        raise ValueError(type(exc).__name__) from None
    return (parts.scheme or "").lower(), parts.host or "", parts.port


def resolve(host: str, port: int | None, seconds: float | None = None, family: int = 0) -> list[Any]:
    """``getaddrinfo`` for a TCP connection, given up after ``seconds`` (raises TimeoutError).

    A lookup cannot be interrupted, so under a time limit it runs in a thread of its own, which is
    left to finish on its own when the time is up.
    """
    if seconds is None:
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    found: list[Any] = []
    failed: list[BaseException] = []

    def lookup() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=lookup, name="imagegate-resolve", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.001))
    if worker.is_alive():
        raise TimeoutError("the host name did not resolve in the time left")
    if failed:
        raise failed[0]
    return found


# -- guards: what a connection may be made to ------------------------------------------------------
Judge = Callable[[str, list[Any]], None]


@dataclass(frozen=True)
class Guard:
    """Judges a host and every address it resolved to, right before connecting (raise to refuse).

    ``target`` judges a direct connection, ``proxy`` the connection to a proxy (which then reaches
    the target itself). Built by core/addresses.py, which holds the policy.
    """

    target: Judge | None = None
    proxy: Judge | None = None


_current_guard: contextvars.ContextVar[Guard | None] = contextvars.ContextVar("imagegate_guard", default=None)
_fetch_guard: contextvars.ContextVar[Guard | None] = contextvars.ContextVar("imagegate_fetch", default=None)


@contextlib.contextmanager
def guarding(guard: Guard, *, fetches: bool = False) -> Iterator[None]:
    """Connections opened meanwhile obey ``guard`` (``fetches``: the rule for credential-free fetches)."""
    variable = _fetch_guard if fetches else _current_guard
    token = variable.set(guard)
    try:
        yield
    finally:
        variable.reset(token)


def _guard_for(request: HttpRequest) -> Guard:
    """The plaintext rule for a request with the key; the download rules for a credential-free fetch."""
    from . import addresses  # addresses asks this module to parse and resolve: imported when sending

    if request.credentials:
        return addresses.key_guard(request.url)
    return _fetch_guard.get() or addresses.download_guard(allow_private=False)


def _send(
    session: requests.Session, request: HttpRequest, deadline: Deadline, *, closing: bool, cap: int
) -> Reply:
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
    return _reply(response, deadline, session if closing else None, cap)


def _request(session: requests.Session, request: HttpRequest, deadline: Deadline) -> requests.Response:
    """The backend call itself: files open only while sending, sockets watched by the deadline."""
    remaining = max(deadline.remaining(), 0.001)
    web = urlsplit(request.url).scheme in ("http", "https")
    proxies = environ_proxies(request.url) if web else {}
    url = request.url
    headers = reveal_headers(request.headers) if request.credentials else _keyless(request)
    proxy = select_proxy(url, proxies) if proxies else None
    if proxy and proxy.lower().startswith("socks"):  # its connections would not be the watched ones
        raise Unsendable("other", backend="SOCKS proxies are not supported (use an http:// proxy)")
    with contextlib.ExitStack() as stack:
        if not request.credentials and proxy:
            url, host, name = _pinned(url, deadline)
            headers = {**headers, "Host": host} if host else headers
            stack.enter_context(_naming(name))
        files = [
            (part.field, (part.path.name, stack.enter_context(open(part.path, "rb")), part.content_type))
            for part in request.files
        ]
        stack.enter_context(watching(deadline))
        return session.request(
            request.method,
            url,
            headers=headers,
            json=request.json,
            data=request.form or None,
            files=files or None,
            stream=True,
            timeout=(min(30.0, remaining), remaining),
            allow_redirects=False,
            proxies=proxies,
        )


_server_name: contextvars.ContextVar[str | None] = contextvars.ContextVar("imagegate_sni", default=None)


@contextlib.contextmanager
def _naming(name: str | None) -> Iterator[None]:
    """TLS opened meanwhile names ``name`` (SNI and the certificate check), whatever address is asked for."""
    token = _server_name.set(name)
    try:
        yield
    finally:
        _server_name.reset(token)


def _pinned(url: str, deadline: Deadline) -> tuple[str, str | None, str | None]:
    """A fetch through a proxy names the address judged here, not a name the proxy resolves again.

    Returns the URL with the host replaced by that address, the Host header that keeps the name,
    and the name TLS must still check (https only). A literal address is left as it is.
    """
    import urllib3

    scheme, host, port = parse_url(url)
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare)
        return url, None, None
    except ValueError:
        pass
    try:
        infos = resolve(bare, port or (443 if scheme == "https" else 80), deadline.remaining())
    except TimeoutError:
        raise NotSent("timed out", "TimeoutError", timed_out=True) from None
    except OSError as exc:
        raise NotSent("the host name does not resolve", type(exc).__name__) from None
    if not infos:
        raise NotSent("the host name does not resolve", "gaierror")
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    guard = _current_guard.get()
    if guard is not None and guard.target is not None:
        guard.target(bare, addresses)
    chosen = str(addresses[0])
    literal = f"[{chosen}]" if ":" in chosen else chosen
    prepared = _requests_url(url)
    pinned = urllib3.util.parse_url(prepared)._replace(host=literal).url
    return pinned, host + (f":{port}" if port else ""), bare if scheme == "https" else None


def _requests_url(url: str) -> str:
    """``url`` as requests prepares it (quoted, IDNA-encoded) before urllib3 parses it."""
    import requests

    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    return prepared.url or ""


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


def _reply(
    response: requests.Response, deadline: Deadline, session: requests.Session | None, cap: int
) -> Reply:
    def close() -> None:
        response.close()
        if session is not None:
            session.close()

    reply = Reply(response.status_code, response.headers, (), reason=response.reason or "", on_close=close)
    reply.chunks = lambda: _decoded(response, deadline, cap)  # type: ignore[method-assign]
    return reply


def _decoded(response: requests.Response, deadline: Deadline, cap: int) -> Iterator[bytes]:
    """The body decompressed by imagegate itself, in bounded pieces, stopped past ``cap`` bytes in all."""
    codings = content_codings(response.headers.get("content-encoding", ""))
    total = 0
    for piece in decoded(_chunks(response, deadline), codings, CHUNK):
        total += len(piece)
        if total > cap:
            raise Unreadable(
                f"it is larger than {cap} bytes decompressed (config key answer_max_bytes); not read further"
            )
        yield piece


def _chunks(response: requests.Response, deadline: Deadline) -> Iterator[bytes]:
    """The body in chunks as they arrive (still compressed), each read bounded by the deadline."""
    import urllib3

    raw = response.raw
    try:
        while True:
            if deadline.expired():
                raise TimedOut("timed out")
            _limit_wait(raw, deadline.remaining())
            if hasattr(raw, "read1"):
                chunk = raw.read1(CHUNK, decode_content=False)
            else:
                chunk = raw.read(CHUNK, decode_content=False)
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
        response_class = _final_response()

        def _new_conn(self) -> socket.socket:
            return _open(self)

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
        response_class = _final_response()

        def _new_conn(self) -> socket.socket:
            return _open(self)

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
        def build_connection_pool_key_attributes(self, *args: Any, **kwargs: Any) -> Any:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(*args, **kwargs)
            name = _server_name.get()
            if name is not None:  # a pinned address: TLS still names (and checks) the host
                pool_kwargs["server_hostname"] = name  # type: ignore[typeddict-unknown-key]
            return host_params, pool_kwargs

        def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
            pool = super().get_connection_with_tls_context(*args, **kwargs)
            setattr(pool, "ConnectionCls", WatchedTLS if pool.scheme == "https" else Watched)  # noqa: B010
            return pool

    return WatchedTransport


def _open(connection: Any) -> socket.socket:
    """The connection's socket: its host resolved once (within the deadline), every address judged by
    the guard, then a judged address connected to. The socket is cut at the deadline from the start,
    so a proxy's CONNECT answer and the TLS handshake are under it too. TLS still names the host."""
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
    from urllib3.util.connection import allowed_gai_family

    deadline, guard = _current_deadline.get(), _current_guard.get()
    host = str(getattr(connection, "_dns_host", connection.host)).strip("[]")
    try:
        infos = resolve(
            host, connection.port, deadline.remaining() if deadline else None, allowed_gai_family()
        )
    except socket.gaierror as exc:
        raise NameResolutionError(connection.host, connection, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(connection, f"resolving {connection.host} timed out") from exc
    judge = guard and (guard.proxy if getattr(connection, "proxy", None) else guard.target)
    if judge:
        judge(host, [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos])
    error: OSError | None = None
    for family, kind, protocol, _name, address in infos:
        if deadline is not None and deadline.expired():
            error = TimeoutError("the deadline passed")
            break
        try:
            sock = _connected(connection, family, kind, protocol, address, deadline)
        except OSError as exc:
            error = exc
            continue
        sys.audit("http.client.connect", connection, connection.host, connection.port)
        return sock
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(connection, f"connecting to {connection.host} timed out") from error
    raise NewConnectionError(connection, f"Failed to establish a new connection: {error}") from error


def _connected(
    connection: Any, family: int, kind: int, protocol: int, address: Any, deadline: Deadline | None
) -> socket.socket:
    """One socket connected to ``address`` (an address the guard judged), cut at the deadline."""
    sock = socket.socket(family, kind, protocol)
    try:
        for option in connection.socket_options or ():
            sock.setsockopt(*option)
        if deadline is not None:
            deadline.on_expiry(lambda: _cut(sock))
        limit = connection.timeout if isinstance(connection.timeout, (int, float)) else None
        if deadline is not None:
            limit = min(limit or deadline.remaining(), deadline.remaining())
        sock.settimeout(None if limit is None else max(limit, 0.001))
        if connection.source_address:
            sock.bind(connection.source_address)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


@functools.cache
def _final_response() -> type:
    """http.client's response, skipping every interim (1xx) answer, not only ``100 Continue``."""
    import http.client

    class FinalResponse(http.client.HTTPResponse):
        def _read_status(self) -> tuple[str, int, str]:
            for _ in range(MAX_INTERIM + 1):
                version, status, reason = super()._read_status()  # type: ignore[misc]
                if not 100 <= status < 200 or status == 101:  # 101 was never asked for: not interim
                    return version, status, reason
                http.client.parse_headers(self.fp)  # an interim answer's headers, skipped
            raise http.client.HTTPException(f"more than {MAX_INTERIM} interim (1xx) responses")

    return FinalResponse


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
