"""Where a key may be sent and what may be fetched: the address policy, as data, and its checks.

Every address decision lives here; the modules that send (``http``, ``download``, ``exchange``)
only ask, and the transport's connections ask again for every address a host resolves to, right
before connecting to it (so a name that resolves differently the second time is caught).

A URL is judged by the host the connection will use: it is read by the parser requests and
urllib3 connect with (:func:`imagegate.transport.parse_url`), and refused when Python's own
parser reads it differently, or when it holds what parsers disagree on (backslashes, whitespace,
control characters, several ``@``, a percent-encoded or non-ASCII host, an IPv4 address written
in decimal, octal, hex or a short form).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .connections import Guard, resolve
from .errors import ImagegateError, NetworkError, UnusableAnswer, UsageError
from .secret import redact
from .transport import environ_proxies, parse_url, scheme_of, select_proxy

__all__ = [
    "ALWAYS_REFUSED",
    "METADATA_NAMES",
    "NON_GLOBAL",
    "PLAINTEXT_OK",
    "Target",
    "check_endpoint",
    "check_url",
    "checked_proxies",
    "download_guard",
    "ip_address",
    "is_private_host",
    "key_guard",
    "proxies_for",
    "site",
    "target",
]

log = logging.getLogger("imagegate.download")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*rows: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(net), what) for net, what in rows)


#: Never fetched, whoever the provider: link-local and every major cloud's metadata endpoints.
ALWAYS_REFUSED = _nets(
    ("169.254.0.0/16", "link-local (the metadata of AWS, GCP, Microsoft, DigitalOcean, OpenStack, Hetzner)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::254/128", "AWS metadata (IPv6)"),
    ("fd00:ec2::/32", "AWS instance services (IPv6)"),
    ("fd20:ce::254/128", "GCP metadata (IPv6)"),
    ("168.63.129.16/32", "Microsoft cloud WireServer"),
    ("100.100.100.200/32", "Alibaba Cloud metadata"),
    ("192.0.0.192/32", "Oracle Cloud metadata"),
)

#: Not on the internet: fetched only when the provider itself is on a local address.
NON_GLOBAL = _nets(
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "deprecated IPv4-embedding ::a.b.c.d"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b:1::/48", "local NAT64"),
    ("100::/64", "discard"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (private)"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)

#: Where plaintext HTTP may carry the key: loopback and the private ranges (not link-local, not shared).
PLAINTEXT_OK = _nets(
    ("127.0.0.0/8", "loopback"),
    ("0.0.0.0/32", "this host (connecting to it reaches loopback)"),
    ("::/128", "this host (connecting to it reaches loopback)"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique local"),
)

#: Host names of metadata services, refused by name (a proxy would resolve them where we cannot check).
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
#: Names that are local by definition (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
LOCAL_SUFFIXES = ("localhost", "localdomain", "local", "internal", "home.arpa")

_NUMERIC = re.compile(r"^[0-9a-fA-FxX.]+$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


# -- addresses --------------------------------------------------------------------------------------
def ip_address(host: str) -> Address:
    """The address a literal host names; an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) as its IPv4."""
    address = ipaddress.ip_address(host.strip("[]"))
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def embedded(address: Address) -> list[Address]:
    """``address`` and every IPv4 address it carries (mapped, ::a.b.c.d, 6to4, NAT64, Teredo)."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        number = int(address)
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if number >> 32 == 0 and number > 1:  # ::a.b.c.d (deprecated)
            found.append(ipaddress.IPv4Address(number & 0xFFFFFFFF))
        if address in ipaddress.ip_network("64:ff9b::/96"):
            found.append(ipaddress.IPv4Address(number & 0xFFFFFFFF))
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
    return found


def _row(address: Address, table: Iterable[tuple[Network, str]]) -> str | None:
    return next((what for net, what in table if address.version == net.version and address in net), None)


def refused_always(address: Address) -> str | None:
    """Why ``address`` is never fetched (link-local, metadata), judged in every notation; None if not."""
    return next((why for inner in embedded(address) if (why := _row(inner, ALWAYS_REFUSED))), None)


