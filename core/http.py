"""Sends one provider request: a session of its own, retries that never bill twice, a total deadline.

``requests`` is imported here, lazily, so that ``--help`` and ``--version`` never pay for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .adapter import excerpt
from .deadline import Deadline, timeout_error
from .errors import ImagegateError, NetworkError, UnusableAnswer, UsageError
from .retry import RETRYABLE_STATUS, Limiter, RetryPolicy, retry_after
from .secret import REDACTED, Secret, guarded_streams, redact, reveal_headers
from .verbose import describe_request, describe_response

if TYPE_CHECKING:
    import requests

    from .adapter import Adapter, HttpRequest, Transport

log = logging.getLogger("imagegate.http")
CHUNK = 64 * 1024
ERROR_BODY_LIMIT = 256 * 1024
USER_AGENT = "imagegate"


def is_private_host(host: str) -> bool:
    """Loopback or private-range address (or ``localhost``): plaintext HTTP is tolerable there."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or (address.is_private and not address.is_link_local)


def ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a literal host names; an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) as its IPv4."""
    address = ipaddress.ip_address(host.strip("[]"))
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def check_endpoint(url: str, local_schemes: frozenset[str] = frozenset()) -> None:
    """Refuse to send the key over plaintext to the internet, or anywhere but http(s)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in local_schemes or scheme == "https":
        return
    if scheme == "http":
        if is_private_host(parts.hostname or ""):
            return
        raise UsageError(
            f"base_url {parts.scheme}://{parts.hostname}: refusing to send the API key over plaintext HTTP",
            hints=("Use https://, or an http:// address on loopback or a private network.",),
        )
    raise UsageError(f"base_url must be an http(s) URL, not {parts.scheme or 'no scheme'}:")


def plain_session() -> requests.Session:
    """A session of its own: no .netrc or cookies from the environment, connections cut at the deadline."""
    import requests

    session = requests.Session()
    session.trust_env = False  # no .netrc; proxies are taken from the environment explicitly
    session.headers["User-Agent"] = USER_AGENT
    watched = _watched_adapter()
    session.mount("http://", watched())
    session.mount("https://", watched())
    return session


def new_session(transport: Transport | None = None) -> requests.Session:
    """A session used for one provider only (see :func:`plain_session`), with the adapter's transport."""
    session = plain_session()
    if transport is not None:
        for prefix in transport.prefixes:
            session.mount(prefix, transport.handler)
    return session


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


def _cut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def _watched_adapter() -> type:
    """A requests transport whose connections register with the deadline of the call opening them."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection

    def register(connection: Any) -> None:
        deadline, sock = _current_deadline.get(), connection.sock
        if deadline is not None and sock is not None:
            deadline.on_expiry(lambda: _cut(sock))

    class Watched(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            register(self)

    class WatchedTLS(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            register(self)

    class WatchedAdapter(HTTPAdapter):
        def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
            pool = super().get_connection_with_tls_context(*args, **kwargs)
            pool.ConnectionCls = WatchedTLS if pool.scheme == "https" else Watched
            return pool

    return WatchedAdapter


def proxies_for(url: str) -> dict[str, str]:
    import requests

    return requests.utils.get_environ_proxies(url) if urlsplit(url).scheme in ("http", "https") else {}


def checked_proxies(url: str) -> dict[str, str]:
    """The environment's proxies for ``url``; plaintext HTTP only through a local proxy (it sees the key)."""
    import requests

    proxies = proxies_for(url)
    proxy = requests.utils.select_proxy(url, proxies) if urlsplit(url).scheme.lower() == "http" else None
    if proxy:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if not is_private_host(parts.hostname or ""):
            raise UsageError(
                f"refusing to send the API key over plaintext HTTP through the proxy {parts.hostname}",
                hints=(
                    "Use https:// for base_url, a proxy on loopback or a private network, "
                    "or exempt the host with NO_PROXY.",
                ),
            )
    return proxies


def send(
    session: requests.Session,
    request: HttpRequest,
    adapter: Adapter,
    deadline: Deadline,
    policy: RetryPolicy,
    limiter: Limiter | None = None,
    notify: Callable[[str], None] | None = None,
) -> requests.Response:
    """Send ``request`` and return the (streaming) 2xx response, retrying only what is safe.

    ``notify`` hears one line per retry (the CLI shows it on stderr unless --quiet).
    """
    limiter = limiter or Limiter()
    attempt = 0
    while True:
        limiter.wait(deadline.remaining())
        deadline.check("waiting to send the request", sent=False)
        log.debug("%s", describe_request(request, attempt))
        try:
            retry_wait = _attempt(session, request, adapter, deadline)
        except BaseException as exc:
            deadline.disarm()
            _detach(exc)
            raise
        if not isinstance(retry_wait, tuple):
            return retry_wait
        asked, reason, error = retry_wait
        wait = _retry_wait(asked, error, attempt, policy, deadline)
        message = f"{reason}: retrying in {wait:.1f} s (retry {attempt + 1} of {policy.retries})"
        if notify is not None:
            notify(message)
        else:
            log.info("%s", message)
        limiter.hold(wait)
        attempt += 1


