"""Which transport sends each request of a call: the adapter's own for its URL schemes, the network
(core/transport.py) for the rest, or, while :func:`use` is in effect, a transport a test put in its place.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .deadline import Deadline
from .reply import Reply, Transport
from .transport import MAX_BODY_BYTES, RequestsTransport, scheme_of

if TYPE_CHECKING:
    from .adapter import HttpRequest

__all__ = ["Transports", "use"]


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
        scheme = scheme_of(request.url)
        chosen = self.local if self.local is not None and scheme in self.local_schemes else self.network
        return chosen.send(request, deadline)

    def close(self) -> None:
        if isinstance(self.network, RequestsTransport):
            self.network.close()

    def __enter__(self) -> Transports:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
