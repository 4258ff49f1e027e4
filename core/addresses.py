"""Where a key may be sent and what may be fetched: private hosts, the plaintext rule, proxies,
link-local and cloud-metadata addresses.

Every address decision lives here; the modules that send (``http``, ``download``) only ask.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from .errors import NetworkError, UnusableAnswer, UsageError
from .secret import redact
from .transport import environ_proxies, select_proxy

log = logging.getLogger("imagegate.download")

_METADATA = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::254/128"))


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


def proxies_for(url: str) -> dict[str, str]:
    """The environment's proxies for ``url`` (NO_PROXY honoured); none for other schemes."""
    return environ_proxies(url) if urlsplit(url).scheme in ("http", "https") else {}


def checked_proxies(url: str) -> dict[str, str]:
    """The environment's proxies for ``url``; plaintext HTTP only through a local proxy (it sees the key)."""
    proxies = proxies_for(url)
    proxy = select_proxy(url, proxies) if urlsplit(url).scheme.lower() == "http" else None
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


def _addresses(url: str, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses ``host`` stands for (IPv4-mapped IPv6 as IPv4).

    A name that does not resolve here is left to the request to report, unless a proxy would
    fetch it: the proxy resolves it where it cannot be checked, so it is refused.
    """
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        if select_proxy(url, proxies_for(url)):
            raise NetworkError(
                f"could not download the image from {redact(host)}: its host name does not resolve "
                f"here ({type(exc).__name__}), so its address cannot be checked before the proxy fetches it"
            ) from None
        log.debug("   %s does not resolve; the download will fail", redact(host))
        return []
    return [ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs a provider must not make us fetch."""
    parts = urlsplit(url)
    shown = redact(f"{parts.scheme}://{parts.hostname or ''}")
    if parts.scheme.lower() not in ("http", "https"):
        raise UnusableAnswer(
            f"the provider returned an image URL with scheme {parts.scheme or '(none)'}:; "
            "only http(s) is fetched"
        )
    host = parts.hostname or ""
    if not host:
        raise UnusableAnswer("the provider returned an image URL without a host")
    for address in _addresses(url, host):
        if address.is_link_local or any(address in net for net in _METADATA):
            raise UnusableAnswer(f"refusing to fetch {shown}: a link-local or cloud-metadata address")
        private = address.is_loopback or address.is_private or address.is_unspecified
        if private and not allow_private:
            raise UnusableAnswer(
                f"refusing to fetch {shown}: a loopback or private address, and the provider is not on one"
            )
    if not allow_private and host.lower() == "localhost":
        raise UnusableAnswer(f"refusing to fetch {shown}: loopback")


def site(url: str) -> str:
    """``scheme://host:port`` of a URL for messages: no path, query or user info, secrets redacted."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # out of range: requests refuses the URL, and the message names the host
        port = ""
    return redact(f"{parts.scheme}://{parts.hostname or ''}{port}")
