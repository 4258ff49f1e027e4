"""Downloads an image URL a provider returned, with a separate request that carries no credentials.

The provider's session (with its Authorization header) is never used here: no key, no cookies,
no .netrc, and every redirect is checked again. Only http(s); never link-local or cloud-metadata
addresses; loopback and private addresses only when the provider itself lives on one.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from urllib.parse import urljoin, urlsplit

from .deadline import Deadline, timeout_error
from .errors import ImagegateError, NetworkError, UnusableAnswer
from .http import ip_address, is_private_host, iter_body, plain_session, proxies_for, site, watching
from .secret import redact
from .spool import Spool
from .verbose import describe_response

log = logging.getLogger("imagegate.download")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
_METADATA = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::254/128"))


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
        import requests

        if requests.utils.select_proxy(url, proxies_for(url)):
            raise NetworkError(
                f"could not download the image from {redact(host)}: its host name does not resolve "
                f"here ({type(exc).__name__}), so its address cannot be checked before the proxy fetches it"
            ) from None
        log.debug("   %s does not resolve; the download will fail", redact(host))
        return []
    return [ip_address(info[4][0].split("%")[0]) for info in infos]


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


def download(url: str, spool: Spool, *, deadline: Deadline, max_bytes: int, base_url: str) -> None:
    """Stream ``url`` into ``spool`` with a fresh, credential-free session."""

    allow_private = is_private_host(urlsplit(base_url).hostname or "")
    current = url
    with plain_session() as session:
        try:
            for _ in range(MAX_REDIRECTS + 1):
                check_url(current, allow_private=allow_private)
                try:
                    response = _get(session, current, deadline)
                    if not response.is_redirect:
                        _save(response, spool, deadline, max_bytes)
                        return
                except ImagegateError as exc:
                    raise _paid_link(exc, url) from None
                location = response.headers.get("location", "")
                response.close()
                current = urljoin(current, location)
        finally:
            deadline.disarm()
    raise UnusableAnswer(f"the image URL redirected more than {MAX_REDIRECTS} times")


def _paid_link(error: ImagegateError, url: str) -> ImagegateError:
    """The error, telling the user the image was probably billed and where it can still be fetched."""
    error.hints = (
        *error.hints,
        "The provider has probably billed this image. While its link lasts you can fetch it yourself: "
        + redact(url),
    )
    return error


def _get(session, url: str, deadline: Deadline):
    import requests

    remaining = max(deadline.remaining(), 0.001)
    log.debug("-> GET %s (separate request: no key, no cookies)", redact(url))
    started = time.monotonic()
    try:
        with watching(deadline):
            response = session.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(min(30.0, remaining), remaining),
                proxies=proxies_for(url),
            )
    except requests.exceptions.RequestException as exc:
        if deadline.expired():
            raise timeout_error(deadline.seconds, "downloading the image", sent=True) from None
        raise NetworkError(f"could not download the image from {site(url)}: {type(exc).__name__}") from None
    log.debug(
        "%s",
        describe_response(
            response.status_code, response.reason, response.headers, time.monotonic() - started
        ),
    )
    return response


def _save(response, spool: Spool, deadline: Deadline, max_bytes: int) -> None:
    status = response.status_code
    if status in (403, 404, 410):
        response.close()
        raise UnusableAnswer(
            f"the image URL answered HTTP {status}: it has probably expired "
            "(provider URLs last minutes to hours)",
            hints=("Generate again, and download sooner if you fetch URLs yourself.",),
        )
    if not 200 <= status < 300:
        response.close()
        raise UnusableAnswer(f"downloading the image failed with HTTP {status} from {site(response.url)}")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise UnusableAnswer(
            f"the image is {int(declared)} bytes, over the download cap of {max_bytes} "
            "(config key download_max_bytes)"
        )
    for chunk in iter_body(response, deadline, "downloading the image"):
        if spool.size + len(chunk) > max_bytes:
            response.close()
            raise UnusableAnswer(
                f"the image download passed the cap of {max_bytes} bytes "
                "(config key download_max_bytes); stopped"
            )
        spool.write(chunk)
