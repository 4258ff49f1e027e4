"""Output file names, the checks made before a paid call, atomic no-clobber commits and the rescue
of an image that cannot be placed: the only place image files are written (``keep.py`` decides
what a call keeps and hands it here).

Names are those the ``gpt-image-2-apikey`` script (which this tool replaces) gave: the first
image at ``--out``, further ones with ``-2``, ``-3`` before the extension; no ``--out`` means a
timestamped file in the current folder. Files appear only complete (written to a temp file in the
same folder, then linked or renamed into place), and an existing file is replaced only with
``--force``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ImageNotSaved, UnusableAnswer, UsageError
from .inputs import check_path
from .secret import own
from .sniff import EXTENSIONS, FORMAT_OF_EXTENSION, ImageInfo, require_image
from .spool import FileSpool, rescue_dir, unlink_quietly, unsaved


class OutputExists(UsageError):
    """Exit 2: an output file is already there and --force was not given; nothing was sent."""

    def __init__(
        self, path: Path, hint: str = "Choose another --out, or add --force to overwrite it."
    ) -> None:
        super().__init__(f"output {path} already exists; nothing was sent", hints=(hint,))
        self.path = path


def numbered(path: Path, index: int) -> Path:
    """The path of the ``index``-th image (0-based): ``out.png``, ``out-2.png``, ``out-3.png``..."""
    if index == 0:
        return path
    return path.with_name(f"{path.stem}-{index + 1}{path.suffix}")


def base_path(
    out: str | os.PathLike[str] | None, output_format: str, now: float | None = None, count: int = 1
) -> Path:
    """The first image's path: ``--out`` (with the format's extension added if it has none).

    Without ``--out`` (or with a folder) the name is timestamped; two calls within one second get
    ``_1``, ``_2``... rather than a refusal, since nobody chose that name.
    """
    if out is None or str(out) == "":
        return _own(_timestamped(Path.cwd(), output_format, now, count))
    check_path(out, "--out")  # a NUL, a lone surrogate: no file system takes it; refused before paying
    path = Path(out).expanduser().absolute()
    if str(out).endswith(("/", os.sep)) or _is_dir(path):
        return _own(_timestamped(path, output_format, now, count))
    if not path.suffix:
        path = path.with_name(path.name + EXTENSIONS.get(output_format, f".{output_format}"))
    return _own(path)


def _own(path: Path) -> Path:
    """``path`` and its folder, registered as imagegate's own: messages and stdout show them as they are."""
    own(path.parent)
    own(path)
    return path


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; a name the system cannot even look up (too long) is none."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _timestamped(folder: Path, output_format: str, now: float | None, count: int) -> Path:
    extension = EXTENSIONS.get(output_format, f".{output_format}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    for attempt in range(1000):
        first = folder / f"imagegate-{stamp}{f'_{attempt}' if attempt else ''}{extension}"
        if not any(numbered(first, index).exists() for index in range(count)):
            return first
    return first  # the preflight will say it exists


@dataclass
class OutputPlan:
    """Where the images of one call go, decided and checked before anything is paid for."""

    first: Path
    count: int
    force: bool = False
    warnings: list[str] = field(default_factory=list)

    def path_for(self, index: int) -> Path:
        return numbered(self.first, index)

    def preflight(self) -> None:
        """Refuse, before any request, outputs that exist (without --force) or cannot be written.

        Every name the call may write must fit the folder, also with a changed extension and the
        ``.N`` a name taken meanwhile gets: a paid image must never meet a name too long to write.
        """
        parent = self.first.parent
        _ensure_writable_dir(parent)
        for index in range(self.count):
            path = self.path_for(index)
            check_name_fits(path)
            try:
                if path.is_dir():
                    raise UsageError(f"output {path} is a folder; give a file name with --out")
                exists = path.exists() or path.is_symlink()
            except OSError as exc:
                raise UsageError(
                    f"cannot use output {path}: {exc.strerror or exc}; nothing was sent"
                ) from None
            if exists and not self.force:
                raise OutputExists(path)

    def new_spool(self, index: int) -> FileSpool:
        """A temp file for the ``index``-th image, in the folder it will end up in."""
        target = self.path_for(index)
        try:
            return FileSpool(target.parent, target.stem)
        except OSError:
            pass
        # The folder vanished or filled up after the preflight: keep the paid image anyway.
        try:
            directory = rescue_dir()
            directory.mkdir(parents=True, exist_ok=True)
            spool = FileSpool(directory, target.stem)
        except OSError as exc:
            raise unsaved(exc) from None
        spool.rescued = True
        return spool

    def commit(self, spool: FileSpool, index: int, info: ImageInfo | None = None) -> tuple[Path, ImageInfo]:
        """Move a finished spool into place; the extension follows the image's real format.

        ``info`` is the spool's already checked facts; without it the spool is checked here.
        """
        if info is None:
            try:
                info = require_image(spool.head, f"image {index + 1} in the answer", UnusableAnswer)
            except UnusableAnswer:
                spool.discard()
                raise
        wanted = self.path_for(index)
        target = _matching_extension(wanted, info)
        if target != wanted:
            self.warnings.append(
                f"the provider sent {info.format.upper()} for {wanted.name}; saved as {target.name}"
            )
        try:
            spool.flush()
            written = self._place(spool, target, overwrite=self.force and target == wanted)
        except OSError as exc:
            raise _rescued_error(spool, target, exc) from None
        finally:
            spool.close()
        own(written)
        if written != target:
            self.warnings.append(f"{target.name} appeared meanwhile; this image was saved as {written.name}")
        return written, info

    def _place(self, spool: FileSpool, target: Path, *, overwrite: bool) -> Path:
        if spool.rescued:
            raise OSError(errno.EIO, "the output folder failed while the image was arriving")
        if overwrite:
            os.replace(spool.path, target)
            return target
        for candidate in _alternatives(target):
            try:
                _link_exclusive(spool.path, candidate)
            except FileExistsError:
                continue
            unlink_quietly(spool.path)
            return candidate
        raise OSError(errno.EEXIST, "no free file name")


#: The most a name may grow when it is written: a changed extension (``.png`` -> ``.webp``) and the
#: ``.999`` a name taken meanwhile gets.
NAME_GROWTH = len(".webp") - len(".png") + len(".999")
#: Rescued images keep at most this much of their name (the rescue folder may be on another file
#: system, with shorter names): a long name is cut and given a short hash, so it always fits.
RESCUE_NAME_BYTES = 100


def check_name_fits(path: Path, growth: int = NAME_GROWTH) -> None:
    """Refuse (exit 2, before anything is sent) a name its folder cannot hold once it has grown."""
    limit = _name_max(path.parent)
    need = len(os.fsencode(path.name)) + growth
    if need > limit:
        raise UsageError(
            f"output name {path.name[:40]}... is too long for {path.parent}: it takes "
            f"{need - growth} bytes, and names there may have {limit} (imagegate needs {growth} more "
            "for a changed extension or a numbered copy); nothing was sent",
            hints=("Choose a shorter --out.",),
        )


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # not POSIX, or the folder does not say
        return 255


def rescue_name(name: str) -> str:
    """``name``, cut to fit any rescue folder: ``<start>-<8 hex>.png`` when it is long."""
    if len(os.fsencode(name)) <= RESCUE_NAME_BYTES:
        return name
    path = Path(name)
    suffix = path.suffix if len(path.suffix) <= 8 else ""
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    stem = path.stem if suffix else name
    while len(os.fsencode(f"{stem}-{digest}{suffix}")) > RESCUE_NAME_BYTES:
        stem = stem[: len(stem) * 3 // 4]
    return f"{stem}-{digest}{suffix}"


def _ensure_writable_dir(directory: Path) -> None:
    """Refuse, before any request, a folder that cannot be made or written, saying what blocks it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"cannot write into {directory}: it is a file, not a folder") from None
    except OSError as exc:
        raise _unwritable(f"cannot create output folder {directory}", exc) from None
    try:  # os.access alone misses some sandboxes: make (and at once drop) a nameless file there
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise _unwritable(f"cannot write into {directory}", exc) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _unwritable(f"cannot write into {directory}", OSError(errno.EACCES, "permission denied"))


#: Why a folder cannot be written, for the errors that say more than their strerror.
_DENIED = "permission denied (the folder's permissions, or a sandbox that allows writing only elsewhere)"
_BLOCKED = {
    errno.EROFS: "the file system is read-only (a read-only sandbox or mount?)",
    errno.EACCES: _DENIED,
    errno.EPERM: _DENIED,
}


def _unwritable(what: str, exc: OSError) -> UsageError:
    """``what``: the reason (read-only, permission denied and their likely cause); nothing was sent."""
    reason = _BLOCKED.get(exc.errno or 0)
    if reason is None:
        return UsageError(f"{what}: {exc.strerror or exc}; nothing was sent")
    hint = "Save into a folder this command may write (inside a sandbox, usually the workspace)."
    if exc.errno == errno.EROFS:
        hint += " Where nothing is writable, the command must run outside the sandbox."
    return UsageError(f"{what}: {reason}; nothing was sent", hints=(hint,))


def _matching_extension(path: Path, info: ImageInfo) -> Path:
    if FORMAT_OF_EXTENSION.get(path.suffix.lower()) == info.format:
        return path
    return path.with_suffix(EXTENSIONS[info.format])


def _alternatives(target: Path, limit: int = 1000):
    yield target
    for k in range(1, limit):
        yield target.with_name(f"{target.stem}.{k}{target.suffix}")


def _link_exclusive(source: Path, target: Path) -> None:
    """Create ``target`` with ``source``'s content, failing with FileExistsError if it exists."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # No hard links here (some network or FUSE file systems): reserve the name, then replace.
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        os.replace(source, target)


def _rescued_error(spool: FileSpool, target: Path, exc: OSError) -> ImageNotSaved:
    """Save the image in the rescue folder and say where; if even that fails, say so plainly."""
    reason = exc.strerror or str(exc)
    own(target)
    own(rescue_dir())
    try:
        rescued = _rescue(spool, target)
        own(rescued)
    except OSError as second:
        return ImageNotSaved(
            f"could not write {target} ({reason}), nor save the paid image in {rescue_dir()} "
            f"({second.strerror or second}); it is lost",
            hints=("Free some space or fix the folder before generating again.",),
        )
    return ImageNotSaved(
        f"could not write {target} ({reason}); the paid image was saved to {rescued}",
        hints=("Move it where you need it; nothing needs to be generated again.",),
    )


def _rescue(spool: FileSpool, target: Path) -> Path:
    directory = rescue_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for candidate in _alternatives(directory / rescue_name(target.name)):
        try:
            spool.copy_to(candidate)
        except FileExistsError:
            continue
        unlink_quietly(spool.path)
        return candidate
    raise OSError(errno.EEXIST, "no free rescue file name")
