"""Downloads an image URL a provider returned, with a separate request that carries no credentials.

The provider's session (with its Authorization header) is never used here: no key, no cookies,
no .netrc, and every redirect is checked again. Only http(s); never link-local or cloud-metadata
addresses; loopback and private addresses only when the provider itself lives on one. The URL is
checked as the connection reads it, and the connection judges every address the host resolves to
before connecting to one of them (core/addresses.py holds the rules).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from urllib.parse import urljoin, urlsplit

from .adapter import HttpRequest
from .addresses import check_url, download_guard, is_private_host, site
from .connections import guarding
from .deadline import Deadline, timeout_error
from .errors import ImagegateError, NetworkError, UnusableAnswer
from .reply import Reply, TransportFailure, iter_body
from .routing import Transports
from .secret import redact
from .spool import Spool
from .verbose import describe_response

log = logging.getLogger("imagegate.download")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,([A-Za-z0-9+/=\s]*)", re.IGNORECASE)


def inline_image(url: str, max_bytes: int) -> bytes:
    """The bytes of a ``data:image/...;base64,`` URL; UnusableAnswer when it is not one."""
    found = _DATA_URL.fullmatch(url)
    if found is None:
        raise UnusableAnswer("the provider's answer holds an image link that is not http(s) or base64 data:")
    if len(found.group(1)) * 3 // 4 > max_bytes:
        raise UnusableAnswer(f"the provider's inline image is over download_max_bytes ({max_bytes:,} bytes)")
    try:
        return base64.b64decode("".join(found.group(1).split()), validate=True)
    except ValueError:
        raise UnusableAnswer("the provider's answer holds an image that is not valid base64") from None


def download(
    url: str,
    spool: Spool,
    *,
    deadline: Deadline,
    max_bytes: int,
    base_url: str,
    transports: Transports | None = None,
) -> None:
    """Stream ``url`` into ``spool`` with credential-free requests (redirects followed and checked).

    A base64 ``data:`` URL (an image a model put in its text) is decoded: nothing is fetched.
    """
    if url.startswith("data:"):
        spool.write(inline_image(url, max_bytes))
        return

    allow_private = is_private_host(urlsplit(base_url).hostname or "")
    current = url
    owned = transports is None
    transports = transports or Transports()
    try:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, allow_private=allow_private, deadline_seconds=deadline.remaining())
            try:
                reply = _get(transports, current, deadline, allow_private)
                if not (reply.status in _REDIRECTS and "location" in reply.headers):
                    _save(reply, current, spool, deadline, max_bytes)
                    return
            except ImagegateError as exc:
                exc.add_hint(
                    "The provider has probably billed this image. While its link lasts you can "
                    "fetch it yourself: " + redact(url)
                )
                raise exc from None
            location = reply.headers.get("location", "")
            reply.close()
            current = urljoin(current, location)
    finally:
        deadline.disarm()
        if owned:
            transports.close()
    raise UnusableAnswer(f"the image URL redirected more than {MAX_REDIRECTS} times")


def _get(transports: Transports, url: str, deadline: Deadline, allow_private: bool) -> Reply:
    log.debug("-> GET %s (separate request: no key, no cookies)", redact(url))
    started = time.monotonic()
    try:
        with guarding(download_guard(allow_private), fetches=True):
            reply = transports.send(HttpRequest("GET", url, credentials=False), deadline)
    except TransportFailure as exc:
        if deadline.expired():
            raise timeout_error(deadline.seconds, "downloading the image", sent=True) from None
        name = exc.backend or type(exc).__name__
        raise NetworkError(f"could not download the image from {site(url)}: {name}") from None
    log.debug("%s", describe_response(reply.status, reply.reason, reply.headers, time.monotonic() - started))
    return reply


def _save(reply: Reply, url: str, spool: Spool, deadline: Deadline, max_bytes: int) -> None:
    status = reply.status
    if status in (403, 404, 410):
        reply.close()
        raise UnusableAnswer(
            f"the image URL answered HTTP {status}: it has probably expired "
            "(provider URLs last minutes to hours)",
            hints=("Generate again, and download sooner if you fetch URLs yourself.",),
        )
    if not 200 <= status < 300:
        reply.close()
        raise UnusableAnswer(f"downloading the image failed with HTTP {status} from {site(url)}")
    declared = reply.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        reply.close()
        raise UnusableAnswer(
            f"the image is {int(declared)} bytes, over the download cap of {max_bytes} "
            "(config key download_max_bytes)"
        )
    chunks = iter_body(reply, deadline, "downloading the image")
    try:
        for chunk in chunks:
            if spool.size + len(chunk) > max_bytes:
                raise UnusableAnswer(
                    f"the image download passed the cap of {max_bytes} bytes "
                    "(config key download_max_bytes); stopped"
                )
            spool.write(chunk)
    finally:
        chunks.close()
