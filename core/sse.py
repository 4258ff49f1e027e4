"""Server-sent events, read as the HTML standard says, each event's data as it arrives.

Lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are
one line break); ``data`` lines are joined with newlines; a blank line ends an event; lines
starting with ``:`` are comments; an event without data is not given. One deliberate difference:
an event cut off by the end of the stream is still given (a gateway that closes without the
final blank line must not cost a paid image).

:func:`incoming` is what a streamed answer is read with: it gives each event as soon as its first
data line begins, and the event's data comes a piece at a time while the caller reads it, so an
image of tens of megabytes in one ``data:`` line is never held as text, let alone copied. (The
type, id and retry of an event are known once its data has been read to the end, since the
standard lets those fields come after the data.) :func:`events` gives whole events, for callers
whose events are small.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: A cap on one event's size, so a stream that never ends an event cannot fill memory. A streamed
#: call's own cap follows its ``image_max_bytes`` (an event holds at most one image, in base64).
MAX_EVENT_BYTES = 256 * 1024 * 1024
#: What one line costs besides its characters and line break, so a stream of empty lines counts
#: against the cap as the work it makes.
LINE_COST = 8
#: The longest field name the standard knows (``retry``): a longer one is skipped unread.
_LONGEST_FIELD = len("retry")
_BREAKS = re.compile("\n*")
#: The longest ``event``, ``id`` or ``retry`` value read: they are names and numbers, held whole.
FIELD_LIMIT = 64 * 1024


class EventTooLarge(ValueError):
    """One event grew past the size limit without ending."""


@dataclass(frozen=True)
class Event:
    """One whole event: its type (``None`` when the stream gave none), data, id and retry."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


def events(chunks: Iterable[bytes], max_event: int = MAX_EVENT_BYTES) -> Iterator[Event]:
    """The events of a byte stream (UTF-8, invalid bytes replaced), each whole, as soon as it ends."""
    for event in incoming(chunks, max_event):
        data = "".join(event)
        yield Event(event.event, data, event.id, event.retry)


def incoming(chunks: Iterable[bytes], max_event: int = MAX_EVENT_BYTES) -> Iterator[Incoming]:
    """The events of a byte stream, each as soon as its data begins (see :class:`Incoming`).

    What the caller leaves unread of an event is skipped before the next one is given.
    """
    reader = _Reader(chunks, max_event)
    while (start := reader.next_data()) is not None:
        event = Incoming(reader, *start)
        yield event
        for _ in event:
            pass


class Incoming:
    """An event whose data is still arriving: iterate it for the data's text, a piece at a time.

    ``event``, ``id`` and ``retry`` are the event's own once its data has been read to the end
    (``whole`` is then true). :meth:`start` looks at the beginning without losing it.
    """

    def __init__(self, reader: _Reader, first: str, line_ended: bool) -> None:
        self.event: str | None = None
        self.id: str | None = None
        self.retry: int | None = None
        self.whole = False
        self._reader = reader
        self._held: list[str] = []
        self._pieces = self._data(first, line_ended)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._held:
            return self._held.pop(0)
        return next(self._pieces)

    def start(self, size: int) -> str:
        """The data's first ``size`` characters or more (all of it when shorter).

        Iterating the event gives them again.
        """
        held = sum(map(len, self._held))
        for piece in self._pieces:
            self._held.append(piece)
            held += len(piece)
            if held >= size:
                break
        return "".join(self._held)

    def _data(self, first: str, line_ended: bool) -> Iterator[str]:
        """The pieces of each data line, with a newline between lines, up to the event's end."""
        reader = self._reader
        while True:
            if first:
                yield first
            while not line_ended:
                got = reader.piece()
                if got is None:
                    break
                piece, line_ended = got
                if piece:
                    yield piece
            following = reader.next_data(within_event=True)
            if following is None:
                break
            yield "\n"
            first, line_ended = following
        self.event, self.id, self.retry = reader.event, reader.last_id, reader.retry
        self.whole = True
        reader.end_event()


