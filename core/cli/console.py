"""What every command shares: the never-echoing Parser, refuse_key_flags, emit (one JSON object), report."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import typing
from collections.abc import Iterable
from typing import Any

from ..errors import EXIT_CODES, EXIT_INTERRUPTED, ImagegateError, UsageError, internal_error
from ..secret import redact
from ..untrusted import HINT_LIMIT, untrusted

EPILOG = "exit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())


#: Flags people try for a key; refused with a pointer to the config (the value is never echoed).
KEY_FLAGS = ("--api-key", "--api_key", "--apikey", "--key", "--token")


class Parser(argparse.ArgumentParser):
    """argparse that never echoes an argument's value (one could be a pasted key).

    Unrecognised arguments are named by their flags only; an invalid choice or an invalid value
    (``invalid float value: '...'``, a type check's ``'...' is not ...``) loses its quoted value.
    """

    def __init__(self, *args: Any, commands: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = tuple(commands)  # named when stray words are given (the image command's)

    def error(self, message: str) -> typing.NoReturn:
        if message.startswith("unrecognized arguments:"):
            words = message.split(":", 1)[1].split()
            flags = [word for word in words if word.startswith("-")]
            others = len(words) - len(flags)
            message = "unrecognized arguments" + (f": {' '.join(flags)}" if flags else "")
            if others:
                commands = f"; commands are: {', '.join(self.commands)}" if self.commands else ""
                message += f" ({others} other word(s), not shown{commands})"
        message = re.sub(r"(invalid choice|invalid [\w ]+ value): (['\"]).*?\2", r"\1", message)
        message = re.sub(r"^(argument [^:]+: )(['\"]).*?\2 ", r"\1the value ", message)
        # One line, like every other error, instead of argparse's usage block.
        sys.stderr.write(f"error: {untrusted(redact(message))}\nhint: see {self.prog} --help\n")
        raise SystemExit(2)


def refuse_key_flags(argv: list[str]) -> None:
    """Explain, without echoing anything, that keys never go on the command line."""
    for word in argv:
        if word.split("=", 1)[0].lower() in KEY_FLAGS:
            raise UsageError(
                f"{word.split('=', 1)[0]}: imagegate never takes an API key on the command line",
                hints=("Put it in the private config file: imagegate config init",),
            )


def emit(document: dict[str, Any]) -> None:
    """Print the one JSON object a command answers with.

    A closed stdout (a reader that went away, ``>&-``) does not undo what the command did: the
    images it saved are named on stderr instead, and the run keeps its exit code.
    """
    try:
        sys.stdout.write(render(document) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError) as exc:  # closed, broken pipe, or no stdout at all
        _stdout_closed(document, exc)


def _stdout_closed(document: dict[str, Any], exc: BaseException) -> None:
    """Say on stderr that the result could not be printed, naming the files it lists."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the interpreter's last flush at exit then finds nothing to complain of
        os.close(devnull)
    reason = getattr(exc, "strerror", None) or "it is closed"
    paths = [str(path) for path in document.get("output_paths") or ()]
    paths += [
        str(path)
        for job in document.get("jobs") or ()
        if isinstance(job, dict)
        for path in job.get("paths") or ()
    ]
    saved = f"; the files are saved: {', '.join(paths)}" if paths else ""
    say(f"warning: the result could not be printed on stdout ({reason}){saved}")


def say(line: str) -> None:
    """One line on stderr, at the start of a line; a closed stderr loses it rather than fail the command."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if getattr(sys.stderr, "mid_line", False):  # a line cut short (or a live line) comes before
            line = "\n" + line
        print(line, file=sys.stderr)


def render(document: dict[str, Any]) -> str:
    """The JSON text of a command's answer, key scrubbed (also the text of the MCP server's results)."""
    return redact(json.dumps(_finite(document), indent=2, default=str, allow_nan=False))


def _finite(value: Any) -> Any:
    """The document with NaN and infinities (which a provider may send) as null: stdout stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def report(error: BaseException) -> int:
    """Print one clear error (and its hints) on stderr; return the exit code."""
    if isinstance(error, ImagegateError):
        say(f"error: {redact(error.message)}")
        for hint in error.hints:
            say(f"hint: {redact(hint)}")
        return error.exit_code
    say(f"error: {internal_error(error)}")
    say("hint: this is a bug in imagegate; please report it with the command you ran (not your key)")
    return 1


def interrupted(error: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM: say so, name the images kept anyway, return 130 (or 143)."""
    message = getattr(error, "message", "interrupted")
    say(f"error: {untrusted(redact(str(message)))}")
    for hint in getattr(error, "hints", ()):
        say(f"hint: {untrusted(redact(hint), HINT_LIMIT)}")
    return getattr(error, "exit_code", EXIT_INTERRUPTED)
