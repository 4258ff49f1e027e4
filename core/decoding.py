"""Content decoding done by imagegate itself, so every piece it hands on is bounded.

A gzip or deflate body is inflated a bounded piece at a time (``zlib``'s ``max_length``): one
small compressed read can never become a huge block in memory, whatever the backend's version,
and the caller counts what came out. Only the codings imagegate asks for are accepted, at most
:data:`MAX_LAYERS` of them stacked.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from .reply import Unreadable

__all__ = ["MAX_LAYERS", "content_codings", "decoded"]

#: The most content codings one body may stack (``Content-Encoding: gzip, gzip``).
MAX_LAYERS = 2
_GZIP = 16 + zlib.MAX_WBITS


def content_codings(header: str) -> list[str]:
    """The codings a ``Content-Encoding`` header lists, in the order they were applied."""
    codings = [part.strip().lower() for part in header.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise Unreadable(f"its content coding {coding[:40]!r} is not one imagegate asked for")
    if len(codings) > MAX_LAYERS:
        raise Unreadable(f"it stacks {len(codings)} content codings (at most {MAX_LAYERS})")
    return codings


def decoded(chunks: Iterable[bytes], codings: list[str], piece: int) -> Iterator[bytes]:
    """``chunks`` with ``codings`` undone (the last applied first), in pieces of at most ``piece`` bytes."""
    stream: Iterable[bytes] = chunks
    for coding in reversed(codings):
        stream = _inflated(stream, coding, piece)
    return iter(stream)


def _inflated(chunks: Iterable[bytes], coding: str, piece: int) -> Iterator[bytes]:
    """One coding undone; a gzip body of several members is read whole, trailing garbage refused."""
    inflater = _Inflater(coding)
    for chunk in chunks:
        yield from inflater.feed(chunk, piece)
    yield from inflater.finish(piece)


class _Inflater:
    """A zlib decompressor that never returns more than ``piece`` bytes at a time."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.raw_deflate = False
        self.started = False
        self._zlib = self._new()

    def _new(self) -> zlib._Decompress:
        if self.coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self.raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(_GZIP)

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        while True:
            if self._zlib.eof:
                data = self._after_end(data)
                if not data:
                    return
            out = self._decompress(data, piece)
            data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < piece:  # all input used and nothing more pending
                return

    def _decompress(self, data: bytes, piece: int) -> bytes:
        try:
            out = self._zlib.decompress(data, piece)
        except zlib.error:
            if self.coding == "deflate" and not self.started and not self.raw_deflate:
                self.raw_deflate = True  # a server that sends raw deflate (no zlib header)
                self._zlib = self._new()
                return self._decompress(data, piece)
            raise Unreadable(f"its {self.coding} coding is corrupt") from None
        self.started = self.started or bool(data)
        return out

    def _after_end(self, data: bytes) -> bytes:
        """After the end of a stream: another gzip member; nothing else but padding may follow."""
        if not data.strip(b"\0\r\n \t"):
            return b""
        if self.coding == "deflate":
            raise Unreadable("its deflate coding has data after its end")
        self._zlib = self._new()
        return data

    def finish(self, piece: int) -> Iterator[bytes]:
        """The end of the body: a stream that was begun must have ended (else it was cut short)."""
        if self.started and not self._zlib.eof:
            raise Unreadable(f"its {self.coding} coding ends early (cut short)")
        return iter(())
