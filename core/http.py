"""Sends one provider request: attempts, retry waits that never bill twice, and :func:`verdict`,
the one place an error answer becomes the user's exception (and whether it may be retried).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from .adapter import ProviderError, describe_error, excerpt
from .addresses import checked_proxies, site
from .deadline import Deadline, timeout_error
from .errors import ContentRefused, ImagegateError, NetworkError, ProviderRefused, UsageError
from .pacing import Pacer
from .reply import NotSent, SentThenFailed, TimedOut, Unsendable, read_limited
from .retry import RetryPolicy, retry_after
from .routing import Transports
from .secret import redact
from .verbose import describe_request, describe_response

if TYPE_CHECKING:
    from .adapter import Adapter, Headers, HttpRequest
    from .reply import Reply

log = logging.getLogger("imagegate.http")
ERROR_BODY_LIMIT = 256 * 1024
#: A request rate-limited this many times waits as asked; after that, at least the backoff as well.
EXACT_REFUSALS = 3
BILLING_HINT = (
    "The request was sent: the provider may have made and billed the image. "
    "It was not retried, so you are not charged twice."
)
REPHRASE_HINT = "Rephrase the prompt or change the input image; retrying as-is will not help."


def verdict(error: ProviderError, *, lead: str = "", repeatable: bool = False) -> tuple[ImagegateError, bool]:
    """The user's exception for a provider error, and whether it may be retried (first rule wins).

    ``repeatable`` marks a request that bills nothing when repeated (a poll): any 5xx is retried.
    """
    text = describe_error(error, lead)
    if error.kind == "content":
        return ContentRefused(text, status=error.status, code=error.code, hints=(REPHRASE_HINT,)), False
    if error.kind in ("quota", "not_found"):
        return ProviderRefused(text, status=error.status, code=error.code), False
    if error.kind == "failed":
        return NetworkError(text, hints=("The provider ran the job; it may have been billed.",)), False
    if error.status == 429:
        return ProviderRefused(text, status=error.status, code=error.code), True
    if error.status == 503 or (error.status >= 500 and repeatable):
        return NetworkError(text), True
    if error.status >= 500:
        return NetworkError(text, hints=(BILLING_HINT,)), False
    return ProviderRefused(text, status=error.status, code=error.code), False


class _Retry(Exception):
    """One try that may be repeated: after ``wait`` (None: back off), for ``reason``, else ``error``."""

    def __init__(
        self,
        wait: float | None,
        reason: str,
        error: ImagegateError,
        status: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(reason)
        self.wait, self.reason, self.error = wait, reason, error
        self.status, self.headers = status, headers or {}


def send(
    transports: Transports,
    request: HttpRequest,
    adapter: Adapter,
    deadline: Deadline,
    policy: RetryPolicy,
    limiter: Pacer | None = None,
    notify: Callable[[str], None] | None = None,
    *,
    repeatable: bool = False,
) -> Reply:
    """Send ``request`` and return the (streaming) 2xx reply, retrying only what is safe.

    ``repeatable`` (a poll) is also retried when the connection failed after sending, and on any 5xx.
    Every answer's rate-limit headers go to the pacer (``limiter``, shared by a batch's jobs). A
    rate-limit 429 was not billed, so it is tried again whenever the pacer allows, within the
    deadline, without using up ``--retries`` (which count connection failures and 503s).
    ``notify`` hears one line per retry (the CLI shows it on stderr unless --quiet).
    """
    pacer = limiter if limiter is not None else Pacer()
    attempt = refusals = 0
    waited = 0.0  # this request's own waits: however time is kept, they never add up past the deadline
    while True:
        ticket = pacer.acquire(deadline.remaining())
        deadline.check("waiting to send the request", sent=False)
        log.debug("%s", describe_request(request, attempt + refusals))
        try:
            reply = _attempt(transports, request, adapter, deadline, repeatable)
        except _Retry as exc:
            retry = exc
        except BaseException as exc:
            _stop(deadline, exc)
            raise
        else:
            pacer.observe(ticket, reply.status, reply.headers)
            return reply
        try:
            if retry.status == 429:
                asked = pacer.observe(ticket, 429, retry.headers)
                wait = _rate_limit_wait(asked, retry.error, refusals, policy, deadline, waited)
                message = f"rate limited, resuming in {_seconds(wait)}"
                refusals += 1
            else:
                if retry.status is not None:
                    pacer.observe(ticket, retry.status, retry.headers)
                wait = _retry_wait(retry.wait, retry.error, attempt, policy, deadline)
                message = (
                    f"{retry.reason}: retrying in {wait:.1f} s (retry {attempt + 1} of {policy.retries})"
                )
                attempt += 1
        except BaseException as exc:
            _stop(deadline, exc)
            raise
        _announce(message, notify)
        pacer.hold(wait)
        waited += wait


def _announce(message: str, notify: Callable[[str], None] | None) -> None:
    """Say a retry is coming: to ``notify`` (the CLI's stderr) or the log."""
    if notify is not None:
        notify(message)
    else:
        log.info("%s", message)


def _stop(deadline: Deadline, exc: BaseException) -> None:
    """Disarm the deadline and drop the exception chain our error was raised from (it may hold headers)."""
    deadline.disarm()
    if isinstance(exc, ImagegateError):
        exc.__cause__ = exc.__context__ = None
        exc.__suppress_context__ = True


def _retry_wait(
    asked: float | None, error: ImagegateError, attempt: int, policy: RetryPolicy, deadline: Deadline
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


def _rate_limit_wait(
    asked: float | None,
    error: ImagegateError,
    refusals: int,
    policy: RetryPolicy,
    deadline: Deadline,
    waited: float,
) -> float:
    """How long a rate-limited request waits: what the provider asked (backing off once it asks
    again and again, or says nothing), never past max_retry_wait or the deadline."""
    backoff = policy.backoff(refusals)
    wait = backoff if asked is None else (max(asked, backoff) if refusals >= EXACT_REFUSALS else asked)
    if wait > policy.max_wait:
        raise _with_hint(
            error,
            f"The provider asked to wait {wait:.0f} s, longer than max_retry_wait "
            f"({policy.max_wait:g} s); not waited. Try again later.",
        )
    if wait > deadline.remaining() or waited + wait > deadline.seconds:
        tries = f"{refusals + 1} rate-limited attempt" + ("s" if refusals else "")
        raise _with_hint(error, f"Gave up after {tries}: the next waits {wait:.1f} s, past the --timeout.")
    return wait


def _seconds(wait: float) -> str:
    return f"{wait:.0f} s" if wait >= 1 else f"{wait:.1f} s"


def _with_hint(error: ImagegateError, hint: str) -> ImagegateError:
    error.hints = (*error.hints, hint)
    return error


#: A connection that timed out with less than this left of the deadline ran out of the deadline.
DEADLINE_SLACK = 0.25


def _attempt(
    transports: Transports, request: HttpRequest, adapter: Adapter, deadline: Deadline, repeatable: bool
) -> Reply:
    """One try: the 2xx reply; raises :class:`_Retry` when it may be repeated, the user's error otherwise."""
    if request.credentials:
        checked_proxies(request.url)
    started = time.monotonic()
    try:
        reply = transports.send(request, deadline)
    except NotSent as exc:
        if exc.blocked:  # refused the same way on every try: never retried
            raise _network_blocked(request.url) from None
        if exc.timed_out and deadline.remaining() < DEADLINE_SLACK:  # the connect had only what was left
            raise timeout_error(deadline.seconds, f"connecting to {site(request.url)}", sent=False) from None
        reason = "a connection timeout" if exc.timed_out else "a connection failure"
        raise _Retry(
            None, reason, NetworkError(f"could not connect to {site(request.url)}: {exc.reason}")
        ) from None
    except TimedOut as exc:
        what = "waiting for the provider's answer" if exc.sent else f"connecting to {site(request.url)}"
        raise timeout_error(deadline.seconds, what, sent=exc.sent) from None
    except SentThenFailed as exc:
        text = f"the connection to {site(request.url)} failed after the request was sent: {exc.reason}"
        if repeatable:
            raise _Retry(None, "a connection failure", NetworkError(text)) from None
        hint = "The provider may have made and billed the image; it was not retried."
        raise NetworkError(text, hints=(hint,)) from None
    except Unsendable as exc:
        raise _unsendable(exc, request.url) from None
    seconds = time.monotonic() - started
    log.debug("%s", describe_response(reply.status, reply.reason, reply.headers, seconds))
    if 200 <= reply.status < 300:
        return reply
    raise _failure(reply, adapter, deadline, repeatable)


def _network_blocked(url: str) -> NetworkError:
    """The OS refused to open the connection (EPERM/EACCES), as a sandbox without network access does."""
    return NetworkError(
        f"could not connect to {site(url)}: network access is blocked here (a sandbox?); "
        "nothing was sent, nothing was billed",
        hints=(
            "The operating system refused the connection (operation not permitted), so it was not retried.",
            "Run the command where network access is allowed: outside the sandbox, with approval, or "
            "with the sandbox's network access turned on.",
        ),
    )


def _unsendable(exc: Unsendable, url: str) -> UsageError:
    """A request that could not be built or sent; its text is never shown (it may hold a header)."""
    if exc.what == "header":
        return UsageError(
            "a request header has a value HTTP cannot carry (the value is not shown)",
            hints=("Check api_key and the profile's headers for spaces, line breaks or unusual characters.",),
        )
    if exc.what == "url":
        return UsageError(f"the provider's URL cannot be used: {site(url)} ({exc.backend})")
    if exc.what == "encoding":
        return UsageError(
            "the request could not be encoded: a header or the URL has characters HTTP cannot carry "
            "(not shown)"
        )
    if exc.what == "file":
        return UsageError(f"cannot read an input file: {exc.reason}")
    return UsageError(f"the request to {site(url)} could not be sent: {exc.backend}")


def _failure(reply: Reply, adapter: Adapter, deadline: Deadline, repeatable: bool) -> Exception:
    """A non-2xx answer: the error to raise, or a :class:`_Retry` when it may be repeated."""
    status = reply.status
    if 300 <= status < 400:
        reply.close()
        location = reply.headers.get("location", "?")
        return NetworkError(
            f"the provider redirected the request (HTTP {status}) to {redact(location)}",
            hints=("Set base_url to the final address; the key is never sent on across a redirect.",),
        )
    body = read_limited(reply, deadline, ERROR_BODY_LIMIT)
    log.debug("   body: %s", redact(excerpt(body, ERROR_BODY_LIMIT)))  # --verbose shows all of it
    error = adapter.parse_error(status, body)
    error = replace(error, message=redact(error.message))
    exception, retry = verdict(error, repeatable=repeatable)
    if retry:
        return _Retry(retry_after(reply.headers), f"HTTP {status}", exception, status, reply.headers)
    return exception
