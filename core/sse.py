"""Parses a server-sent events stream (text/event-stream) incrementally, as the HTML standard says.

Lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are
one line break); ``data`` lines are joined with newlines; a blank line ends an event; lines
starting with ``:`` are comments; an event without data is not dispatched. One deliberate
difference: an event cut off by the end of the stream is still given (see :meth:`Parser.close`).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: A cap on one event's size, so a stream that never ends an event cannot fill memory.
MAX_EVENT_BYTES = 256 * 1024 * 1024


class EventTooLarge(ValueError):
    """One event grew past the size limit without ending."""


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (``None`` when the stream gave none), data, id and retry."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class Parser:
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
            self._size += len(value) + 1
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
    parser = Parser(max_event)
    for chunk in chunks:
        yield from parser.feed(decoder.decode(chunk))
    yield from parser.feed(decoder.decode(b"", final=True))
    yield from parser.close()
