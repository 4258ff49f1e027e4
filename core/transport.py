"""The network transport, and the only module that imports ``requests`` or ``urllib3``.

It keeps the sessions whose sockets the deadline can cut, gives requests' responses and
exceptions key-free copies of what was sent, reads bodies in chunks bounded by the deadline, and
maps the backend's exceptions to the neutral outcomes of core/reply.py: ``NotSent`` (nothing
left, safe to retry), ``SentThenFailed`` (it may have arrived and been billed) and ``TimedOut``.
``requests`` is imported lazily, so ``--help`` and ``--version`` never pay for it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import re
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import connections
from .deadline import Deadline
from .decoding import content_codings, decoded
from .keyless import forget_key, keyless
from .reply import (
    CutOff,
    NotSent,
    Reply,
    SentThenFailed,
    TimedOut,
    TransportFailure,
    Unreadable,
    Unsendable,
    reason,
    shortfall,
)
from .secret import reveal_headers

if TYPE_CHECKING:
    import requests

    from .adapter import HttpRequest

__all__ = [
    "MAX_BODY_BYTES",
    "RequestsTransport",
    "environ_proxies",
    "parse_url",
    "plain_session",
    "select_proxy",
]

CHUNK = 64 * 1024
USER_AGENT = "imagegate"
#: The content codings imagegate asks for and decodes itself (bounded, see core/decoding.py).
ACCEPT_ENCODING = "gzip, deflate"
#: The default cap on one answer body, counted after decompression (profile key answer_max_bytes).
MAX_BODY_BYTES = 1024 * 1024 * 1024


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
        with connections.guarding(connections.guard_for(request)):
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


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def scheme_of(url: str) -> str:
    """The scheme of ``url``, lower-cased ("" if it has none), read as ``urlsplit`` reads it (leading
    controls and spaces stripped) but never raising, whatever the text."""
    match = _SCHEME.match(url.lstrip("".join(map(chr, range(33)))))
    return match.group(1).lower() if match else ""


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


def _send(
    session: requests.Session, request: HttpRequest, deadline: Deadline, *, closing: bool, cap: int
) -> Reply:
    """One try on ``session``: the reply, or a neutral :class:`TransportFailure`."""
    import requests

    with connections.sending() as sent:
        try:
            response = _request(session, request, deadline)
        except requests.exceptions.ConnectTimeout as exc:
            forget_key(exc, request)
            raise NotSent("timed out", type(exc).__name__, timed_out=True) from None
        except requests.exceptions.ConnectionError as exc:
            forget_key(exc, request)
            raise _connection_failure(exc, deadline, sent.started) from None
        except requests.exceptions.Timeout as exc:
            raise TimedOut("timed out", type(exc).__name__, sent=sent.started) from None
        except requests.exceptions.RequestException as exc:  # an OSError too: caught first, never shown
            forget_key(exc, request)
            if sent.started:  # the request left; its answer is what failed (two Content-Lengths, say)
                raise SentThenFailed("its answer could not be read", type(exc).__name__) from None
            raise _unsendable(exc) from None
        except UnicodeError:  # http.client encodes headers as Latin-1; the text may hold a key
            raise Unsendable("encoding") from None
        except OSError as exc:
            raise Unsendable("file", str(exc.strerror or exc), type(exc).__name__) from None
    forget_key(response, request)
    return _reply(response, deadline, session if closing else None, cap)


def _request(session: requests.Session, request: HttpRequest, deadline: Deadline) -> requests.Response:
    """The backend call itself: files open only while sending, sockets watched by the deadline."""
    remaining = max(deadline.remaining(), 0.001)
    web = scheme_of(request.url) in ("http", "https")
    proxies = environ_proxies(request.url) if web else {}
    url = request.url
    headers = reveal_headers(request.headers) if request.credentials else keyless(request)
    proxy = select_proxy(url, proxies) if proxies else None
    if proxy and proxy.lower().startswith("socks"):  # its connections would not be the watched ones
        raise Unsendable("other", backend="SOCKS proxies are not supported (use an http:// proxy)")
    with contextlib.ExitStack() as stack:
        if not request.credentials and proxy:
            url, host, name = _pinned(url, deadline)
            headers = {**headers, "Host": host} if host else headers
            stack.enter_context(connections.naming(name))
        files = [
            (part.field, (part.path.name, stack.enter_context(open(part.path, "rb")), part.content_type))
            for part in request.files
        ]
        stack.enter_context(connections.watching(deadline))
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
    chosen = connections.judged_address(bare, port or (443 if scheme == "https" else 80), deadline)
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


def _connection_failure(exc: Exception, deadline: Deadline, started: bool = True) -> TransportFailure:
    """What a failed connection means; ``started``: a byte of the request itself was written.

    Before that (connecting, a proxy's tunnel refused with 407, the TLS handshake) nothing can have
    reached the provider, so nothing was billed and the try may be repeated.
    """
    if deadline.expired():
        return TimedOut("timed out", type(exc).__name__, sent=started)
    if not started or _not_sent(exc):
        return NotSent(reason(exc), type(exc).__name__, blocked=_refused_by_the_system(exc))
    return SentThenFailed(reason(exc), type(exc).__name__)


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
            connections.limit_wait(raw, deadline.remaining())
            if hasattr(raw, "read1"):
                chunk = raw.read1(CHUNK, decode_content=False)
            else:
                chunk = raw.read(CHUNK, decode_content=False)
            if not chunk:
                if deadline.fired or deadline.expired():  # the deadline cut the socket: no real end
                    raise TimedOut("timed out")
                break
            yield chunk
    except urllib3.exceptions.HTTPError as exc:
        if deadline.expired() or isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            raise TimedOut("timed out", type(exc).__name__) from None
        if not isinstance(exc, urllib3.exceptions.ProtocolError):
            raise SentThenFailed(reason(exc), type(exc).__name__) from None
        raise CutOff(shortfall(exc), type(exc).__name__) from None
    except TimeoutError:
        raise TimedOut("timed out") from None


@functools.cache
def _watched_transport() -> type:
    """A requests transport whose connections register with the deadline of the call opening them."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class Watching:
        """What both connection classes add: a judged address, deadline cuts, the first byte noted."""

        response_class = connections.final_response()
        sock: Any
        connecting: bool

        def _new_conn(self) -> socket.socket:
            return _open(self)

        def connect(self) -> None:
            self.connecting = True  # what connect() sends (a proxy's CONNECT) is not the request
            try:
                super().connect()  # type: ignore[misc]
            finally:
                self.connecting = False
            connections.cut_at_deadline(self.sock)

        def send(self, data: Any) -> None:
            connections.started(self)
            super().send(data)  # type: ignore[misc]

    class Watched(Watching, HTTPConnection):
        pass

    class WatchedTLS(Watching, HTTPSConnection):
        pass

    class WatchedTransport(HTTPAdapter):
        def build_connection_pool_key_attributes(self, *args: Any, **kwargs: Any) -> Any:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(*args, **kwargs)
            name = connections.server_name()
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

    deadline = connections.current_deadline()
    host = str(getattr(connection, "_dns_host", connection.host)).strip("[]")
    try:
        infos = connections.resolve(
            host, connection.port, deadline.remaining() if deadline else None, allowed_gai_family()
        )
    except socket.gaierror as exc:
        raise NameResolutionError(connection.host, connection, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(connection, f"resolving {connection.host} timed out") from exc
    connections.judge(host, infos, proxied=bool(getattr(connection, "proxy", None)))
    try:
        return connections.connect_first(connection, infos, deadline)
    except TimeoutError as error:
        raise ConnectTimeoutError(connection, f"connecting to {connection.host} timed out") from error
    except OSError as error:
        raise NewConnectionError(connection, f"Failed to establish a new connection: {error}") from error


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
