"""The ``imagegate`` command: parses flags, calls the library, prints one JSON object.

Errors become one message on stderr and a documented exit code here, and only here.

The first word picks the command from :data:`COMMANDS` (``batch``, ``config``, ``mcp``,
``providers``, ``usage``);
anything else is the image command (:mod:`.image`), with the flags and defaults of the
``gpt-image-2-apikey`` script this tool replaces (generate, or edit when ``--edit-image`` is
given). Only the module of the command named is imported, and heavy modules (requests,
jsonschema, pluggy) only once a command needs them, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import EXIT_INTERRUPTED, EXIT_TERMINATED, STOP_SIGNALS, Interrupted
from ..secret import guarded_streams
from . import image
from .console import interrupted, report

__all__ = ["COMMANDS", "main"]

#: Command word -> the module (in this package) whose ``command(argv) -> int`` runs it.
#: A new command is one module with a ``command`` function and one line here.
COMMANDS = {"batch": "batch", "config": "config", "mcp": "mcp", "providers": "providers", "usage": "usage"}


def main(argv: Sequence[str] | None = None, *, whole_process: bool = False) -> int:
    """Entry point of the ``imagegate`` command.

    A second signal while an error is being printed (a slow reader, a long line) ends the command
    with that signal's exit code, never a traceback. ``whole_process`` (the launcher's): the process
    ends with the command, so the stop signals are left ignored rather than handed back.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        ending = signal.SIG_IGN if whole_process else None  # the launcher's process ends with the command
        with guarded_streams(), _sigterm_interrupts(ending):  # nothing printed, by anyone, shows the key
            return _run(args)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM while the outcome was being reported
        return int(getattr(exc, "exit_code", EXIT_INTERRUPTED))


def _run(args: list[str]) -> int:
    try:
        if args and args[0] in COMMANDS:
            module = importlib.import_module(f".{COMMANDS[args[0]]}", __name__)
            return int(module.command(args[1:]))
        return image.command(args, commands=tuple(COMMANDS))
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except SystemExit as exc:  # argparse: --help, --version, usage errors (exit 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception as exc:
        return report(exc)


@contextlib.contextmanager
def _sigterm_interrupts(ending: Any = None) -> Iterator[None]:
    """While a command runs, SIGTERM stops it like Ctrl-C, so paid images are kept and temp files go.

    The first signal stops the command; from then on the command is ending (saving what arrived,
    removing temp files, reporting), and a further signal is only noted, so it cannot cut that
    short. (A batch notes every signal itself while it runs, and gives each its meaning.)
    """

    def later(signum: int, frame: Any) -> None:
        pass  # the command is already stopping

    def stop(signum: int, frame: Any) -> None:
        if signal.getsignal(signum) is stop:  # the signal itself, not a batch passing a noted one on
            for number in previous:  # (a Ctrl-C the caller ignores stays ignored)
                signal.signal(number, later)
        if signum == signal.SIGTERM:
            raise Interrupted("terminated", exit_code=EXIT_TERMINATED)
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    try:
        for number in STOP_SIGNALS:
            handler = signal.getsignal(number)  # a Ctrl-C the caller ignores (nohup, &) stays ignored
            if handler is not None and not (number == signal.SIGINT and handler is signal.SIG_IGN):
                previous[number] = signal.signal(number, stop)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for held, handler in previous.items():  # ``ending``: the process ends here (the launcher's)
            signal.signal(held, handler if ending is None else ending)