def _detach(exc: BaseException) -> None:
    """Drop the library exception our error was raised while handling: it holds the sent headers."""
    if isinstance(exc, ImagegateError):
        exc.__cause__ = exc.__context__ = None
        exc.__suppress_context__ = True


def _retry_wait(
    asked: float | None, error: Exception, attempt: int, policy: RetryPolicy, deadline: Deadline
) -> float:
    """How long to wait before the next try; raises ``error`` (with the reason) when there is none."""
    if attempt >= policy.retries:
        tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
        raise _with_hint(error, f"Gave up after {tries} (--retries {policy.retries}).")
    wait = asked if asked is not None else policy.backoff(attempt)
    if wait > policy.max_wait:
        raise _with_hint(
            error,
            f"The provider asked to wait {wait:.0f} s, longer than max_retry_wait "
            f"({policy.max_wait:g} s); not waited. Try again later.",
        )
    if wait > deadline.remaining():
        raise _with_hint(error, f"A retry would have to wait {wait:.1f} s, past the --timeout; not retried.")
    return wait


def _with_hint(error: Exception, hint: str) -> Exception:
    if hasattr(error, "hints"):
        error.hints = (*error.hints, hint)
    return error


def _attempt(session: requests.Session, request: HttpRequest, adapter: Adapter, deadline: Deadline) -> Any:
    """One try: the response, or (wait, reason, error) when it may be retried; raises otherwise."""
    import requests

    proxies = checked_proxies(request.url)
    started = time.monotonic()
    remaining = max(deadline.remaining(), 0.001)
    try:
        with contextlib.ExitStack() as stack:
            files = [
                (part.field, (part.path.name, stack.enter_context(open(part.path, "rb")), part.content_type))
                for part in request.files
            ]
            stack.enter_context(watching(deadline))
            response = session.request(
                request.method,
                request.url,
                headers=reveal_headers(request.headers),
                json=request.json,
                data=request.form or None,
                files=files or None,
                stream=True,
                timeout=(min(30.0, remaining), remaining),
                allow_redirects=False,
                proxies=proxies,
            )
    except requests.exceptions.ConnectionError as exc:  # ConnectTimeout included
        _forget_key(exc, request)
        return _connection_failure(exc, request.url, deadline)
    except requests.exceptions.Timeout:
        raise timeout_error(deadline.seconds, "waiting for the provider's answer", sent=True) from None
    except requests.exceptions.RequestException as exc:  # an OSError too: caught first, never shown
        _forget_key(exc, request)
        raise _unsendable(exc, request.url) from None
    except UnicodeError:  # http.client encodes headers as Latin-1; the text may hold a key
        raise UsageError(
            "the request could not be encoded: a header or the URL has characters HTTP cannot carry "
            "(not shown)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read an input file: {exc.strerror or exc}") from None
    _forget_key(response, request)
    seconds = time.monotonic() - started
    log.debug("%s", describe_response(response.status_code, response.reason, response.headers, seconds))
    if 200 <= response.status_code < 300:
        return response
    return _failure(response, adapter, deadline)


def _forget_key(holder: Any, request: HttpRequest) -> None:
    """Give a response (or requests exception) a copy of its sent request with the key blanked.

    requests keeps the request it sent on the response and on its exceptions; after this, nothing
    imagegate holds once the request is sent, a traceback's local variables included, carries the
    key. (The object requests sent is left as it was, so a test double that recorded it still can.)
    """
    prepared = getattr(holder, "request", None)
    headers = getattr(prepared, "headers", None)
    names = [name for name, value in request.headers.items() if isinstance(value, Secret)]
    if headers is None or not any(name in headers for name in names):
        return
    clean = prepared.copy()
    for name in names:
        if name in clean.headers:
            clean.headers[name] = REDACTED
    holder.request = clean


