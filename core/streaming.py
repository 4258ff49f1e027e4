"""Server-sent events: the standard's parser, and the loop that reads a streamed answer from them.

The parser (``events``) reads text/event-stream incrementally, as the HTML standard says: lines
end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are one
line break); ``data`` lines are joined with newlines; a blank line ends an event; lines starting
with ``:`` are comments; an event without data is not dispatched. One deliberate difference: an
event cut off by the end of the stream is still given (see :meth:`EventParser.close`).

The loop (``receive``) writes nothing: each partial preview goes to the caller's ``on_partial``,
and the final image(s) into the caller's spools. What an event means is the adapter's business
(``decode_event``); base64 images inside an event (at the adapter's ``stream_b64_fields``) are
decoded by the core before the adapter sees them.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .adapter import Adapter, Answer, Failed, Final, Partial
from .errors import ImagegateError, UnusableAnswer
from .http import verdict
from .imagebase64 import InvalidImage, capped, caps
from .jsonstream import InvalidAnswer, parse
from .spool import MemorySpool, Spool

if TYPE_CHECKING:
    from .deadline import Deadline
    from .progress import Notify

#: Called with each partial preview as it arrives, and the seconds since the call began.
OnPartial = Callable[[Spool, float], None]
#: Markers some gateways send after the last event; they carry nothing.
END_MARKERS = ("[DONE]",)

# -- the event parser ------------------------------------------------------------------------------

#: A cap on one event's size, so a stream that never ends an event cannot fill memory. A call's
#: own cap follows its ``image_max_bytes`` (an event holds at most one image, in base64).
MAX_EVENT_BYTES = 256 * 1024 * 1024
#: What one data line costs besides its characters and line break (its slot in the list of lines),
#: so a stream of empty ``data:`` lines counts against the cap as the memory it takes.
LINE_COST = 8
#: The pieces an event's data is handed to the JSON reader in (no whole copy of a big event).
PIECE = 64 * 1024


class EventTooLarge(ValueError):
    """One event grew past the size limit without ending."""


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (``None`` when the stream gave none), data, id and retry."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class EventParser:
    """Feed it text chunks; it returns the events completed by each chunk."""

    def __init__(self, max_event: int = MAX_EVENT_BYTES) -> None:
        self.max_event = max_event
        self._pending: list[str] = []  # the start of a line whose end has not arrived yet
        self._pending_size = 0
        self._after_cr = False
        self._started = False
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, text: str) -> list[Event]:
        """Consume ``text`` and return the events it completed."""
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = text.endswith("\r")
        *lines, rest = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        events = []
        for line in lines:
            event = self._line("".join([*self._pending, line]))
            self._pending, self._pending_size = [], 0
            if event is not None:
                events.append(event)
        if rest:
            self._pending.append(rest)
            self._pending_size += len(rest)
            self._check_size(self._pending_size)
        return events

    def close(self) -> list[Event]:
        """The end of the stream. Unlike the standard, an unfinished event with data is still given:
        a gateway that closes without the final blank line must not cost a paid image."""
        events = self.feed("\n\n") if self._pending or self._data else []
        self._pending, self._pending_size = [], 0
        self._reset()
        return events

    def _check_size(self, extra: int) -> None:
        if self._size + extra > self.max_event:
            raise EventTooLarge(f"an event is larger than {self.max_event} bytes")

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._size += len(value) + 1 + LINE_COST  # an empty line costs memory too
            self._check_size(0)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        event = None
        if self._data:
            event = Event(self._event or None, "\n".join(self._data), self._id, self._retry)
        self._reset()
        return event

    def _reset(self) -> None:
        # The last event id persists across events (as in the standard); the rest is per event.
        self._event, self._data, self._size, self._retry = None, [], 0, None


def events(chunks: Iterable[bytes], max_event: int = MAX_EVENT_BYTES) -> Iterator[Event]:
    """The events of a byte stream (UTF-8, invalid bytes replaced), yielded as soon as they end."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parser = EventParser(max_event)
    for chunk in chunks:
        yield from parser.feed(decoder.decode(chunk))
    yield from parser.feed(decoder.decode(b"", final=True))
    yield from parser.close()


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
    stream = _decoded(adapter, chunks)
    try:
        for decoded in stream:
            if isinstance(decoded, Partial):
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
        raise UnusableAnswer(f"the stream ended without a final image ({partials} partial image(s) arrived)")
    return answer


def _close(stream: Generator[Partial | Final, None, None], chunks: Iterator[bytes]) -> None:
    """Stop reading events, and close the body: its generator closes the connection, even early."""
    stream.close()
    closer = getattr(chunks, "close", None)
    if closer is not None:
        closer()


def _decoded(adapter: Adapter, chunks: Iterator[bytes]) -> Generator[Partial | Final, None, None]:
    """The adapter's reading of each event, base64 images already decoded into memory spools.

    The whole stream is capped by ``answer_max_bytes``, each event by what one image of
    ``image_max_bytes`` takes in base64, each image by ``image_max_bytes``.
    """
    limits = caps(adapter)
    max_event = limits["max_image_bytes"] * 4 // 3 + 1024 * 1024
    try:
        for event in events(capped(chunks, limits["max_bytes"]), max_event):
            if event.data.strip() in END_MARKERS:
                continue
            document = parse(
                _pieces(event.data),
                adapter.stream_b64_fields,
                MemorySpool,
                max_image_bytes=limits["max_image_bytes"],
            )
            decoded = adapter.decode_event(event.event, document)
            if isinstance(decoded, Failed):
                raise verdict(decoded.error, lead="the provider stopped the stream with an error")[0]
            if decoded is not None:
                yield decoded
    except InvalidImage as exc:
        raise UnusableAnswer(f"an event of the stream holds {exc}") from None
    except InvalidAnswer as exc:
        raise UnusableAnswer(f"an event of the stream is {exc}") from None
    except EventTooLarge as exc:
        raise UnusableAnswer(f"the stream is unusable: {exc}") from None


def _pieces(text: str) -> Iterator[bytes]:
    """``text`` as UTF-8, a piece at a time."""
    for start in range(0, len(text), PIECE):
        yield text[start : start + PIECE].encode("utf-8", "surrogatepass")


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
