"""Reads a streamed answer (server-sent events) into partial previews and final images.

``receive`` writes nothing: each partial preview goes to the caller's ``on_partial``, and the
final image(s) into the caller's spools. What an event means is the adapter's business
(``decode_event``); base64 images inside an event (at the adapter's ``stream_b64_fields``) are
decoded by the core, as the event's data arrives, before the adapter sees them. The events
themselves are read by :mod:`imagegate.sse`.

An event that cannot be read (not JSON, or a bad image string in it) is skipped: a broken
preview must not cost the paid final image that follows it in the same stream. If no final
image arrives, the first such event's problem is the call's error.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .adapter import Adapter, Answer, Failed, Final, Partial
from .errors import CutShort, ImagegateError, NetworkError, UnusableAnswer
from .http import verdict
from .imagebase64 import InvalidAnswer, InvalidImage, capped, caps
from .jsonstream import parse
from .spool import MemorySpool, Spool
from .sse import EventTooLarge, Incoming, incoming

if TYPE_CHECKING:
    from .deadline import Deadline
    from .progress import Notify

#: Called with each partial preview as it arrives, and the seconds since the call began.
OnPartial = Callable[[Spool, float], None]
#: Markers some gateways send after the last event; they carry nothing.
END_MARKERS = ("[DONE]",)
#: The pieces an event's data is handed to the JSON reader in.
PIECE = 64 * 1024


class StreamTooLarge(Exception):
    """The whole stream passed ``answer_max_bytes`` (unlike a bad event, this ends the reading)."""


@dataclass(frozen=True)
class Skipped:
    """An event that could not be read; ``reason`` completes "an event of the stream ..."."""

    reason: str


# -- a streamed answer -----------------------------------------------------------------------------


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether an answer is server-sent events (a gateway may answer a streamed call with plain JSON)."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


def receive(
    adapter: Adapter,
    chunks: Iterator[bytes],
    deadline: Deadline,
    new_spool: Callable[[], Spool],
    expected: int,
    *,
    on_partial: OnPartial,
    on_failure: Callable[[ImagegateError], None],
    notify: Notify,
    warn: Notify,
) -> Answer:
    """Read events until ``expected`` final images have arrived (or the stream ends).

    A failure before any final image goes to ``on_failure`` and is raised; after one it is only a
    warning (``warn``): what arrived was paid for and is kept.
    """
    answer = Answer([])
    partials = 0
    skipped, first_skipped = 0, ""
    stream = _decoded(adapter, chunks)
    try:
        for decoded in stream:
            if isinstance(decoded, Skipped):  # the first one's reason is kept, the rest counted
                skipped, first_skipped = skipped + 1, first_skipped or decoded.reason
            elif isinstance(decoded, Partial):
                partials += 1
                on_partial(decoded.ref.data, deadline.elapsed())
            elif isinstance(decoded, Final):
                _collect(decoded.answer, answer, new_spool)
                notify(f"image {len(answer.images)} of {expected} received ({deadline.elapsed():.1f} s)")
                if len(answer.images) >= expected:
                    break
    except ImagegateError as exc:
        if not answer.images:
            on_failure(exc)
            raise
        warn(f"the stream failed after {len(answer.images)} of {expected} image(s): {exc}")
    finally:
        _close(stream, chunks)
    if not answer.images:
        error = UnusableAnswer(
            f"an event of the stream {first_skipped}"
            if skipped
            else f"the stream ended without a final image ({partials} partial image(s) arrived)"
        )
        on_failure(error)
        raise error
    if skipped:
        warn(
            f"{skipped} event(s) of the stream could not be read and were skipped: the first {first_skipped}"
        )
    return answer


def _close(stream: Generator[Partial | Final | Skipped, None, None], chunks: Iterator[bytes]) -> None:
    """Stop reading events, and close the body: its generator closes the connection, even early."""
    stream.close()
    closer = getattr(chunks, "close", None)
    if closer is not None:
        closer()


def _decoded(adapter: Adapter, chunks: Iterator[bytes]) -> Generator[Partial | Final | Skipped, None, None]:
    """The adapter's reading of each event, base64 images decoded into memory spools as they arrive.

    The whole stream is capped by ``answer_max_bytes``, each event by what one image of
    ``image_max_bytes`` takes in base64, each image by ``image_max_bytes``.
    """
    limits = caps(adapter)
    max_event = limits["max_image_bytes"] * 4 // 3 + 1024 * 1024
    source = _Ending(chunks)
    try:
        for event in incoming(_stream_capped(source, limits["max_bytes"]), max_event):
            if event.start(64).strip() in END_MARKERS and event.whole:
                continue
            try:
                document = parse(
                    _encoded(event),
                    adapter.stream_b64_fields,
                    MemorySpool,
                    max_image_bytes=limits["max_image_bytes"],
                )
            except InvalidImage as exc:
                yield Skipped(f"holds {exc}")
                continue
            except InvalidAnswer as exc:
                yield Skipped(f"is {exc}")
                continue
            try:
                decoded = adapter.decode_event(event.event, document)
            except UnusableAnswer as exc:  # the adapter found no image where one belongs
                yield Skipped(f"could not be used: {exc.message}")
                continue
            if isinstance(decoded, Failed):
                raise verdict(decoded.error, lead="the provider stopped the stream with an error")[0]
            if decoded is not None:
                yield decoded
    except (EventTooLarge, StreamTooLarge) as exc:
        raise UnusableAnswer(f"the stream is unusable: {exc}") from None
    if source.failure is not None:
        raise source.failure


class _Ending:
    """A stream's chunks, where a stream stopped short (a timeout, a failed or early-closed
    connection) ends as its end would, the failure kept to be raised once the events that arrived
    are read. Anything else (a corrupt encoding, the size cap) is raised at once.

    So an event whose data arrived whole, all but its closing blank line, is still given: a final
    image cut off only from that line was paid for and is all there.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.failure: ImagegateError | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.chunks
        except (NetworkError, CutShort) as exc:  # what arrived before it is sound
            self.failure = exc


def _stream_capped(chunks: Iterable[bytes], max_bytes: int) -> Iterator[bytes]:
    """The chunks under ``answer_max_bytes``; past it, :class:`StreamTooLarge` (not a bad event)."""
    try:
        yield from capped(chunks, max_bytes)
    except InvalidAnswer as exc:
        raise StreamTooLarge(str(exc)) from None


def _encoded(event: Incoming) -> Iterator[bytes]:
    """An event's data as UTF-8, in pieces of about :data:`PIECE` characters (never whole)."""
    held: list[str] = []
    size = 0
    for piece in event:
        held.append(piece)
        size += len(piece)
        if size >= PIECE:
            yield "".join(held).encode("utf-8", "surrogatepass")
            held, size = [], 0
    if held:
        yield "".join(held).encode("utf-8", "surrogatepass")


def _collect(final: Answer, answer: Answer, new_spool: Callable[[], Spool]) -> None:
    """Move a final event's images into the call's own spools (files beside the output)."""
    for ref in final.images:
        if isinstance(ref.data, Spool):
            spool = new_spool()
            spool.write(ref.data.getvalue())
            spool.complete = True  # kept even if the stream is stopped before the next image
            ref.data = spool
        answer.images.append(ref)
    answer.usage = final.usage or answer.usage
    answer.extras.update(final.extras)
