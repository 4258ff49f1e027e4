"""imagegate: generate and edit images through any OpenAI-style image API, with a key of its own.

The library face::

    import imagegate
    result = imagegate.generate("a lighthouse at dusk", out="lighthouse.png", provider="placeholder")
    result.images[0].path, result.images[0].format

Without ``out`` the images stay in memory (``result.images[0].data``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .result import Result

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ContentRefused",
    "ImageNotSaved",
    "ImagegateError",
    "NetworkError",
    "ProviderRefused",
    "UnusableAnswer",
    "UsageError",
    "__version__",
    "edit",
    "generate",
    "hookimpl",
    "run_batch",
]

_CALL_KEYS = ("config", "profile", "provider", "out", "force", "dry_run")


def generate(prompt: str, **options: Any) -> Result:
    """Generate images from ``prompt``.

    Keywords: ``out`` (a path: save files there, named as the CLI does; omitted: keep the images
    in memory), ``config``, ``profile``, ``provider``, ``force``, ``dry_run``, and any image option
    (``model``, ``size``, ``quality``, ``n``, ``output_format``, ``background``, ``timeout`` ...).
    """
    return _call(prompt, [], None, options)


def edit(prompt: str, images: Any, mask: str | Path | None = None, **options: Any) -> Result:
    """Edit one or more input images (paths) following ``prompt``; ``mask`` marks the area to change."""
    paths = [Path(images)] if isinstance(images, (str, Path)) else [Path(p) for p in images]
    if not paths:
        raise UsageError("edit needs at least one input image")
    return _call(prompt, paths, Path(mask) if mask is not None else None, options)


def _call(prompt: str, images: list[Path], mask: Path | None, keywords: dict[str, Any]) -> Any:
    from .dispatch import run
    from .options import Asked, from_keywords

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


def run_batch(jobs: Any, out_dir: str | Path, **options: Any) -> Any:
    """Run many jobs (prompt strings or option dicts) into ``out_dir``; yields results as they finish.

    Every job is checked before anything is sent. Keywords: ``concurrency`` (4), ``force``,
    ``fail_fast``, and any option :func:`generate` takes, as the default of every job. Finished
    jobs are recorded in a manifest in ``out_dir``, so running the same jobs again skips them.
    """
    from .batch import run_batch as run

    return run(jobs, out_dir, **options)
