"""The image command's flags (the seed's invocation, unchanged) and their translation into Options.

Shared by the single-image command and ``imagegate batch``, which takes the same flags as
defaults for every job.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import FORMATS, QUALITIES, Options


def add_provider_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that choose the config, profile and provider."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="private config file (default: $XDG_CONFIG_HOME/gpt-image-2-apikey/config.json)",
    )
    parser.add_argument("--profile", metavar="NAME", help="profile of the config to use")
    parser.add_argument(
        "--provider",
        metavar="NAME",
        help="provider adapter, overriding the config's (see: imagegate providers)",
    )


def add_image_flags(parser: argparse.ArgumentParser, *, batch: bool = False) -> None:
    """The image options. In batch mode ``--prompt`` and ``--out`` are per job, so not offered here."""
    if not batch:
        parser.add_argument("--prompt", help="the image prompt or edit instruction (required)")
        parser.add_argument(
            "--out", metavar="PATH", help="output file; more images get -2, -3 before the extension"
        )
        parser.add_argument(
            "--edit-image",
            dest="edit_images",
            action="append",
            default=[],
            metavar="PATH",
            help="input image to edit (repeatable); present means edit",
        )
        parser.add_argument(
            "--mask", metavar="PATH", help="PNG mask: transparent pixels mark the area to edit"
        )
    add_provider_flags(parser)
    parser.add_argument("--model", help="model, overriding the config's")
    parser.add_argument("--size", help="WIDTHxHEIGHT or auto (default 1024x1024)")
    parser.add_argument("--quality", choices=QUALITIES, help="default auto")
    parser.add_argument("--n", type=int, metavar="N", help="number of images, 1-10 (default 1)")
    parser.add_argument(
        "--format", dest="output_format", choices=FORMATS, help="png, jpeg or webp (default png)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="total time allowed for the call (default 600)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument(
        "--dry-run", action="store_true", help="show the request (key redacted) and send nothing"
    )


def options_from_args(args: argparse.Namespace) -> Options:
    """Options from parsed flags; unset flags stay None so the profile's defaults can apply."""
    return Options(
        prompt=getattr(args, "prompt", None) or "",
        images=[Path(p) for p in getattr(args, "edit_images", [])],
        mask=Path(args.mask) if getattr(args, "mask", None) else None,
        model=args.model,
        size=args.size,
        quality=args.quality,
        n=args.n,
        output_format=args.output_format,
        timeout=args.timeout,
    )
