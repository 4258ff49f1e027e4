"""Checks the input images and the mask before anything is sent: real files, real images, sizes.

Also :func:`check_path`, the test every path given by a user (a flag, a job, a manifest) passes
before it is used: a NUL, or a character the file system cannot encode (a lone surrogate, which
JSON allows), is refused with exit 2 instead of failing deep inside a call. The checks of the
options themselves are driven by the option table (``option_values.check``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UsageError
from .options import Options
from .sniff import ImageInfo, read_head, require_image

MAX_INPUT_BYTES = 50 * 1024 * 1024
#: How much of a refused path a message repeats.
SHOWN_PATH = 80


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why no file can have this name here (a NUL, a character the file system cannot encode), or None."""
    text = os.fspath(path)
    if "\0" in text:
        return "holds a NUL character, which no file name can"
    try:
        os.fsencode(text)  # what every open and stat does first
    except UnicodeEncodeError as exc:
        return f"holds {text[exc.start]!r}, a character the file system cannot encode"
    return None


def check_path(path: str | os.PathLike[str], what: str) -> None:
    """Refuse (UsageError, exit 2) a path no file can have, naming ``what`` gave it."""
    problem = path_problem(path)
    if problem is not None:
        text = os.fspath(path)
        shown = text if len(text) <= SHOWN_PATH else "..." + text[3 - SHOWN_PATH :]  # the name is at the end
        raise UsageError(f"{what} {shown!r} {problem}; nothing was sent")


def inspect_image(path: Path, flag: str = "--edit-image", limit: int = MAX_INPUT_BYTES) -> ImageInfo:
    """The facts of one input image, or a UsageError saying what is wrong with it."""
    check_path(path, flag)
    try:
        facts = path.stat()
        if stat.S_ISDIR(facts.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(facts.st_mode):
            raise UsageError(f"{flag} {path}: not a regular file (a pipe or device is never read)")
        size = facts.st_size
        head = read_head(path)
    except FileNotFoundError:
        raise UsageError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{flag} {path}: is a folder, not an image") from None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None
    info = require_image(head, f"{flag} {path}", UsageError)
    if size > limit:
        raise UsageError(f"{flag} {path}: {size / 1048576:.1f} MB, over the {limit // 1048576} MB limit")
    return info


def check_inputs(options: Options) -> tuple[list[ImageInfo], ImageInfo | None]:
    """Inspect every input image and the mask; returns their facts for content types and rules."""
    infos = [inspect_image(path) for path in options.images]
    mask = None
    if options.mask is not None:
        mask = inspect_image(options.mask, "--mask")
        if mask.format != "png":
            raise UsageError(f"--mask {options.mask}: must be a PNG (it is {mask.format.upper()})")
        first = infos[0]
        if None not in (mask.width, first.width) and (mask.width, mask.height) != (first.width, first.height):
            raise UsageError(
                f"--mask {options.mask}: {mask.width}x{mask.height}, but the first input image is "
                f"{first.width}x{first.height}; they must be the same size"
            )
    return infos, mask
