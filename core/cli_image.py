"""The image command's flags (those of the ``gpt-image-2-apikey`` script
this tool replaces, unchanged) and their translation into Options.

Shared by the single-image command and ``imagegate batch``, which takes the same flags as
defaults for every job.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import UsageError
from .inputs import is_utf8
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
        "--retries",
        type=int,
        metavar="N",
        help="retries of rate limits (429), 503 and unsent connections; never of a sent request (default 2)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show requests and responses on stderr (key redacted)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show the request (key redacted) and send nothing"
    )
    add_api_flags(parser, batch=batch)


def options_from_args(args: argparse.Namespace) -> Options:
    """Options from parsed flags; unset flags stay None so the profile's defaults can apply."""
    return Options(
        prompt=prompt_from_args(args),
        images=[Path(p) for p in getattr(args, "edit_images", [])],
        mask=Path(args.mask) if getattr(args, "mask", None) else None,
        model=args.model,
        size=args.size,
        quality=args.quality,
        n=args.n,
        output_format=args.output_format,
        timeout=args.timeout,
        **api_options(args),
        retries=args.retries,
    )


#: Largest --prompt-file read (prompts are at most 32,000 characters for the GPT image models).
PROMPT_FILE_LIMIT = 1024 * 1024
#: Options whose flags carry the values the config file accepts for the same key.
_API_CHOICES = ("background", "moderation", "input_fidelity", "style")


def _profile_enum(name: str) -> list[str]:
    """The values the config schema allows for a profile key: flags and config agree by construction."""
    from .schema import load_schema

    return load_schema("config.schema.json")["$defs"]["profile"]["properties"][name]["enum"]


def _int_from(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not from {low} to {high}")
        return value

    return parse


def add_api_flags(parser: argparse.ArgumentParser, *, batch: bool = False) -> None:
    """Every other Images API parameter, --stream, --prompt-file and --quiet."""
    if not batch:
        parser.add_argument(
            "--prompt-file", metavar="PATH", help="read the prompt from a UTF-8 file (- for stdin)"
        )
    helps = {
        "background": "transparent needs --format png or webp",
        "moderation": "moderation level of generations",
        "input_fidelity": "how closely edits keep the input images (edits)",
        "style": "image style, for models that have it",
    }
    for name in _API_CHOICES:
        parser.add_argument(f"--{name.replace('_', '-')}", choices=_profile_enum(name), help=helps[name])
    numbers = (
        ("--output-compression", 100, "compression of jpeg or webp output"),
        ("--partial-images", 3, "partial previews to ask for with --stream"),
    )
    for flag, high, text in numbers:
        parser.add_argument(flag, type=_int_from(0, high), metavar=f"0-{high}", help=text)
    parser.add_argument("--user", metavar="ID", help="an end-user id passed to the provider")
    parser.add_argument(
        "--stream", action="store_true", help="stream: save partial previews beside the output as they arrive"
    )
    parser.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")


def api_options(args: argparse.Namespace) -> dict[str, object]:
    """The Options fields of the flags added by :func:`add_api_flags`."""
    names = (*_API_CHOICES, "output_compression", "user", "partial_images")
    return {name: getattr(args, name, None) for name in names} | {
        "stream": bool(getattr(args, "stream", False))
    }


def prompt_from_args(args: argparse.Namespace) -> str:
    """The prompt: ``--prompt``, or the text of ``--prompt-file`` (``-`` reads stdin)."""
    prompt, source = getattr(args, "prompt", None), getattr(args, "prompt_file", None)
    if source is None:
        return prompt or ""
    if prompt is not None:
        raise UsageError("give --prompt or --prompt-file, not both")
    try:
        if source == "-":
            text = _read_stdin(PROMPT_FILE_LIMIT + 1)
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read(PROMPT_FILE_LIMIT + 1)
    except UnicodeDecodeError:
        raise UsageError(f"--prompt-file {source}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"--prompt-file {source}: cannot read it ({exc.strerror or exc})") from None
    if len(text) > PROMPT_FILE_LIMIT:
        raise UsageError(f"--prompt-file {source}: longer than {PROMPT_FILE_LIMIT:,} characters")
    if not is_utf8(text):
        raise UsageError(f"--prompt-file {source}: not UTF-8 text")
    return text.rstrip("\r\n")


def _read_stdin(limit: int) -> str:
    """Up to ``limit`` characters of stdin, decoded as strict UTF-8 whatever the locale says."""
    if sys.stdin is None:  # started with stdin closed
        raise OSError(errno.EBADF, "there is no standard input")
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # replaced by a text stream (tests, embedding)
        return sys.stdin.read(limit)
    import codecs

    data = raw.read(limit * 4)  # enough bytes for ``limit`` characters; a cut last character is held back
    return codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) < limit * 4)[:limit]
