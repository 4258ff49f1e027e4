"""One exchange with a provider: submit -> (Pending -> poll)* -> Answer, under one total deadline.

The core drives the loop and keeps every promise of a single call: the key is revealed only while
sending, the paid submit is never re-sent, a poll (which bills nothing) is retried on connection
failures, 5xx and 429, the progress line shows the provider's status, and a call that ends while
a job is pending (Ctrl-C, SIGTERM, the deadline, an error) names the job so it is never lost.
The same verbs fit a batch API: submit (build_request), poll, collect (the Answer), cancel.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .adapter import Answer, HttpRequest, Pending
from .addresses import check_endpoint, check_url, download_guard, is_private_host, site
from .connections import guarding
from .deadline import Deadline, timeout_error
from .errors import ImagegateError, Interrupted, ProviderFailure, UnusableAnswer
from .http import send, verdict
from .imagebase64 import InvalidImage, caps
from .jsonstream import InvalidAnswer, parse
from .pacing import Pacer as Limiter
from .progress import Progress
from .reply import iter_body
from .retry import RetryPolicy
from .routing import Transports
from .streaming import is_event_stream
from .untrusted import untrusted

if TYPE_CHECKING:
    from .adapter import Adapter
    from .progress import Ticker
    from .reply import Reply
    from .spool import Spool

__all__ = ["CANCEL_SECONDS", "Received", "run"]

log = logging.getLogger("imagegate.exchange")
#: How long a best-effort cancel of a pending job may take once the call is over.
CANCEL_SECONDS = 10.0
#: The wait before the next poll when the adapter's suggestion is no number.
DEFAULT_WAIT = 1.0
#: Second-level labels under which anybody registers names (``co.uk``): no site spans them.
_PUBLIC_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "mil"})
#: How much of a provider's job id or status a message shows.
SHOWN_LIMIT = 120


@dataclass
class Received:
    """What the exchange brought back: the answer, the provider's request id and its job id (if polled)."""

    answer: Answer
    request_id: str | None
    job_id: str | None = None


@dataclass
class _Link:
    """What every step of one exchange shares."""

    adapter: Adapter
    transports: Transports
    deadline: Deadline
    policy: RetryPolicy
    new_spool: Callable[[], Spool]
    limiter: Limiter | None
    notify: Callable[[str], None] | None
    progress: Progress
    origin: str = ""  # the URL of the submit: where the key was first sent

    def send(self, request: HttpRequest, *, repeatable: bool = False) -> Reply:
        with guarding(download_guard(_provider_is_local(self.adapter)), fetches=True):
            return send(
                self.transports,
                request,
                self.adapter,
                self.deadline,
                self.policy,
                self.limiter,
                self.notify,
                repeatable=repeatable,
            )


