"""Checks what the user gave before anything is sent: prompt, counts, sizes and input images."""

from __future__ import annotations

import math
import re
import stat
from pathlib import Path

from .errors import UsageError
from .options import FORMATS, Options
from .sniff import ImageInfo, read_head, require_image

MAX_INPUT_IMAGES = 16
MAX_INPUT_BYTES = 50 * 1024 * 1024
MAX_N = 10
MAX_RETRIES = 10
#: The longest --timeout: a day (a longer, infinite or NaN one cannot be armed as a timer).
MAX_TIMEOUT = 86400.0
SIZE_PATTERN = re.compile(r"auto|[1-9][0-9]{0,5}x[1-9][0-9]{0,5}")  # matched whole (fullmatch)


def check_options(options: Options) -> None:
    """Provider-neutral checks on the options themselves."""
    if not options.prompt or not options.prompt.strip():
        raise UsageError("the prompt is empty; give --prompt or --prompt-file")
    if not is_utf8(options.prompt):
        raise UsageError("the prompt is not valid UTF-8 text (check the terminal's or file's encoding)")
    if isinstance(options.n, bool) or not isinstance(options.n, int) or not 1 <= options.n <= MAX_N:
        raise UsageError(f"--n {options.n}: must be a whole number from 1 to {MAX_N}")
    if options.size is not None and not SIZE_PATTERN.fullmatch(options.size):
        shown = f" {options.size}" if len(options.size) <= 24 and options.size.isprintable() else ""
        raise UsageError(f"--size{shown}: must be WIDTHxHEIGHT (for example 1024x1024) or auto")
    if options.output_format not in FORMATS:
        raise UsageError(f"--format {options.output_format}: must be one of {', '.join(FORMATS)}")
    if not _valid_timeout(options.timeout):
        raise UsageError(
            f"--timeout {options.timeout}: must be a number of seconds above 0, at most {MAX_TIMEOUT:g}"
        )
    if options.retries is not None and (
        isinstance(options.retries, bool)
        or not isinstance(options.retries, int)
        or not 0 <= options.retries <= MAX_RETRIES
    ):
        raise UsageError(f"--retries {options.retries}: must be a whole number from 0 to {MAX_RETRIES}")
    if options.mask is not None and not options.images:
        raise UsageError("--mask needs at least one --edit-image to apply to")
    if len(options.images) > MAX_INPUT_IMAGES:
        raise UsageError(f"{len(options.images)} input images: at most {MAX_INPUT_IMAGES} are accepted")


def _valid_timeout(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and 0 < value <= MAX_TIMEOUT


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be sent as UTF-8 (undecodable bytes from argv come as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def inspect_image(path: Path, flag: str = "--edit-image", limit: int = MAX_INPUT_BYTES) -> ImageInfo:
    """The facts of one input image, or a UsageError saying what is wrong with it."""
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
