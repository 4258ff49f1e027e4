"""A streamed call: reads the server-sent events, saves each partial preview beside the output as it
arrives (``NAME.partial-1.png`` ...), and hands the final image(s) back to the dispatcher, which
commits them like any other answer.

What an event means is the adapter's business (``decode_event``); base64 images inside an event
(at the adapter's ``stream_b64_fields``) are decoded by the core before the adapter sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from . import sse
from .adapter import Adapter, Answer, Failed, Final, ImageRef, Partial
from .errors import ImagegateError, UnusableAnswer, UsageError
from .http import verdict
from .jsonstream import InvalidAnswer, parse
from .output import OutputPlan
from .spool import MemorySpool, Spool

if TYPE_CHECKING:
    from .deadline import Deadline

Notify = Callable[[str], None]
#: Markers some gateways send after the last event; they carry nothing.
END_MARKERS = ("[DONE]",)


def is_event_stream(headers: dict[str, str]) -> bool:
    """Whether an answer is server-sent events (a gateway may answer a streamed call with plain JSON)."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


def partial_path(first: Path, number: int) -> Path:
    """``out.png`` -> ``out.partial-1.png``: where the ``number``-th (1-based) preview goes."""
    return first.with_name(f"{first.stem}.partial-{number}{first.suffix}")


class Partials:
    """Saves partial previews beside the output, atomically and never over an existing file."""

    def __init__(self, plan: OutputPlan | None, expected: int, notify: Notify) -> None:
        self.plan = plan
        self.expected = expected
        self.notify = notify
        self.saved: list[Path] = []
        self.received = 0
        self.warnings: list[str] = []

    def preflight(self) -> None:
        """Refuse, before the call, preview names that exist (unless --force)."""
        if self.plan is None or self.plan.force:
            return
        for number in range(1, self.expected + 1):
            path = partial_path(self.plan.first, number)
            if path.exists() or path.is_symlink():
                raise UsageError(
                    f"partial image {path} already exists; nothing was sent",
                    hints=("Choose another --out, or add --force to overwrite it.",),
                )

    def save(self, spool: Spool, seconds: float) -> None:
        """Write one preview (when the call writes files) and say so on stderr."""
        self.received += 1
        if self.plan is None:
            self.notify(f"partial image {self.received} received ({seconds:.1f} s)")
            return
        target = OutputPlan(partial_path(self.plan.first, self.received), 1, self.plan.force)
        file_spool = None
        try:
            file_spool = target.new_spool(0)
            file_spool.write(spool.getvalue())
            path, _info = target.commit(file_spool, 0)
        except (ImagegateError, OSError) as exc:
            self.warnings.append(f"partial image {self.received} was not saved: {exc}")
            return
        except BaseException:  # Ctrl-C or SIGTERM: no temp file may remain
            if file_spool is not None:
                file_spool.discard()
            raise
        self.warnings += target.warnings
        self.saved.append(path)
        self.notify(f"partial image {self.received} saved: {path} ({seconds:.1f} s)")


def receive(
    adapter: Adapter,
    chunks: Iterator[bytes],
    deadline: Deadline,
    new_spool: Callable[[], Spool],
    partials: Partials,
    expected: int,
) -> Answer:
    """Read events until ``expected`` final images have arrived (or the stream ends)."""
    images: list[ImageRef] = []
    answer = Answer(images)
    stream = _decoded(adapter, chunks)
    try:
        for decoded in stream:
            if isinstance(decoded, Partial):
                partials.save(decoded.ref.data, deadline.elapsed())
            elif isinstance(decoded, Final):
                _collect(decoded.answer, answer, new_spool)
                partials.notify(f"image {len(images)} of {expected} received ({deadline.elapsed():.1f} s)")
                if len(images) >= expected:
                    break
    except ImagegateError as exc:
        if not images:
            if partials.saved:
                exc.hints = (
                    *exc.hints,
                    f"Partial previews were saved: {', '.join(map(str, partials.saved))}",
                )
            raise
        partials.warnings.append(f"the stream failed after {len(images)} of {expected} image(s): {exc}")
    finally:
        stream.close()
        closer = getattr(chunks, "close", None)
        if closer is not None:
            closer()  # the body's generator closes the connection, even when we stopped early
    if not images:
        raise UnusableAnswer(
            f"the stream ended without a final image ({partials.received} partial image(s) arrived)"
        )
    return answer


def _decoded(adapter: Adapter, chunks: Iterator[bytes]) -> Generator[Partial | Final, None, None]:
    """The adapter's reading of each event, base64 images already decoded into memory spools."""
    try:
        for event in sse.events(chunks):
            if event.data.strip() in END_MARKERS:
                continue
            document = parse([event.data.encode("utf-8")], adapter.stream_b64_fields, MemorySpool)
            decoded = adapter.decode_event(event.event, document)
            if isinstance(decoded, Failed):
                raise verdict(decoded.error, lead="the provider stopped the stream with an error")[0]
            if decoded is not None:
                yield decoded
    except InvalidAnswer as exc:
        raise UnusableAnswer(f"an event of the stream is {exc}") from None
    except sse.EventTooLarge as exc:
        raise UnusableAnswer(f"the stream is unusable: {exc}") from None


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
