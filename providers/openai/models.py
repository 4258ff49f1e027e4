"""The openai adapter's model rules: what each model accepts, checked before any paid call.

:data:`MODEL_RULES` is the one place to update when a model appears; the checks read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagegate.adapter import EDIT, GENERATE
from imagegate.errors import UsageError
from imagegate.options import Options
from imagegate.sniff import sniff_file

# -- the model rules: one place to update when a model appears ------------------------------------
GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")
MB = 1024 * 1024


@dataclass(frozen=True)
class FreeSizes:
    """Any ``WxH`` within these limits (or ``auto``), as gpt-image-2 accepts."""

    multiple: int
    max_edge: int
    max_ratio: int  # longest edge : shortest edge, at most this : 1
    min_pixels: int
    max_pixels: int


@dataclass(frozen=True)
class ModelRules:
    """What one model accepts; the defaults are those of the GPT image models."""

    sizes: tuple[str, ...] = GPT_SIZES  # the fixed sizes, unless free_sizes is set
    free_sizes: FreeSizes | None = None
    qualities: tuple[str, ...] = GPT_QUALITIES
    max_n: int = 10
    max_prompt: int = 32_000
    max_images: int = 16  # input images of one edit; 0: the model cannot edit
    gpt_params: bool = True  # background, moderation, output_format, output_compression, stream
    input_fidelity: bool = False
    style: bool = False
    transparent_preview: bool = False
    edit_png_square_under: int | None = None  # edits take one square PNG under this many bytes


_GPT_IMAGE_2 = ModelRules(free_sizes=FreeSizes(16, 3840, 3, 655_360, 8_294_400), transparent_preview=True)
MODEL_RULES: dict[str, ModelRules] = {
    "gpt-image-2": _GPT_IMAGE_2,
    "gpt-image-2-2026-04-21": _GPT_IMAGE_2,
    "gpt-image-1.5": ModelRules(input_fidelity=True),
    "gpt-image-1": ModelRules(input_fidelity=True),
    "gpt-image-1-mini": ModelRules(),
    "dall-e-3": ModelRules(
        sizes=("1024x1024", "1792x1024", "1024x1792"),
        qualities=("standard", "hd", "auto"),
        max_n=1,
        max_prompt=4_000,
        max_images=0,
        gpt_params=False,
        style=True,
    ),
    "dall-e-2": ModelRules(
        sizes=("256x256", "512x512", "1024x1024"),
        qualities=("standard", "auto"),
        max_prompt=1_000,
        max_images=1,
        gpt_params=False,
        edit_png_square_under=4 * MB,
    ),
}
TRANSPARENT_FORMATS = ("png", "webp")
COMPRESSED_FORMATS = ("jpeg", "webp")
MAX_PARTIAL_IMAGES = 3
MASK_MAX_BYTES = 4 * MB
#: Fields each endpoint does not take: they are left out of the body (with a warning).
NOT_FOR = {GENERATE: ("input_fidelity",), EDIT: ("moderation", "style")}
_SNAPSHOT = re.compile(r"^(?P<base>.+)-\d{4}-\d{2}-\d{2}$")


def rules_for(model: str) -> ModelRules | None:
    """The rules of ``model`` or of the model a dated snapshot name belongs to; None when unknown."""
    if model in MODEL_RULES:
        return MODEL_RULES[model]
    snapshot = _SNAPSHOT.match(model)
    return MODEL_RULES.get(snapshot["base"]) if snapshot else None


def _either(values: Any, last: str = "or") -> str:
    """``a, b or c`` (or ``a, b and c``) for messages."""
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + f" {last} " + values[-1]


def _models_where(test: Any) -> str:
    """The (undated) models whose rules pass ``test``, for "only ... accept it" messages."""
    names = (name for name, rules in MODEL_RULES.items() if test(rules) and not _SNAPSHOT.match(name))
    return _either(names, "and")


def check_everywhere(options: Options) -> list[str]:
    """The API's rules for every model: the combinations that make sense (values: the option table)."""
    if options.output_compression is not None:
        _whole_number("--output-compression", options.output_compression, 0, 100)
        if options.output_format not in COMPRESSED_FORMATS:
            raise UsageError(
                f"--output-compression applies to jpeg or webp only, not {options.output_format}",
                hints=("Add --format jpeg or --format webp, or drop --output-compression.",),
            )
    if options.background == "transparent" and options.output_format not in TRANSPARENT_FORMATS:
        raise UsageError(
            f"--background transparent needs --format png or webp ({options.output_format} has no alpha)"
        )
    if options.partial_images is not None:
        _whole_number("--partial-images", options.partial_images, 0, MAX_PARTIAL_IMAGES)
        if not options.stream:
            raise UsageError("--partial-images needs --stream")
    if options.mask is not None and options.mask.stat().st_size >= MASK_MAX_BYTES:
        raise UsageError(f"--mask {options.mask}: must be under {MASK_MAX_BYTES // MB} MB")
    call = "an edit" if options.images else "a generation"
    return [
        f"--{name.replace('_', '-')} does not apply to {call}; it was not sent"
        for name in NOT_FOR[options.operation]
        if getattr(options, name) is not None
    ]