def run(
    adapter: Adapter,
    request: HttpRequest,
    *,
    transports: Transports,
    deadline: Deadline,
    policy: RetryPolicy,
    new_spool: Callable[[], Spool],
    read_stream: Callable[[Iterator[bytes]], Answer] | None = None,
    limiter: Limiter | None = None,
    notify: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> Received:
    """Send ``request`` and read the answer, polling while the adapter says "not done yet".

    A streamed answer (server-sent events) is handed to ``read_stream`` with the body's chunks.
    """
    link = _Link(
        adapter,
        transports,
        deadline,
        policy,
        new_spool,
        limiter,
        notify,
        progress or Progress.silent(),
        request.url,
    )
    if request.stream:
        reply = link.send(request)
        request_id = adapter.request_id(reply.headers)
        if read_stream is not None and is_event_stream(dict(reply.headers)):
            return Received(read_stream(iter_body(reply, deadline, "reading the stream")), request_id)
        try:
            return Received(_checked(_read(link, reply, None), adapter), request_id)
        except _Ended as ended:
            raise ended.error from None
    with link.progress.waiting() as ticker:
        reply = link.send(request)
        request_id = adapter.request_id(reply.headers)
        try:
            outcome = _read(link, reply, None)
        except _Ended as ended:
            raise ended.error from None
        if not isinstance(outcome, Pending):
            return Received(_checked(outcome, adapter), request_id)
        job_id = outcome.job_id
        return Received(_checked(_follow(link, outcome, ticker), adapter), request_id, job_id)


def _read(link: _Link, reply: Reply, job: Pending | None) -> Answer | Pending:
    """A 2xx JSON reply through decode() (the submit) or poll() (``job``'s next step)."""
    try:
        document = parse(
            iter_body(reply, link.deadline), link.adapter.b64_fields, link.new_spool, **caps(link.adapter)
        )
    except InvalidImage as exc:  # the address is right: the image payload is bad
        raise UnusableAnswer(f"the provider's answer (HTTP {reply.status}) holds {exc}") from None
    except InvalidAnswer as exc:
        kind = reply.headers.get("content-type", "unknown content type").split(";")[0]
        raise UnusableAnswer(
            f"the provider answered HTTP {reply.status} ({kind}), which is {exc}",
            hints=("Check base_url: it should be the API root, such as https://host/v1.",),
        ) from None
    try:
        if job is None:
            return link.adapter.decode(document, reply.headers)
        return link.adapter.poll(document, reply.headers, job)
    except ProviderFailure as failure:
        raise _Ended(_failed(link, failure, job)) from None
    except ImagegateError:
        raise
    except Exception as exc:  # the plugin's bug: the request was sent, and a pending job must be named
        raise _plugin_bug(link, exc, "poll" if job else "decode") from None


def _plugin_bug(link: _Link, exc: Exception, method: str) -> UnusableAnswer:
    """An adapter that failed to read a 2xx answer: say whose bug it is and that the call may be billed."""
    text = str(exc)
    shown = text if len(text) <= SHOWN_LIMIT else text[:SHOWN_LIMIT] + "..."
    return UnusableAnswer(
        f"provider {link.adapter.name!r} failed to read the provider's answer in {method}() "
        f"({type(exc).__name__}: {shown})",
        hints=(
            "This is a bug in that provider's plugin; report it to its authors.",
            "The request was sent: the provider may have made and billed the image.",
        ),
    )


class _Ended(Exception):
    """The provider reported the job's outcome (failed, moderated): ``error`` is final, nothing pends."""

    def __init__(self, error: ImagegateError) -> None:
        super().__init__(error.message)
        self.error = error


def _failed(link: _Link, failure: ProviderFailure, job: Pending | None) -> ImagegateError:
    """The user's error for a provider-side outcome, through the one verdict()."""
    lead = _named(job, link) if job else f"{link.adapter.name} reported"
    exception, _retry = verdict(failure.error, lead=lead)
    return exception


def _checked(outcome: Any, adapter: Adapter) -> Answer:
    """The final answer, which must hold an image."""
    if not isinstance(outcome, Answer):
        raise UnusableAnswer(
            f"provider {adapter.name!r} made no answer of the reply ({type(outcome).__name__})"
        )
    if not outcome.images:
        raise UnusableAnswer("the provider's answer holds no image")
    return outcome


def _follow(link: _Link, job: Pending, ticker: Ticker) -> Answer | Pending:
    """Poll ``job`` until the adapter gives the Answer; a call ending meanwhile names the job."""
    shown = ""
    try:
        while True:
            status = job.status or "pending"
            ticker.what = f"{_named(job, link)}: {untrusted(status, SHOWN_LIMIT)}"
            if status != shown and not link.progress.live:
                link.progress.note(f"{ticker.what} ({link.deadline.elapsed():.0f} s)")
            shown = status
            _wait(job.after, link.deadline, job)
            reply = link.send(_checked_next(link, job.next), repeatable=job.repeatable)
            outcome = _read(link, reply, job)
            if not isinstance(outcome, Pending):
                return outcome
            job = outcome
    except _Ended as ended:
        raise ended.error from None
    except (ImagegateError, KeyboardInterrupt) as exc:
        raise _unfinished(link, exc, job) from None
    except Exception as exc:  # a malformed Pending (no request, a bad URL type): the job must still be named
        raise _unfinished(link, _plugin_bug(link, exc, "poll"), job) from None


def _wait(seconds: float, deadline: Deadline, job: Pending) -> None:
    """Sleep what the adapter asked, never past the deadline (which then ends the call).

    A wait that is no number (NaN, or not a float at all) is the default one; a negative one is none.
    """
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        seconds = DEFAULT_WAIT
    seconds = DEFAULT_WAIT if math.isnan(seconds) else max(seconds, 0.0)
    if seconds >= deadline.remaining():
        time.sleep(deadline.remaining())
        raise timeout_error(deadline.seconds, f"waiting for job {_shown_id(job)}", sent=True)
    time.sleep(seconds)


def _named(job: Pending, link: _Link) -> str:
    """``job ID at PROVIDER`` for messages: the provider's id shortened and made printable."""
    return f"job {_shown_id(job)} at {link.adapter.name}"


def _shown_id(job: Pending) -> str:
    return untrusted(job.job_id, SHOWN_LIMIT)


def _checked_next(link: _Link, request: HttpRequest) -> HttpRequest:
    """The next request under the rules of its kind: the key's endpoint rule, or the download rules.

    A request with the key must also stay on the provider's site (see :func:`on_site`), whatever
    URL the provider's answers name: every plugin gets this without writing it.
    """
    if request.credentials:
        check_endpoint(request.url, link.transports.local_schemes)
        if not on_site(request.url, link.origin):
            raise UnusableAnswer(
                f"refusing to send the API key to {site(request.url)}: the provider named it for the "
                f"job's next request, but it is outside the provider's site ({site(link.origin)})",
                hints=("Nothing was sent there. If that host really is the provider's, report it.",),
            )
    else:
        check_url(
            request.url,
            allow_private=_provider_is_local(link.adapter),
            deadline_seconds=link.deadline.remaining(),
        )
    return request


def _provider_is_local(adapter: Adapter) -> bool:
    """Whether the provider lives on a loopback or private address (its fetches may go there too)."""
    return is_private_host(urlsplit(adapter.base_url).hostname or "")


def _unfinished(link: _Link, exc: BaseException, job: Pending) -> BaseException:
    """The error of a call that ended while ``job`` was pending, naming it (and cancelling it once)."""
    sentence = f"{_named(job, link)} was submitted and may still finish (and be billed)"
    sentence += _cancel(link, job)
    if isinstance(exc, ImagegateError):
        exc.hints = (sentence, *exc.hints)
        return exc
    error = exc if isinstance(exc, Interrupted) else Interrupted()
    error.hints = (*error.hints, sentence)
    return error


def _cancel(link: _Link, job: Pending) -> str:
    """Send the adapter's cancel request once, best effort; say what became of it."""
    try:
        request = link.adapter.cancel(job)
    except Exception:  # an adapter's bug must not hide the job's id
        request = None
    if request is None:
        return "; it was not cancelled"
    try:
        deadline = Deadline(CANCEL_SECONDS)
        with guarding(download_guard(_provider_is_local(link.adapter)), fetches=True):
            reply = send(
                link.transports, _checked_next(link, request), link.adapter, deadline, RetryPolicy(retries=0)
            )
        reply.close()
    except (ImagegateError, OSError) as exc:
        log.debug("cancelling job %s failed: %s", job.job_id, exc)
        return "; cancelling it failed"
    return "; a cancel was sent"


def on_site(url: str, origin: str) -> bool:
    """Whether a request with the key to ``url`` stays on the site of ``origin`` (the submit's URL).

    Same scheme, host and port as the origin; or, for a host name with a parent domain of two
    labels or more, https to that domain or another of its hosts on the same port
    (``api.us1.bfl.ai`` for ``api.bfl.ai``). An address, ``localhost`` or a two-label name has no
    siblings. Another scheme (a local transport's) must keep the origin's scheme and host.
    """
    try:
        there, here = urlsplit(url), urlsplit(origin)
        ports = (there.port, here.port)
    except ValueError:  # a host no parser agrees on (NFKC tricks, a bad port): not this site
        return False
    host, home = (there.hostname or "").lower(), (here.hostname or "").lower()
    if (
        not host
        or there.scheme.lower() != here.scheme.lower()
        or _port(there.scheme, ports[0]) != _port(here.scheme, ports[1])
    ):
        return False
    if host == home:
        return True
    if there.scheme.lower() != "https" or _is_address(home):
        return False
    labels = home.split(".")
    if len(labels) < 3 or (len(labels) == 3 and labels[1] in _PUBLIC_SECOND_LEVEL):
        return False  # no parent domain, or one anybody can register under (co.uk, com.au)
    domain = ".".join(labels[1:])
    return host == domain or host.endswith("." + domain)


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme.lower())


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