class _Lines:
    """The stream's text a piece at a time, every line break made LF (even a CRLF split between chunks)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._pos = 0
        self._after_cr = False
        self._started = False
        self._done = False

    def piece(self) -> tuple[str, bool] | None:
        """The next piece of the current line and whether the line ends with it; None at the stream's end."""
        while self._pos >= len(self._text):
            if not self._refill():
                return None
        end = self._text.find("\n", self._pos)
        if end < 0:
            piece, self._pos = self._text[self._pos :], len(self._text)
            return piece, False
        piece, self._pos = self._text[self._pos : end], end + 1
        return piece, True

    def skip_breaks(self) -> bool:
        """Consume the line breaks at the current position (a run of blank lines, at a line's start)."""
        skipped = False
        while True:
            while self._pos >= len(self._text):
                if not self._refill():
                    return skipped
            end = _BREAKS.match(self._text, self._pos).end()  # type: ignore[union-attr]
            skipped = skipped or end > self._pos
            self._pos = end
            if end < len(self._text):
                return skipped

    def _refill(self) -> bool:
        if self._done:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self._done = True
            text = self._decoder.decode(b"", final=True)
        else:
            text = self._decoder.decode(chunk)
        if not text:
            return True
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = text.endswith("\r")
        self._text, self._pos = text.replace("\r\n", "\n").replace("\r", "\n"), 0
        return True


class _Reader:
    """Reads fields line by line, keeping the state the standard gives a stream and an event."""

    def __init__(self, chunks: Iterable[bytes], max_event: int) -> None:
        self.lines = _Lines(chunks)
        self.max_event = max_event
        self.size = 0  # what the current event has cost so far
        self.event: str | None = None
        self.retry: int | None = None
        self.last_id: str | None = None  # the standard's last event id: it carries over events

    def piece(self) -> tuple[str, bool] | None:
        """The next piece of the line (None at the end of the stream), counted against the cap."""
        got = self.lines.piece()
        if got is not None:
            self.size += len(got[0]) + (1 + LINE_COST if got[1] else 0)
            if self.size > self.max_event:
                raise EventTooLarge(f"an event is larger than {self.max_event} bytes")
        return got

    def end_event(self) -> None:
        self.event, self.retry, self.size = None, None, 0

    def next_data(self, within_event: bool = False) -> tuple[str, bool] | None:
        """Read lines up to the next data line: the start of its value, and whether the line ended.

        None at the end of the stream, and also (``within_event``) at the blank line that ends the
        event being read. Other fields are applied as they go by; comments and unknown fields are
        skipped.
        """
        while True:
            if not within_event and self.lines.skip_breaks():
                self.end_event()  # blank lines between events: no event without data is given
            line = self._field()
            if line is None:
                return None
            name, value, ended = line
            if not name and not value and ended:  # a blank line
                if within_event:
                    return None
                self.end_event()  # an event without data is not given
            elif name == "data":
                if value or ended:
                    return value.removeprefix(" "), ended
                got = self.piece()  # "data:" ended a piece: its space may start the next one
                return (got[0].removeprefix(" "), got[1]) if got is not None else ("", True)
            elif name in ("event", "id", "retry"):
                self._apply(name, self._rest(name, value, ended).removeprefix(" "))
            elif not ended:
                self._skip_line()

    def _field(self) -> tuple[str, str, bool] | None:
        """The next line's field name, the start of its value (after the colon) and whether it ended.

        Comments, and lines whose name is too long to be a field the standard knows, come back
        with the name ``"?"`` and the rest of the line unread.
        """
        head = ""
        while True:
            got = self.piece()
            if got is None:
                return None if not head else self._split(head, True)
            piece, ended = got
            head += piece
            if ":" in head or ended:
                return self._split(head, ended)
            if len(head) > _LONGEST_FIELD:
                return "?", "", False

    @staticmethod
    def _split(head: str, ended: bool) -> tuple[str, str, bool]:
        if head.startswith(":"):
            return "?", "", ended  # a comment
        name, _colon, value = head.partition(":")
        return name, value, ended

    def _rest(self, name: str, value: str, ended: bool) -> str:
        """The whole value of a field line whose start is ``value``, at most :data:`FIELD_LIMIT` long."""
        parts, size = [value], len(value)
        while not ended:
            got = self.piece()
            if got is None:
                break
            parts.append(got[0])
            size, ended = size + len(got[0]), got[1]
            if size > FIELD_LIMIT:
                raise EventTooLarge(f"an event's {name} field is longer than {FIELD_LIMIT} characters")
        return "".join(parts)

    def _skip_line(self) -> None:
        ended = False
        while not ended:
            got = self.piece()
            if got is None:
                return
            ended = got[1]

    def _apply(self, name: str, value: str) -> None:
        if name == "event":
            self.event = value or None
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 12:
            self.retry = int(value)  # milliseconds; a longer number is no delay anyone means