def _unsendable(exc: Exception, url: str) -> UsageError:
    """A request that requests refused to build or send; its text is never shown (it may hold a header)."""
    import requests

    if isinstance(exc, requests.exceptions.InvalidHeader):
        return UsageError(
            "a request header has a value HTTP cannot carry (the value is not shown)",
            hints=("Check api_key and the profile's headers for spaces, line breaks or unusual characters.",),
        )
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return UsageError(f"the provider's URL cannot be used: {site(url)} ({type(exc).__name__})")
    return UsageError(f"the request to {site(url)} could not be sent: {type(exc).__name__}")


def _connection_failure(exc: Exception, url: str, deadline: Deadline) -> tuple[None, str, NetworkError]:
    """A failed connection as (wait, reason, error) when it may be retried: the request never left.

    Raises when it must not be retried: the deadline passed, or the request may have arrived.
    """
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return None, "a connection timeout", NetworkError(f"could not connect to {site(url)}: timed out")
    if deadline.expired():
        raise timeout_error(deadline.seconds, "waiting for the provider's answer", sent=True) from None
    if _not_sent(exc):
        return None, "a connection failure", NetworkError(f"could not connect to {site(url)}: {_reason(exc)}")
    raise NetworkError(
        f"the connection to {site(url)} failed after the request was sent: {_reason(exc)}",
        hints=("The provider may have made and billed the image; it was not retried.",),
    ) from None


def _failure(response: requests.Response, adapter: Adapter, deadline: Deadline) -> tuple[Any, str, Exception]:
    """Classify a non-2xx answer: raise what is final, return what may be retried."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "?")
        raise NetworkError(
            f"the provider redirected the request (HTTP {status}) to {redact(location)}",
            hints=("Set base_url to the final address; the key is never sent on across a redirect.",),
        )
    body = read_limited(response, deadline, ERROR_BODY_LIMIT, sent=True)
    log.debug("   body: %s", redact(excerpt(body, 300)))
    error = adapter.parse_error(status, body)
    error = type(error)(**{**error.__dict__, "message": redact(error.message)})
    if adapter.is_content_refusal(error):
        raise adapter.content_refused(error)
    exception = adapter.classify_error(error)
    if status in RETRYABLE_STATUS and not (status == 429 and adapter.is_permanent_rate_error(error)):
        return retry_after(response.headers), f"HTTP {status}", exception
    if status >= 500:
        exception = _with_hint(
            exception,
            "The request was sent: the provider may have made and billed the image. "
            "It was not retried, so you are not charged twice.",
        )
    raise exception


def iter_body(
    response: requests.Response, deadline: Deadline, what: str = "reading the answer"
) -> Iterator[bytes]:
    """Yield the body in chunks as they arrive, never past the deadline (a dripping server included)."""
    import urllib3

    raw = response.raw
    try:
        while True:
            deadline.check(what, sent=True)
            _limit_wait(raw, deadline.remaining())
            chunk = raw.read1(CHUNK, decode_content=True) if hasattr(raw, "read1") else raw.read(CHUNK)
            if not chunk:
                break
            yield chunk
    except urllib3.exceptions.HTTPError as exc:
        if deadline.expired() or isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            raise timeout_error(deadline.seconds, what, sent=True) from None
        if not isinstance(exc, urllib3.exceptions.ProtocolError):
            raise NetworkError(f"the connection failed while {what}: {_reason(exc)}") from None
        raise UnusableAnswer(
            f"the answer was cut off while {what}: {_shortfall(exc)}",
            hints=("The provider may have billed the image; nothing was saved.",),
        ) from None
    except TimeoutError:
        raise timeout_error(deadline.seconds, what, sent=True) from None
    finally:
        deadline.disarm()
        response.close()


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


def read_limited(response: requests.Response, deadline: Deadline, limit: int, *, sent: bool) -> bytes:
    """Up to ``limit`` bytes of the body (enough for an error message), within the deadline."""
    parts, size = [], 0
    try:
        for chunk in iter_body(response, deadline, "reading the error answer"):
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except UnusableAnswer:
        pass
    return b"".join(parts)[:limit]


def _not_sent(exc: BaseException) -> bool:
    """Whether a connection error happened before any byte of the request left (safe to retry)."""
    import urllib3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError)
        ):
            return True
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            current = current.reason
            continue
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or current.__context__ or nested
    return False


def site(url: str) -> str:
    """``scheme://host:port`` of a URL for messages: no path, query or user info, secrets redacted."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # out of range: requests refuses the URL, and the message names the host
        port = ""
    return redact(f"{parts.scheme}://{parts.hostname or ''}{port}")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact(text.split(": ", 1)[-1] if len(text) > 200 else text)