def non_global(address: Address) -> str | None:
    """Why ``address`` is not on the internet, judged in every notation; None for a global address."""
    for inner in embedded(address):
        if why := _row(inner, ALWAYS_REFUSED) or _row(inner, NON_GLOBAL):
            return why
    return None


def plaintext_ok(address: Address) -> bool:
    """Whether the key may cross to ``address`` in plaintext (loopback or a private range)."""
    inner = ip_address(str(address))
    return _row(inner, PLAINTEXT_OK) is not None and refused_always(inner) is None


def is_private_host(host: str) -> bool:
    """Loopback or private-range address (or ``localhost``): plaintext HTTP is tolerable there."""
    name = host.lower().rstrip(".")
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return plaintext_ok(ip_address(name))
    except ValueError:
        return False


# -- reading a URL as the connection will ------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """The scheme, host (lowercase, no brackets) and port a URL makes the connection use."""

    scheme: str
    host: str
    port: int | None


def target(url: str, refuse: Callable[[str], ImagegateError]) -> Target:
    """The target of ``url`` as requests and urllib3 read it; ``refuse(why)`` for any ambiguity."""
    if _UNSAFE.search(url):
        raise refuse("it holds whitespace, a control character or a backslash")
    try:
        scheme, host, port = parse_url(url)
        theirs = urlsplit(url)
        their_port = theirs.port
    except ValueError:
        raise refuse("it cannot be parsed") from None
    host = (host or "").lower().strip("[]")
    authority = theirs.netloc
    if authority.count("@") > 1:
        raise refuse("its address has more than one @")
    if (theirs.scheme.lower(), (theirs.hostname or "").lower(), their_port) != (scheme, host, port):
        raise refuse("URL parsers read its host differently")
    if not host.isascii() or "%" in host:
        raise refuse("its host is percent-encoded or not ASCII (use the xn-- form)")
    if _NUMERIC.match(host) and any(ch.isdigit() for ch in host) and not _dotted_quad(host):
        raise refuse("its host is an IPv4 address in a non-standard notation")
    return Target(scheme, host, port)


def _dotted_quad(host: str) -> bool:
    """Whether a numeric-looking host is a plain a.b.c.d (anything else is a notation parsers disagree on)."""
    parts = host.split(".")
    return (
        len(parts) == 4
        and all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts)
        and (all(int(p) < 256 for p in parts))
    )


def _fetch_refusal(url: str) -> Callable[[str], ImagegateError]:
    return lambda why: UnusableAnswer(f"refusing to fetch the image URL the provider returned: {why}")


def _endpoint_refusal(why: str) -> ImagegateError:
    return UsageError(f"base_url cannot be used: {why}")


# -- the key's endpoint and proxies (the plaintext rule) ------------------------------------------
def check_endpoint(url: str, local_schemes: frozenset[str] = frozenset()) -> None:
    """Refuse to send the key over plaintext to the internet, or anywhere but http(s)."""
    scheme = scheme_of(url)
    if scheme in local_schemes:
        return
    if scheme not in ("http", "https"):
        raise UsageError(f"base_url must be an http(s) URL, not {scheme or 'no scheme'}:")
    parts = target(url, _endpoint_refusal)
    if parts.scheme == "https" or is_private_host(parts.host):
        return
    raise UsageError(
        "base_url: refusing to send the API key over plaintext HTTP to a public address (not shown)",
        hints=("Use https://, or an http:// address on loopback or a private network.",),
    )


def proxies_for(url: str) -> dict[str, str]:
    """The environment's proxies for ``url`` (NO_PROXY honoured); none for other schemes."""
    return environ_proxies(url) if scheme_of(url) in ("http", "https") else {}


def checked_proxies(url: str) -> dict[str, str]:
    """The environment's proxies for ``url``; plaintext HTTP only through a local proxy (it sees the key)."""
    proxies = proxies_for(url)
    proxy = select_proxy(url, proxies) if scheme_of(url) == "http" else None
    if proxy:
        shown = _proxy_host(proxy)
        if not is_private_host(shown):
            raise UsageError(
                f"refusing to send the API key over plaintext HTTP through the proxy {redact(shown)}",
                hints=(
                    "Use https:// for base_url, a proxy on loopback or a private network, "
                    "or exempt the host with NO_PROXY.",
                ),
            )
    return proxies


