"""What a call keeps: its spools (every image that arrived whole was paid for, so it is saved
whatever stops the call) and its partial previews, written beside the output through an
:class:`~.output.OutputPlan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ImagegateError, ImageNotSaved, Interrupted, UnusableAnswer, UsageError
from .output import OutputPlan, check_name_fits
from .result import Image
from .sniff import require_image, sniff
from .spool import DroppedSpool, MemorySpool, Spool, signals_held

if TYPE_CHECKING:
    from .adapter import Answer
    from .progress import Notify

# -- what a call keeps ------------------------------------------------------------------------------


class Spools:
    """The spools of one call: temp files beside the output (or memory), discarded if unfinished.

    Images arrive one after another, so starting a spool means the one before it is complete.
    What arrived whole was paid for, so it is kept whatever stops the call (another image's
    failure, Ctrl-C, SIGTERM); the error raised names where it went.
    """

    def __init__(self, plan: OutputPlan | None, limit: int | None = None) -> None:
        self.plan = plan
        self.made: list[Spool] = []
        #: At most this many images are kept (``--n``): the call declared only their names.
        self.limit = limit if limit is not None else (plan.count if plan is not None else None)
        self.dropped = 0
        self.warnings: list[str] = []
        #: The images :meth:`keep_after` saved from a call that failed or was stopped (paid for).
        self.kept: list[Image] = []

    @property
    def full(self) -> bool:
        """Whether every image the call asked for has its spool: any further one is not kept.

        A finished spool that holds nothing (an empty image string, which counts as absent) takes
        no place.
        """
        taken = [s for s in self.made if not isinstance(s, DroppedSpool) and (s.size or not s.complete)]
        return self.limit is not None and len(taken) >= self.limit

    def new(self) -> Spool:
        """A spool for the next image of the answer; past ``limit``, one that keeps nothing."""
        self.finish()
        if self.full:
            self.drop()
            spool: Spool = DroppedSpool()
        else:
            with signals_held():  # the temp file is made and recorded before any interruption
                index = len(self.made) - self.dropped
                spool = self.plan.new_spool(index) if self.plan is not None else MemorySpool()
                self.made.append(spool)
            return spool
        self.made.append(spool)
        return spool

    def drop(self) -> None:
        """Count one image the provider sent beyond what was asked (it is read, not written)."""
        self.dropped += 1
        message = (
            f"the provider sent more images than the {self.limit} asked for; "
            f"{self.dropped} more {'was' if self.dropped == 1 else 'were'} not saved"
        )
        self.warnings[:] = [message]

    def finish(self) -> None:
        """Mark every spool so far complete (the answer was read to its end, or a next image began)."""
        for spool in self.made:
            spool.complete = True

    def finished(self) -> list[Spool]:
        """The complete spools that hold an image with a readable header: worth keeping after a failure."""
        return [
            spool
            for spool in self.made
            if spool.complete and not isinstance(spool, DroppedSpool) and _readable(spool.head)
        ]

    def discard(self) -> None:
        """Remove every spool not committed (a no-op for those already in place)."""
        for spool in self.made:
            spool.discard()

    def keep(self, answer: Answer) -> list[Image]:
        """Save (or keep in memory) every image of the answer; the first problem is raised naming the rest."""
        images, problems = _keep(_arrived(answer), self.plan)
        if problems:
            raise _with_kept(problems[0], images, problems[1:])
        return images

    def keep_after(self, error: BaseException) -> ImagegateError | Interrupted:
        """Save every image that arrived whole before ``error``; the error to raise, naming them.

        Ctrl-C (or SIGTERM) comes back as :class:`Interrupted`, which carries the same hints. A
        further Ctrl-C while the images are being saved waits for it and is then dropped: the
        command is already ending.
        """
        with signals_held(deliver=False):
            kept, others = _keep(self.finished(), self.plan)
            self.kept = kept
            return _with_kept(error, kept, others)

    def discard_after(self, failed: bool) -> None:
        """:meth:`discard` at the end of a call; after a failure no second Ctrl-C may cut it short."""
        with signals_held(deliver=not failed):
            self.discard()


def _readable(head: bytes) -> bool:
    info = sniff(head)
    return info is not None and info.width is not None


def _arrived(answer: Answer) -> list[Spool]:
    """The spools of images that arrived whole (decoded, or downloaded to the end), in order."""
    return [
        ref.data
        for ref in answer.images
        if isinstance(ref.data, Spool) and not isinstance(ref.data, DroppedSpool)
    ]


def _keep(spools: list[Spool], plan: OutputPlan | None) -> tuple[list[Image], list[ImagegateError]]:
    """Save (or keep in memory) every real image; report the others without losing the good ones.

    Each real image takes the next name (``out.png``, ``out-2.png``), also one that had to be rescued.
    """
    images: list[Image] = []
    problems: list[ImagegateError] = []
    slot = 0
    for position, spool in enumerate(spools, start=1):
        try:
            info = require_image(spool.head, f"image {position} in the answer", UnusableAnswer)
        except UnusableAnswer as exc:
            spool.discard()
            problems.append(exc)
            continue
        slot += 1
        if plan is None:
            images.append(Image(info, spool.size, None, spool))
            continue
        try:
            path, info = plan.commit(spool, slot - 1, info)  # type: ignore[arg-type]
        except ImageNotSaved as exc:
            problems.append(exc)  # the image was rescued elsewhere: the error says where
        else:
            images.append(Image(info, spool.size, path))
    return images, problems


def _with_kept(
    error: BaseException, kept: list[Image], others: list[ImagegateError] | tuple = ()
) -> ImagegateError | Interrupted:
    """The error, with hints naming the images that were saved anyway and any further problems."""
    if not isinstance(error, (ImagegateError, Interrupted)):
        error = Interrupted()
    for other in others:
        error.add_hint(f"also: {other.message}")
    _name_saved(error, [image.path for image in kept if image.path is not None])
    return error


def named_interruption(interruption: KeyboardInterrupt, saved: list[Path]) -> Interrupted:
    """Ctrl-C or SIGTERM that came once these images were saved (it waited for them), naming them."""
    error = interruption if isinstance(interruption, Interrupted) else Interrupted()
    _name_saved(error, saved)
    return error


def _name_saved(error: ImagegateError | Interrupted, saved: list[Path]) -> None:
    if saved:
        error.add_hint(f"The images that did arrive were saved: {', '.join(map(str, saved))}")


# -- partial previews -------------------------------------------------------------------------------


def partial_path(first: Path, number: int) -> Path:
    """``out.png`` -> ``out.partial-1.png``: where the ``number``-th (1-based) preview goes."""
    return first.with_name(f"{first.stem}.partial-{number}{first.suffix}")


_EXTRA_PREVIEWS = "the provider sent more partial images than the"


class Previews:
    """Saves a streamed call's partial previews beside the output, atomically, never over a file."""

    def __init__(self, plan: OutputPlan | None, expected: int, notify: Notify) -> None:
        self.plan = plan
        self.expected = expected
        self.notify = notify
        self.saved: list[Path] = []
        self.received = 0
        self.warnings: list[str] = []

    def preflight(self) -> None:
        """Refuse, before the call, preview names that exist (unless --force) or do not fit."""
        if self.plan is None:
            return
        for number in range(1, self.expected + 1):
            path = partial_path(self.plan.first, number)
            check_name_fits(path)
            if not self.plan.force and (path.exists() or path.is_symlink()):
                raise UsageError(
                    f"partial image {path} already exists; nothing was sent",
                    hints=("Choose another --out, or add --force to overwrite it.",),
                )

    def save(self, spool: Spool, seconds: float) -> None:
        """Write one preview (when the call writes files) and say so on stderr.

        At most ``expected`` (``--partial-images``) are written, under the names the call
        declared; the provider's further previews are counted, not written.
        """
        self.received += 1
        if self.received > self.expected:
            extra = self.received - self.expected
            self.warnings[:] = [w for w in self.warnings if not w.startswith(_EXTRA_PREVIEWS)]
            self.warnings.append(f"{_EXTRA_PREVIEWS} {self.expected} asked for: {extra} not saved")
            return
        if self.plan is None:
            self.notify(f"partial image {self.received} received ({seconds:.1f} s)")
            return
        target = OutputPlan(partial_path(self.plan.first, self.received), 1, self.plan.force)
        file_spool = None
        try:
            with signals_held():  # made and recorded here before any interruption
                file_spool = target.new_spool(0)
            file_spool.write(spool.getvalue())
            with signals_held():  # moved into place and recorded as one step: a saved preview is named
                path, _info = target.commit(file_spool, 0)
                self.saved.append(path)
        except (ImagegateError, OSError) as exc:
            self.warnings.append(f"partial image {self.received} was not saved: {exc}")
            return
        except BaseException:  # Ctrl-C or SIGTERM: no temp file may remain
            if file_spool is not None:
                file_spool.discard()
            raise
        self.warnings += target.warnings
        self.notify(f"partial image {self.received} saved: {path} ({seconds:.1f} s)")

    def name_in(self, error: ImagegateError) -> None:
        """Tell a failed call's user where its previews went (they are kept)."""
        if self.saved:
            error.add_hint(f"Partial previews were saved: {', '.join(map(str, self.saved))}")
