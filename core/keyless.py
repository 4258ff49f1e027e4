"""Key-free copies of what a request sends, and of what ``requests`` keeps of it once sent.

A credential-free fetch gets headers with no key in them, and a response or exception gets a copy
of its sent request with the key blanked; neither needs the HTTP library itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .scrub import REDACTED
from .secret import Secret

if TYPE_CHECKING:
    from .adapter import HttpRequest

__all__ = ["forget_key", "keyless"]


def keyless(request: HttpRequest) -> dict[str, str]:
    """The headers of a credential-free fetch: none that carries a key."""
    secret = {name.lower() for name in request.secret_headers}
    return {k: v for k, v in request.headers.items() if not isinstance(v, Secret) and k.lower() not in secret}


def forget_key(holder: Any, request: HttpRequest) -> None:
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