def _proxy_host(proxy: str) -> str:
    """The host a proxy setting makes requests connect to (a scheme-less one is http://)."""
    url = proxy if "://" in proxy else f"http://{proxy}"
    return target(url, lambda why: UsageError(f"the proxy setting cannot be used: {why}")).host


# -- guards: what a connection may be made to, judged on the addresses it resolved -----------------
def key_guard(url: str) -> Guard:
    """The plaintext rule at connection time: http:// with the key only to loopback or private addresses."""
    if scheme_of(url) != "http":
        return Guard()

    def judge(host: str, addresses: list[Address], what: str) -> None:
        for address in addresses:
            if not plaintext_ok(address):
                raise UsageError(
                    f"refusing to send the API key over plaintext HTTP to {what} {redact(host)}: "
                    f"it resolved to {address}, not a loopback or private address",
                    hints=("Use https://, or an http:// address on loopback or a private network.",),
                )

    return Guard(
        target=lambda host, addresses: judge(host, addresses, "the host"),
        proxy=lambda host, addresses: judge(host, addresses, "the proxy"),
    )


def download_guard(allow_private: bool) -> Guard:
    """The download rules at connection time, for every address the image host resolved to."""

    def judge(host: str, addresses: list[Address]) -> None:
        for address in addresses:
            _judge_fetch(f"{redact(host)} (it resolved to {address})", address, allow_private)

    return Guard(target=judge)


def _judge_fetch(shown: str, address: Address, allow_private: bool) -> None:
    if why := refused_always(address):
        raise UnusableAnswer(f"refusing to fetch {shown}: a link-local or cloud-metadata address ({why})")
    if not allow_private and (why := non_global(address)):
        raise UnusableAnswer(
            f"refusing to fetch {shown}: a loopback or private address ({why}), "
            "and the provider is not on one"
        )


def check_url(url: str, *, allow_private: bool, deadline_seconds: float | None = None) -> None:
    """Refuse URLs a provider must not make us fetch (the connection judges its addresses again)."""
    scheme = scheme_of(url)
    if scheme not in ("http", "https"):
        raise UnusableAnswer(
            f"the provider returned an image URL with scheme {redact(scheme) or '(none)'}:; "
            "only http(s) is fetched"
        )
    parts = target(url, _fetch_refusal(url))
    shown = redact(f"{parts.scheme}://" + (f"[{parts.host}]" if ":" in parts.host else parts.host))
    if not parts.host:
        raise UnusableAnswer("the provider returned an image URL without a host")
    name = parts.host.rstrip(".")
    if name in METADATA_NAMES:
        raise UnusableAnswer(f"refusing to fetch {shown}: a link-local or cloud-metadata address (by name)")
    if not allow_private and (name == "localhost" or name.endswith(tuple("." + s for s in LOCAL_SUFFIXES))):
        raise UnusableAnswer(f"refusing to fetch {shown}: a loopback or private address (a local name)")
    for address in _addresses(url, name, deadline_seconds):
        _judge_fetch(shown, address, allow_private)


def _addresses(url: str, host: str, seconds: float | None) -> list[Address]:
    """The addresses ``host`` stands for (IPv4-mapped IPv6 as IPv4).

    A name that does not resolve here is left to the request to report, unless a proxy would
    fetch it: the proxy resolves it where it cannot be checked, so it is refused.
    """
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    try:
        infos = resolve(host, None, seconds)
    except OSError as exc:
        if select_proxy(url, proxies_for(url)):
            raise NetworkError(
                f"could not download the image from {redact(host)}: its host name does not resolve "
                f"here ({type(exc).__name__}), so its address cannot be checked before the proxy fetches it"
            ) from None
        log.debug("   %s does not resolve; the download will fail", redact(host))
        return []
    return [ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def site(url: str) -> str:
    """``scheme://host:port`` of a URL for messages: no path, query or user info, secrets redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a host Python refuses to split (NFKC tricks): name no part of it
        return f"{redact(scheme_of(url))}://(a host that cannot be parsed)"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # out of range: requests refuses the URL, and the message names the host
        port = ""
    return redact(f"{parts.scheme}://{parts.hostname or ''}{port}")
