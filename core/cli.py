"""The ``imagegate`` command: parses flags, calls the library, prints one JSON object.

Errors become one message on stderr and a documented exit code here, and only here.

Subcommands: ``batch``, ``config``, ``providers``; anything else is the image command, with
the flags and defaults of the ``gpt-image-2-apikey`` script this tool replaces
(generate, or edit when ``--edit-image`` is given). Heavy modules (requests, jsonschema, pluggy)
are imported only once a command needs them, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import __version__
from .errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_TERMINATED, ImagegateError, Interrupted

EPILOG = "exit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {}


def subcommand(name: str) -> Callable[[Callable[[list[str]], int]], Callable[[list[str]], int]]:
    """Register a subcommand handler taking the remaining arguments."""

    def decorate(function: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        SUBCOMMANDS[name] = function
        return function

    return decorate


#: Flags people try for a key; refused with a pointer to the config (the value is never echoed).
KEY_FLAGS = ("--api-key", "--api_key", "--apikey", "--key", "--token")


class Parser(argparse.ArgumentParser):
    """argparse that never echoes an argument's value (one could be a pasted key).

    Unrecognised arguments are named by their flags only; an invalid choice or an invalid value
    (``invalid float value: '...'``, a type check's ``'...' is not ...``) loses its quoted value.
    """

    def error(self, message: str) -> typing.NoReturn:
        import re

        from .secret import redact

        if message.startswith("unrecognized arguments:"):
            words = message.split(":", 1)[1].split()
            flags = [word for word in words if word.startswith("-")]
            others = len(words) - len(flags)
            message = "unrecognized arguments" + (f": {' '.join(flags)}" if flags else "")
            if others:
                commands = ", ".join(SUBCOMMAND_MODULES)
                message += f" ({others} other word(s), not shown; commands are: {commands})"
        message = re.sub(r"(invalid choice|invalid [\w ]+ value): (['\"]).*?\2", r"\1", message)
        message = re.sub(r"^(argument [^:]+: )(['\"]).*?\2 ", r"\1the value ", message)
        # One line, like every other error, instead of argparse's usage block.
        sys.stderr.write(f"error: {redact(message)}\nhint: see {self.prog} --help\n")
        raise SystemExit(2)


def refuse_key_flags(argv: list[str]) -> None:
    """Explain, without echoing anything, that keys never go on the command line."""
    from .errors import UsageError

    for word in argv:
        if word.split("=", 1)[0].lower() in KEY_FLAGS:
            raise UsageError(
                f"{word.split('=', 1)[0]}: imagegate never takes an API key on the command line",
                hints=("Put it in the private config file: imagegate config init",),
            )


def image_parser() -> argparse.ArgumentParser:
    from .cli_image import add_image_flags

    parser = Parser(
        prog="imagegate",
        description="Generate or edit images through any OpenAI-style image API, with a key kept in "
        "its own private config file. Other commands: imagegate batch, imagegate config, "
        "imagegate mcp, imagegate providers (each with --help).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    add_image_flags(parser)
    return parser


def emit(document: dict[str, Any]) -> None:
    """Print the one JSON object a command answers with."""
    from .secret import redact

    text = json.dumps(_finite(document), indent=2, default=str, allow_nan=False)
    sys.stdout.write(redact(text) + "\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    """The document with NaN and infinities (which a provider may send) as null: stdout stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def run_image(argv: list[str]) -> int:
    from .errors import UsageError

    refuse_key_flags(argv)
    args = image_parser().parse_args(argv)  # --help and --version end here, before heavy imports
    from .cli_image import options_from_args
    from .dispatch import run
    from .progress import Progress
    from .verbose import verbose_logging

    if args.prompt is None and args.prompt_file is None:
        raise UsageError(
            "--prompt is required", hints=("Example: imagegate --prompt 'a red kite' --out kite.png",)
        )
    progress = Progress(quiet=args.quiet)  # --quiet, the clock and stream notes
    with verbose_logging(args.verbose):
        result = run(
            options_from_args(args),
            config=args.config,
            profile=args.profile,
            provider=args.provider,
            out=args.out,
            force=args.force,
            dry_run_only=args.dry_run,
            notify=progress.note,
            progress=progress,
        )
    for warning in result.warnings:
        progress.note(f"warning: {warning}")  # silenced by --quiet
    emit(result.to_json())
    return 0


def report(error: BaseException) -> int:
    """Print one clear error (and its hints) on stderr; return the exit code."""
    from .secret import redact

    if isinstance(error, ImagegateError):
        print(f"error: {redact(error.message)}", file=sys.stderr)
        for hint in error.hints:
            print(f"hint: {redact(hint)}", file=sys.stderr)
        return error.exit_code
    print(f"error: internal error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
    print(
        "hint: this is a bug in imagegate; please report it with the command you ran (not your key)",
        file=sys.stderr,
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imagegate`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    handler = _subcommand(args[0]) if args else None
    from .secret import guarded_streams  # nothing printed, by anyone, shows the key

    with guarded_streams(), _sigterm_interrupts():
        try:
            if handler is not None:
                return handler(args[1:])
            return run_image(args)
        except KeyboardInterrupt as exc:
            return _interrupted(exc)
        except SystemExit as exc:  # argparse: --help, --version, usage errors (exit 2)
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except Exception as exc:
            return report(exc)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a command runs, SIGTERM stops it like Ctrl-C, so paid images are kept and temp files go."""

    def stop(signum: int, frame: Any) -> None:
        raise Interrupted("terminated", exit_code=EXIT_TERMINATED)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(error: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM: say so, name the images kept anyway, return 130 (or 143)."""
    from .secret import redact

    message = getattr(error, "message", "interrupted")
    print(f"error: {message}", file=sys.stderr)
    for hint in getattr(error, "hints", ()):
        print(f"hint: {redact(hint)}", file=sys.stderr)
    return getattr(error, "exit_code", EXIT_INTERRUPTED)


#: Subcommands and the module that registers each; only the one a command names is imported.
SUBCOMMAND_MODULES = {
    "batch": "cli_batch",
    "config": "cli_config",
    "mcp": "cli_mcp",
    "providers": "cli_providers",
}


def _subcommand(name: str) -> Callable[[list[str]], int] | None:
    """The handler of subcommand ``name`` (importing its module), or None for the image command."""
    module = SUBCOMMAND_MODULES.get(name)
    if module is None:
        return None
    import importlib

    importlib.import_module(f"{__package__}.{module}")
    return SUBCOMMANDS[name]
