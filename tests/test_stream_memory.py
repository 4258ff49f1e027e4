"""A streamed image is decoded while its event arrives: memory stays near the image, not a multiple of it."""

from __future__ import annotations

import os
import tracemalloc

from imagegate import streaming
from imagegate.deadline import Deadline
from imagegate.spool import Spool

from .support.sse import completed_event, split
from .test_stage_boundaries import openai_adapter

IMAGE = 6 * 1024 * 1024


class Discarding(Spool):
    """Counts an image's bytes and keeps none, so only what the reader holds is measured."""

    def _write(self, data: bytes) -> None:
        pass

    def getvalue(self) -> bytes:
        return b""


def test_one_big_image_event_is_read_in_memory_near_the_image_size() -> None:
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE)
    chunks = split(completed_event(image), 64 * 1024)  # as the transport gives them
    spools: list[Discarding] = []

    def new_spool() -> Spool:
        spools.append(Discarding())
        return spools[-1]

    tracemalloc.start()
    try:
        answer = streaming.receive(
            openai_adapter(),
            iter(chunks),
            Deadline(30),
            new_spool,
            1,
            on_partial=lambda spool, seconds: None,
            on_failure=lambda error: None,
            notify=lambda text: None,
            warn=lambda text: None,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(answer.images) == 1 and spools[0].size == len(image)
    # The decoded image, held until it moves to the call's spool, and little else: the event's
    # 8 MiB of base64 text is never held whole (reading the event whole first peaked at 5.3 times).
    assert peak < 1.6 * len(image), f"peak {peak / 2**20:.1f} MiB for a {len(image) / 2**20:.1f} MiB image"
