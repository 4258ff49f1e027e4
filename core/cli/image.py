"""``imagegate --prompt ...``: the image command, its flags (those of the ``gpt-image-2-apikey``
script this tool replaces, unchanged) generated from the option table, and their translation into Asked.

Shared by the single-image command and ``imagegate batch``, which takes the same flags as
defaults for every job.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..inputs import check_path
from ..option_values import is_utf8
from ..options import TABLE, Asked, Option
from ..progress import Progress
from ..verbose import verbose_logging
from .console import EPILOG, Parser, emit, refuse_key_flags

#: Largest --prompt-file read (prompts are at most 32,000 characters for the GPT image models).
PROMPT_FILE_LIMIT = 1024 * 1024


def image_parser(commands: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of ``imagegate --prompt ...``; ``commands`` are the other command words."""
    parser = Parser(
        prog="imagegate",
        commands=commands,
        description="Generate or edit images through any OpenAI-style image API, with a key kept in "
        "its own private config file."
        + (
            f" Other commands: {', '.join(f'imagegate {name}' for name in commands)} (each with --help)."
            if commands
            else ""
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    add_image_flags(parser)
    return parser


def command(argv: list[str], commands: Sequence[str] = ()) -> int:
    """``imagegate --prompt ...``: one call, one JSON object on stdout."""
    refuse_key_flags(argv)
    args = image_parser(commands).parse_args(argv)  # --help and --version end here, before heavy imports
    from ..dispatch import run

    if args.prompt is None and args.prompt_file is None:
        raise UsageError(
            "--prompt is required", hints=("Example: imagegate --prompt 'a red kite' --out kite.png",)
        )
    progress = Progress(quiet=args.quiet)  # --quiet, the clock and stream notes
    with verbose_logging(args.verbose):
        result = run(
            asked_from_args(args),
            config=args.config,
            profile=args.profile,
            provider=args.provider,
            out=args.out,
            force=args.force,
            dry_run_only=args.dry_run,
            notify=progress.note,
            progress=progress,
        )
    try:
        for warning in result.warnings:
            progress.note(f"warning: {warning}")  # silenced by --quiet
        emit(result.to_json())
    except KeyboardInterrupt as exc:  # stopped while reporting: the images are saved, so say where
        from ..keep import named_interruption  # (loaded only here: not on every start)

        raise named_interruption(exc, getattr(result, "output_paths", [])) from None  # a dry run saved none
    return 0


def add_image_flags(parser: argparse.ArgumentParser, *, batch: bool = False) -> None:
    """The image options, one flag per row of the option table, then the command's own flags.

    In batch mode ``--prompt``, ``--out`` and the input images are per job, so not offered here.
    """
    for option in TABLE:
        if option.flags and (option.batch or not batch):
            parser.add_argument(*option.flags, dest=option.name, help=_help(option), **_parsing(option))
        if option.name == "prompt" and not batch:
            parser.add_argument(
                "--prompt-file", metavar="PATH", help="read the prompt from a UTF-8 file (- for stdin)"
            )
    parser.add_argument(
        "--verbose", action="store_true", help="show requests and responses on stderr (key redacted)"
    )
    parser.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")


def _parsing(option: Option) -> dict[str, Any]:
    """How argparse reads the flag of ``option``: its action, type, choices and metavar."""
    if option.type is bool:
        return {"action": "store_true"}
    how: dict[str, Any] = {"metavar": option.metavar} if option.metavar else {}
    if option.type is list:
        how.update(action="append", default=[])
    elif option.choices:
        how["choices"] = option.choices
    elif option.type is int:
        ranged = option.parse_range and option.low is not None and option.high is not None
        how["type"] = _int_from(int(option.low or 0), int(option.high or 0)) if ranged else int
    elif option.type is float:
        how["type"] = float
    return how


def _help(option: Option) -> str:
    """The flag's help: the row's text and, for an option with one, its built-in default."""
    if option.default is None or option.role != "option":
        return option.help
    default = option.default
    shown = f"default {default:g}" if isinstance(default, float) else f"default {default}"
    return f"{option.help} ({shown})" if option.help else shown


#: The flags (argparse names) that name a file or folder, with how messages name them.
PATH_FLAGS = {
    "jobs": "the jobs file",
    "out_dir": "--out-dir",
    "out": "--out",
    "config": "--config",
    "prompt_file": "--prompt-file",
    "images": "--edit-image",
    "mask": "--mask",
}


def check_path_flags(args: argparse.Namespace) -> None:
    """Refuse (exit 2) a path flag no file can have: a NUL, a character the file system cannot encode."""
    for name, flag in PATH_FLAGS.items():
        value = getattr(args, name, None)
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, str):
                check_path(path, flag)


def asked_from_args(args: argparse.Namespace) -> Asked:
    """What the flags ask for; unset flags stay None so the profile's defaults can apply.

    Every path flag of the command (:data:`PATH_FLAGS`) is checked first, before any is used.
    """
    check_path_flags(args)
    values: dict[str, Any] = {}
    for option in TABLE:
        if option.role == "option" and option.flags and hasattr(args, option.name):
            values[option.name] = getattr(args, option.name)
    values["images"] = [Path(p) for p in values.get("images", [])]
    values["mask"] = Path(values["mask"]) if values.get("mask") else None
    values["prompt"] = prompt_from_args(args)
    return Asked(**values)


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
