"""The socket level under the transport, which needs neither ``requests`` nor ``urllib3``.

A host is resolved once, within the deadline; the guard of the call judges every address it
resolved to; a judged address is connected to; and every socket is cut when the deadline passes
(the transport, core/transport.py, plugs these into its backend's connections).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .deadline import Deadline
from .reply import NotSent
from .secret import guarded_streams

if TYPE_CHECKING:
    from .adapter import HttpRequest

__all__ = [
    "MAX_INTERIM",
    "Guard",
    "Sent",
    "addresses_of",
    "connect_first",
    "connected",
    "current_deadline",
    "cut_at_deadline",
    "final_response",
    "guard_for",
    "guarding",
    "judge",
    "judged_address",
    "limit_wait",
    "naming",
    "resolve",
    "sending",
    "server_name",
    "started",
    "watching",
]

#: The most interim (1xx) responses skipped before one answer; more is a broken server.
MAX_INTERIM = 100


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


def guard_for(request: HttpRequest) -> Guard:
    """The plaintext rule for a request with the key; the download rules for a credential-free fetch."""
    from . import addresses  # addresses asks this module to resolve: imported when sending

    if request.credentials:
        return addresses.key_guard(request.url)
    return _fetch_guard.get() or addresses.download_guard(allow_private=False)


def addresses_of(infos: list[Any]) -> list[Any]:
    """The IP addresses of ``getaddrinfo``'s answer (an IPv6 zone dropped)."""
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def judge(host: str, infos: list[Any], *, proxied: bool = False) -> None:
    """Let the current guard judge every address ``host`` resolved to (its proxy rule for a proxy);
    the guard raises to refuse."""
    guard = _current_guard.get()
    rule = guard and (guard.proxy if proxied else guard.target)
    if rule:
        rule(host, addresses_of(infos))


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


def current_deadline() -> Deadline | None:
    """The deadline of the call opening connections now (None outside :func:`watching`)."""
    return _current_deadline.get()


def cut_at_deadline(sock: Any) -> None:
    """Cut ``sock`` when the current call's deadline passes (nothing outside :func:`watching`)."""
    deadline = _current_deadline.get()
    if deadline is not None and sock is not None:
        deadline.on_expiry(lambda: _cut(sock))


class Sent:
    """Whether a byte of the request itself has been written (after connecting, tunnelling, TLS)."""

    started = False


_sending: contextvars.ContextVar[Sent | None] = contextvars.ContextVar("imagegate_sending", default=None)


@contextlib.contextmanager
def sending() -> Iterator[Sent]:
    """Notes, for one try, whether a byte of its request has been written (see :func:`started`)."""
    sent = Sent()
    token = _sending.set(sent)
    try:
        yield sent
    finally:
        _sending.reset(token)


def started(connection: Any) -> None:
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


def connected(
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


def connect_first(connection: Any, infos: list[Any], deadline: Deadline | None) -> socket.socket:
    """A socket connected to the first of ``infos`` (addresses the guard judged) that accepts.

    Raises the last address's error, or TimeoutError once the deadline has passed.
    """
    error: OSError | None = None
    for family, kind, protocol, _name, address in infos:
        if deadline is not None and deadline.expired():
            error = TimeoutError("the deadline passed")
            break
        try:
            sock = connected(connection, family, kind, protocol, address, deadline)
        except OSError as exc:
            error = exc
            continue
        sys.audit("http.client.connect", connection, connection.host, connection.port)
        return sock
    raise error or OSError("no address to connect to")


def judged_address(host: str, port: int, deadline: Deadline) -> str:
    """The address ``host`` resolves to, judged by the guard (a proxy is then asked for it, not the name)."""
    try:
        infos = resolve(host, port, deadline.remaining())
    except TimeoutError:
        raise NotSent("timed out", "TimeoutError", timed_out=True) from None
    except OSError as exc:
        raise NotSent("the host name does not resolve", type(exc).__name__) from None
    if not infos:
        raise NotSent("the host name does not resolve", "gaierror")
    judge(host, infos)
    return str(addresses_of(infos)[0])


_server_name: contextvars.ContextVar[str | None] = contextvars.ContextVar("imagegate_sni", default=None)


@contextlib.contextmanager
def naming(name: str | None) -> Iterator[None]:
    """TLS opened meanwhile names ``name`` (SNI and the certificate check), whatever address is asked for."""
    token = _server_name.set(name)
    try:
        yield
    finally:
        _server_name.reset(token)


def server_name() -> str | None:
    """The name TLS must check on the connection being opened (None: the host asked for)."""
    return _server_name.get()


@functools.cache
def final_response() -> type:
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


def limit_wait(raw: Any, seconds: float) -> None:
    """Let the next read block no longer than the deadline allows (not the per-read timeout)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # the connection handed its socket to the response (Connection: close)
        reader = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))