def _whole_number(flag: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{flag} {value}: must be a whole number from {low} to {high}")


def check_model(model: str, rules: ModelRules, options: Options) -> list[str]:
    """The known model's own rules; raises UsageError saying what the model accepts."""
    if len(options.prompt) > rules.max_prompt:
        raise UsageError(
            f"the prompt is {len(options.prompt):,} characters; {model} accepts at most {rules.max_prompt:,}"
        )
    if options.size is not None:
        check_size(model, rules, options.size)
    if options.quality is not None and options.quality not in rules.qualities:
        raise UsageError(f"--quality {options.quality}: {model} accepts {_either(rules.qualities)}")
    if options.n is not None and options.n > rules.max_n:
        raise UsageError(f"--n {options.n}: {model} makes at most {rules.max_n} image(s) per call")
    if options.images:
        _check_edit(model, rules, options)
    if options.style is not None and not rules.style and options.operation == GENERATE:
        raise UsageError(f"--style: {model} has no style; only {_models_where(lambda r: r.style)} has one")
    return _check_gpt_params(model, rules, options)


def check_size(model: str, rules: ModelRules, size: str) -> None:
    """Raise UsageError when ``model`` does not make ``size``; the message says what it makes."""
    free = rules.free_sizes
    if free is None or size == "auto" or "x" not in size:
        if size not in rules.sizes:
            raise UsageError(f"--size {size}: {model} accepts {_either(rules.sizes)}")
        return
    width, height = (int(edge) for edge in size.split("x"))
    problems = size_problems(width, height, free)
    if problems:
        options = [s for s in (suggest_size(width, height, free), "1024x1024") if s and s != size]
        tries = " or ".join(dict.fromkeys(options))
        raise UsageError(f"--size {size}: {model} needs {' and '.join(problems)} (try {tries})")


def size_problems(width: int, height: int, free: FreeSizes) -> list[str]:
    """What is wrong with ``width`` x ``height`` under ``free``, in words; empty when it is fine."""
    problems = []
    if width % free.multiple or height % free.multiple:
        problems.append(f"edges that are multiples of {free.multiple}")
    if max(width, height) > free.max_edge:
        problems.append(f"edges of at most {free.max_edge:,} pixels")
    if max(width, height) > free.max_ratio * min(width, height):
        problems.append(f"an aspect ratio of at most {free.max_ratio}:1 (this is {_ratio(width, height)})")
    if not free.min_pixels <= width * height <= free.max_pixels:
        problems.append(
            f"between {free.min_pixels:,} and {free.max_pixels:,} pixels (this is {width * height:,})"
        )
    return problems


def suggest_size(width: int, height: int, free: FreeSizes) -> str | None:
    """A valid size close to the one asked for: same shape where possible, snapped to the grid."""
    long, short = max(width, height), min(width, height)
    long = min(long, short * free.max_ratio)
    scale = min(1.0, free.max_edge / long, (free.max_pixels / (long * short)) ** 0.5)
    scale = max(scale, (free.min_pixels / (long * short)) ** 0.5)
    m = free.multiple
    for snap in (lambda x: int(x / m + 0.5) * m, lambda x: int(x / m) * m, lambda x: -int(-x // m) * m):
        a, b = snap(long * scale), snap(short * scale)
        w, h = (a, b) if width >= height else (b, a)
        if min(w, h) > 0 and not size_problems(w, h, free):
            return f"{w}x{h}"
    return None


def _ratio(width: int, height: int) -> str:
    long, short = max(width, height), min(width, height)
    return f"{long / short:.2f}:1" if width >= height else f"1:{long / short:.2f}"


def _check_gpt_params(model: str, rules: ModelRules, options: Options) -> list[str]:
    if rules.gpt_params:
        if options.background == "transparent" and rules.transparent_preview:
            return [
                f"--background transparent is in preview for {model}: the image may come back opaque "
                "(the alpha fact of each image tells)"
            ]
        return []
    skipped = NOT_FOR[options.operation]
    given = [
        name
        for name in ("background", "moderation", "output_compression")
        if getattr(options, name) is not None and name not in skipped
    ]
    if options.output_format != "png":
        given.insert(0, "format")
    if given:
        raise UsageError(
            f"--{given[0].replace('_', '-')}: {model} does not accept it (it makes PNG only); "
            f"the GPT image models do ({_models_where(lambda r: r.gpt_params)})"
        )
    if options.stream:
        return [f"{model} cannot stream; making a normal call instead"]
    return []


def _check_edit(model: str, rules: ModelRules, options: Options) -> None:
    editors = _models_where(lambda r: r.max_images > 0)
    if rules.max_images == 0:
        raise UsageError(f"{model} cannot edit images; these models can: {editors}")
    if len(options.images) > rules.max_images:
        raise UsageError(
            f"{len(options.images)} input images: {model} accepts at most {rules.max_images} per edit"
        )
    if options.input_fidelity is not None and not rules.input_fidelity:
        raise UsageError(
            f"--input-fidelity: {model} does not accept it; "
            f"only {_models_where(lambda r: r.input_fidelity)} do"
        )
    limit = rules.edit_png_square_under
    if limit is not None:
        for path in options.images:
            _check_square_png(model, path, limit)


def _check_square_png(model: str, path: Path, limit: int) -> None:
    info = sniff_file(path)
    size = path.stat().st_size
    if info is None or info.format != "png":
        kind = info.format.upper() if info else "not an image"
        raise UsageError(f"--edit-image {path}: {model} edits PNG images only (this is {kind})")
    if info.width != info.height:
        raise UsageError(
            f"--edit-image {path}: {model} edits square images only (this is {info.width}x{info.height})"
        )
    if size >= limit:
        raise UsageError(
            f"--edit-image {path}: {model} needs it under {limit // MB} MB (this is {size / MB:.1f} MB)"
        )
