"""Sends the batch protocol's requests for one adapter: each under a deadline of its own.

A batch lives for up to a day, so no single --timeout covers it: every request (an upload, the
creation, a poll, a cancel) gets ``timeout`` seconds, and reading a result file (which may be
tens of gigabytes) gets :data:`DOWNLOAD_SECONDS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .deadline import Deadline
from .errors import UnusableAnswer
from .http import iter_body, new_session, send
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .adapter import Adapter, HttpRequest

#: The most time reading one result file may take.
DOWNLOAD_SECONDS = 6 * 3600.0
#: The largest JSON answer of a protocol step (a file or batch object) read into memory.
ANSWER_LIMIT = 8 * 1024 * 1024


class Wire:
    """The requests of one adapter's batches: JSON answers, and result files as chunks."""

    def __init__(self, adapter: Adapter, timeout: float, notify: Callable[[str], None] | None = None) -> None:
        self.adapter = adapter
        self.timeout = timeout
        self.notify = notify
        self.policy = RetryPolicy(max_wait=adapter.profile.max_retry_wait)

    def json(self, request: HttpRequest, *, repeatable: bool = False) -> Any:
        """Send ``request`` and return its JSON answer (a non-2xx answer raises the user's error)."""
        deadline = Deadline(self.timeout)
        body = bytearray()
        with new_session(self.adapter.transport()) as session:
            response = send(session, request, self.adapter, deadline, self.policy, None, self.notify)
            for chunk in iter_body(response, deadline):
                body += chunk
                if len(body) > ANSWER_LIMIT:
                    raise UnusableAnswer(f"the provider's answer to {request.method} is too long")
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
        with new_session(self.adapter.transport()) as session:
            response = send(session, request, self.adapter, deadline, self.policy, None, self.notify)
            yield from iter_body(response, deadline, "reading a batch result file")
