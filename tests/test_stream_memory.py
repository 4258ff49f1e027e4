"""A streamed image is decoded while its event arrives: memory stays near the image, not a multiple of it."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable

from imagegate import streaming
from imagegate.adapter import Answer
from imagegate.deadline import Deadline
from imagegate.spool import MemorySpool, Spool

from .support.helpers import png
from .support.sse import completed_event, split
from .test_stage_boundaries import openai_adapter

IMAGE = 6 * 1024 * 1024


class Discarding(Spool):
    """Counts an image's bytes and keeps none, so only what the reader holds is measured."""

    def _write(self, data: bytes) -> None:
        pass

    def getvalue(self) -> bytes:
        return b""


def peak_while_receiving(
    chunks: list[bytes], new_spool: Callable[[], Spool], warnings: list[str] | None = None
) -> tuple[Answer, int]:
    """The answer ``streaming.receive`` reads from ``chunks``, and the peak memory it traced."""
    tracemalloc.start()
    try:
        answer = streaming.receive(
            openai_adapter(),
            iter(chunks),
            Deadline(60),
            new_spool,
            1,
            on_partial=lambda spool, seconds: None,
            on_failure=lambda error: None,
            notify=lambda text: None,
            warn=(warnings if warnings is not None else []).append,
        )
        return answer, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_one_big_image_event_is_read_in_memory_near_the_image_size() -> None:
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE)
    chunks = split(completed_event(image), 64 * 1024)  # as the transport gives them
    spools: list[Discarding] = []

    def new_spool() -> Spool:
        spools.append(Discarding())
        return spools[-1]

    answer, peak = peak_while_receiving(chunks, new_spool)
    assert len(answer.images) == 1 and spools[0].size == len(image)
    # The decoded image, held until it moves to the call's spool, and little else: the event's
    # 8 MiB of base64 text is never held whole (reading the event whole first peaked at 5.3 times).
    assert peak < 1.6 * len(image), f"peak {peak / 2**20:.1f} MiB for a {len(image) / 2**20:.1f} MiB image"


def test_skipped_events_are_counted_not_kept() -> None:
    chunks = [b"data:\n\n" * 1000] * 30  # 30,000 events that are not JSON, then a final image
    chunks.append(completed_event(png(3, 3)))
    warnings: list[str] = []
    _answer, peak = peak_while_receiving(chunks, MemorySpool, warnings)
    assert warnings and warnings[0].startswith("30000 event(s) of the stream could not be read")
    assert peak < 1024 * 1024, f"peak {peak} bytes"  # a reason kept per event took 3 MB
