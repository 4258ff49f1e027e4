"""Sends the batch protocol's requests for one adapter: each under a deadline of its own.

A batch lives for up to a day, so no single --timeout covers it: every request (an upload, the
creation, a poll, a cancel) gets ``timeout`` seconds, and reading a result file (which may be
tens of gigabytes) gets :data:`DOWNLOAD_SECONDS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .addresses import check_endpoint
from .deadline import Deadline
from .errors import UnusableAnswer
from .http import send
from .reply import iter_body
from .retry import RetryPolicy
from .routing import Transports

if TYPE_CHECKING:
    from .adapter import Adapter, HttpRequest

#: The most time reading one result file may take.
DOWNLOAD_SECONDS = 6 * 3600.0
#: The largest JSON answer of a protocol step (a file or batch object) read into memory.
ANSWER_LIMIT = 8 * 1024 * 1024
#: The transport's cap on one body, decompressed: a result file may be tens of gigabytes.
RESULT_MAX_BYTES = 256 * 1024**3


class Wire:
    """The requests of one adapter's batches: JSON answers, and result files as chunks."""

    def __init__(self, adapter: Adapter, timeout: float, notify: Callable[[str], None] | None = None) -> None:
        self.adapter = adapter
        self.timeout = timeout
        self.notify = notify
        self.policy = RetryPolicy(max_wait=adapter.profile.max_retry_wait)
        self.transports = Transports(adapter.transport(), max_body_bytes=RESULT_MAX_BYTES)

    def _send(self, request: HttpRequest, deadline: Deadline, repeatable: bool) -> Any:
        """The 2xx reply to ``request``, which goes only where the key may go."""
        check_endpoint(request.url, self.transports.local_schemes)
        return send(
            self.transports,
            request,
            self.adapter,
            deadline,
            self.policy,
            None,
            self.notify,
            repeatable=repeatable,
        )

    def json(self, request: HttpRequest, *, repeatable: bool = False) -> Any:
        """Send ``request`` and return its JSON answer (a non-2xx answer raises the user's error)."""
        deadline = Deadline(self.timeout)
        body = bytearray()
        chunks = iter_body(self._send(request, deadline, repeatable), deadline)
        try:
            for chunk in chunks:
                body += chunk
                if len(body) > ANSWER_LIMIT:
                    raise UnusableAnswer(f"the provider's answer to {request.method} is too long")
        finally:
            chunks.close()
        try:
            return json.loads(bytes(body))
        except ValueError:
            raise UnusableAnswer(
                f"the provider answered {request.method} with something that is not JSON",
                hints=("Check base_url: it should be the API root, such as https://host/v1.",),
            ) from None

    def chunks(self, request: HttpRequest) -> Iterator[bytes]:
        """A result file's body as it arrives."""
        deadline = Deadline(DOWNLOAD_SECONDS)
        yield from iter_body(self._send(request, deadline, True), deadline, "reading a batch result file")

    def close(self) -> None:
        self.transports.close()
