"""Where decoded image bytes go while they arrive: a temp file beside the output, or memory.

A file spool keeps its handle open until the image is committed, so the bytes survive even if
the folder is removed meanwhile; on a write failure (disk full) it moves itself to a rescue
folder instead of dropping a paid image.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import STOP_SIGNALS, ImageNotSaved
from .sniff import HEAD_BYTES


def rescue_dir() -> Path:
    """Where images go that could not be written where asked: ``$XDG_STATE_HOME/imagegate/rescued``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "imagegate" / "rescued"


@contextlib.contextmanager
def signals_held(*, deliver: bool = True, on_signal: Callable[[], None] | None = None) -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM wait while a short step that must not be cut runs: a temp file made and
    recorded by its owner, images moved into place and named. Yields the signals noted meanwhile.

    Python runs signal handlers in the main thread, whichever thread the signal reached, so
    blocking the signals in one thread would not hold them: their handlers are swapped for one
    that notes them, and each one noted is raised again once the block ends, if it ended
    normally and ``deliver`` is true. (A block that raised is already ending the command; cleanup
    after an interruption passes ``deliver=False``, so a second Ctrl-C cannot cut it short.) In
    another thread this does nothing, and needs to do nothing: a handler never runs there.
    """
    caught: list[int] = []

    def note(signum: int, frame: object) -> None:
        if signum not in caught:
            caught.append(signum)
            if on_signal is not None:  # a step that may take a while says why the signal waits
                on_signal()

    previous: dict[int, Any] = {}
    try:
        for number in STOP_SIGNALS:
            if signal.getsignal(number) is not None:  # None: a handler Python cannot put back
                previous[number] = signal.signal(number, note)
    except ValueError:  # not the main thread
        pass
    try:
        yield caught
    except BaseException:
        deliver = False
        raise
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        for signum in caught if deliver else ():
            signal.raise_signal(signum)


class Spool:
    """Collects one image's bytes. Subclasses decide where they live."""

    def __init__(self) -> None:
        self.size = 0
        self._head = bytearray()
        self.complete = False  # set once the image's last byte is in (an interrupted one is not kept)

    @property
    def head(self) -> bytes:
        """The first bytes, enough to sniff the format."""
        return bytes(self._head)

    def write(self, data: bytes) -> None:
        if len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]
        self._write(data)
        self.size += len(data)

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def getvalue(self) -> bytes:
        """All bytes (reads a file spool back)."""
        raise NotImplementedError

    def discard(self) -> None:
        """Drop the bytes (used when the answer turns out unusable)."""


class MemorySpool(Spool):
    """Keeps the bytes in memory: for library calls that did not ask for files."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = io.BytesIO()

    def _write(self, data: bytes) -> None:
        self._buffer.write(data)

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


class DroppedSpool(Spool):
    """Reads an image the call did not ask for (beyond ``--n``) and keeps nothing of it but its head."""

    def _write(self, data: bytes) -> None:
        pass

    def getvalue(self) -> bytes:
        return b""


class FileSpool(Spool):
    """A hidden temp file in the output's own folder, so committing it is a rename."""

    def __init__(self, directory: Path, stem: str) -> None:
        super().__init__()
        self.directory = directory
        self.path, self._file = self._open(directory, stem)
        self.rescued = False

    @staticmethod
    def _open(directory: Path, stem: str) -> tuple[Path, BinaryIO]:
        # Like mkstemp, but with the mode an ordinary file gets (0666 less the umask). The name
        # keeps only the start of the stem, so it fits wherever the output's own name fits.
        for _ in range(100):
            path = directory / temp_name(stem)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            except FileExistsError:
                continue
            return path, os.fdopen(fd, "w+b")
        raise FileExistsError(f"no free temporary name in {directory}")

    def _write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError:
            try:
                self._relocate()
                self._file.write(data)
            except OSError as exc:
                self.discard()
                raise unsaved(exc) from None

    def _relocate(self) -> None:
        """Move what was written so far to the rescue folder and go on writing there."""
        target = rescue_dir()
        target.mkdir(parents=True, exist_ok=True)
        old_file, old_path = self._file, self.path
        try:
            self.path, self._file = self._open(target, "image")
            old_file.seek(0)
            shutil.copyfileobj(old_file, self._file)
        finally:
            with contextlib.suppress(OSError):
                old_file.close()
            unlink_quietly(old_path)  # the new spool (if any) is discarded by the caller on failure
        self.rescued = True

    def flush(self) -> None:
        """Push the bytes to the file (called before it is committed)."""
        self._file.flush()

    def copy_to(self, target: Path) -> None:
        """Write the bytes to ``target`` from the open handle (works even if the temp file is gone)."""
        self._file.flush()
        self._file.seek(0)
        with open(target, "xb") as out:
            shutil.copyfileobj(self._file, out)

    def getvalue(self) -> bytes:
        self._file.flush()
        self._file.seek(0)
        data = self._file.read()
        self._file.seek(0, os.SEEK_END)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()  # after a commit or rescue; a flush error was already reported

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()  # a failed flush (disk full) must not keep the file from going
        unlink_quietly(self.path)


#: How much of the output's stem a temporary name keeps (the rest of the name is 20 characters).
TEMP_STEM = 32


def temp_name(stem: str) -> str:
    """A hidden temporary name for an output: ``.kite.1a2b3c4d5e6f.part``, at most 51 characters."""
    return f".{stem[:TEMP_STEM]}.{secrets.token_hex(6)}.part"


def unsaved(exc: OSError) -> ImageNotSaved:
    """The error for an image that arrived but could be written neither beside the output nor rescued."""
    return ImageNotSaved(
        f"a paid image arrived but could not be saved anywhere ({exc.strerror or exc}, "
        f"also not in {rescue_dir()}); it is lost",
        hints=("Free some space (or raise the file size limit) before generating again.",),
    )


def unlink_quietly(path: Path) -> None:
    """Remove a file of ours if it is there; a file that cannot be removed is left."""
    with contextlib.suppress(OSError):
        path.unlink()
