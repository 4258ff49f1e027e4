"""imagegate: generate and edit images through any OpenAI-style image API, with a key of its own.

The library face::

    import imagegate
    result = imagegate.generate("a lighthouse at dusk", out="lighthouse.png", provider="placeholder")
    result.images[0].path, result.images[0].format

Without ``out`` the images stay in memory (``result.images[0].data``). The image options are
the keywords of :class:`imagegate.options.ImageOptions` (``size``, ``quality``, ``n`` ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from .errors import (
    ConfigError,
    ContentRefused,
    ImagegateError,
    ImageNotSaved,
    NetworkError,
    ProviderRefused,
    UnusableAnswer,
    UsageError,
)
from .hookspecs import hookimpl
from .result import DryRun, Image, Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .jobs import JobResult
    from .options import ImageOptions

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ContentRefused",
    "DryRun",
    "Image",
    "ImageNotSaved",
    "ImagegateError",
    "JobResult",
    "NetworkError",
    "ProviderRefused",
    "Result",
    "UnusableAnswer",
    "UsageError",
    "__version__",
    "dry_run",
    "edit",
    "generate",
    "hookimpl",
    "run_batch",
]

PathLike = str | os.PathLike[str]
_CALL_KEYS = ("config", "profile", "provider", "out", "force", "dry_run")


@overload
def generate(
    prompt: str,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: Literal[False] = False,
    **options: Unpack[ImageOptions],
) -> Result: ...
@overload
def generate(
    prompt: str,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: Literal[True],
    **options: Unpack[ImageOptions],
) -> DryRun: ...
@overload
def generate(
    prompt: str,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: bool,
    **options: Unpack[ImageOptions],
) -> Result | DryRun: ...
def generate(
    prompt: str, *, out: PathLike | None = None, force: bool = False, dry_run: bool = False, **options: Any
) -> Result | DryRun:
    """Generate images from ``prompt``.

    ``out`` (a path): save files there, named as the CLI does; omitted: keep the images in memory.
    ``force`` replaces existing files; ``dry_run=True`` (or :func:`dry_run`) sends nothing. Other
    keywords: ``config``, ``profile``, ``provider`` and any image option (``model``, ``size``,
    ``quality``, ``n``, ``output_format``, ``background``, ``timeout`` ...).
    """
    return _call(prompt, [], None, _with_call(options, out, force, dry_run))


@overload
def edit(
    prompt: str,
    images: PathLike | Sequence[PathLike],
    mask: PathLike | None = None,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: Literal[False] = False,
    **options: Unpack[ImageOptions],
) -> Result: ...
@overload
def edit(
    prompt: str,
    images: PathLike | Sequence[PathLike],
    mask: PathLike | None = None,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: Literal[True],
    **options: Unpack[ImageOptions],
) -> DryRun: ...
@overload
def edit(
    prompt: str,
    images: PathLike | Sequence[PathLike],
    mask: PathLike | None = None,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: bool,
    **options: Unpack[ImageOptions],
) -> Result | DryRun: ...
def edit(
    prompt: str,
    images: PathLike | Sequence[PathLike],
    mask: PathLike | None = None,
    *,
    out: PathLike | None = None,
    force: bool = False,
    dry_run: bool = False,
    **options: Any,
) -> Result | DryRun:
    """Edit one or more input images (paths) following ``prompt``; ``mask`` marks the area to change."""
    paths = _paths(images)
    if not paths:
        raise UsageError("edit needs at least one input image")
    return _call(prompt, paths, _mask(mask), _with_call(options, out, force, dry_run))


def dry_run(
    prompt: str,
    images: PathLike | Sequence[PathLike] = (),
    *,
    mask: PathLike | None = None,
    out: PathLike | None = None,
    **options: Unpack[ImageOptions],
) -> DryRun:
    """Describe the request a generation (or, with ``images``, an edit) would send; nothing is sent."""
    planned = _call(prompt, _paths(images), _mask(mask), _with_call(dict(options), out, False, True))
    assert isinstance(planned, DryRun)
    return planned


def _paths(images: PathLike | Sequence[PathLike]) -> list[Path]:
    return [Path(images)] if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]


def _mask(mask: PathLike | None) -> Path | None:
    return Path(mask) if mask is not None else None


def _with_call(options: dict[str, Any], out: Any, force: Any, dry_run: Any) -> dict[str, Any]:
    """The keywords with the call's own, when given (so the keyword checks see them too)."""
    given = {"out": out, "force": force, "dry_run": dry_run}
    return {
        **options,
        **{key: value for key, value in given.items() if value is not None and value is not False},
    }


def _call(prompt: str, images: list[Path], mask: Path | None, keywords: dict[str, Any]) -> Result | DryRun:
    from .dispatch import run
    from .option_values import from_keywords
    from .options import Asked

    why = "input images are edit's arguments: imagegate.edit(prompt, images, mask=...)"
    fields, call = from_keywords(keywords, call_keys=_CALL_KEYS, refused={"images": why, "mask": why})
    asked = Asked(prompt=prompt, images=images, mask=mask, **fields)
    out = call.get("out")
    return run(
        asked,
        config=call.get("config"),
        profile=call.get("profile"),
        provider=call.get("provider"),
        out=out,
        to_files=out is not None,
        force=bool(call.get("force")),
        dry_run_only=bool(call.get("dry_run")),
    )


# -- batch ---------------------------------------------------------------------------------------


def run_batch(
    jobs: Iterable[str | dict[str, Any]],
    out_dir: PathLike,
    *,
    concurrency: int = 4,
    force: bool = False,
    fail_fast: bool = False,
    remote: bool = False,
    wait: bool = True,
    cancel: bool = False,
    **defaults: Unpack[ImageOptions],
) -> Iterator[JobResult]:
    """Run many jobs (prompt strings or option dicts) into ``out_dir``; yields results as they finish.

    Every job is checked before anything is sent. ``concurrency`` jobs run at a time; ``force``
    redoes jobs already done; ``fail_fast`` starts no new job after a failure. Other keywords are
    any option :func:`generate` takes, as the default of every job. Finished jobs are recorded in
    a manifest in ``out_dir``, so running the same jobs again skips them. ``remote=True`` runs them
    on the provider's batch engine (half price, within 24 hours): ``wait=False`` only submits (the
    jobs come back ``submitted``; call again to collect), ``cancel=True`` cancels the folder's
    unfinished remote batches and collects what they finished.
    """
    from .batch import run_batch as run

    return run(
        jobs,
        out_dir,
        concurrency=concurrency,
        force=force,
        fail_fast=fail_fast,
        remote=remote,
        wait=wait,
        cancel=cancel,
        **defaults,
    )


def __getattr__(name: str) -> Any:
    """``imagegate.JobResult``, imported on first use (batch brings the network modules with it)."""
    if name == "JobResult":
        from .jobs import JobResult

        return JobResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
