"""The ``imagegate`` command's first step: Ctrl-C or SIGTERM while the program loads ends it quietly.

Loading imagegate takes a few hundred milliseconds (its modules and theirs). A signal then would
land inside Python's import machinery: a traceback, or a Ctrl-C that the import system swallows,
so that the call goes on and is paid for. While loading, the signals are only noted, and a noted
one ends the command with its exit code (130, 143) before anything is sent. This module lives
outside the ``imagegate`` package, and imports only what Python has loaded already, so that the
moments before its handler is in place are as few as they can be (Python's own start is not
covered).
"""

import os
import signal
import sys

#: Exit codes and messages, as imagegate gives them for an interrupted call.
_STOPPED = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}


def main() -> int:
    """Load imagegate with Ctrl-C and SIGTERM noted, then run the command (or stop, if one came)."""
    noted: list[int] = []

    def note(signum: int, frame: object) -> None:
        noted.append(signum)

    previous = {
        number: signal.signal(number, note)
        for number in _STOPPED
        if not (number == signal.SIGINT and signal.getsignal(number) is signal.SIG_IGN)  # nohup, &
    }
    try:
        from imagegate.cli import main as command
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if noted:
        code, word = _STOPPED[signal.Signals(noted[0])]
        sys.stderr.write(f"error: {word} while starting; nothing was sent\n")
        return code
    try:
        return command(whole_process=True)  # it ends with the stop signals ignored, not handed back
    finally:
        for number in previous:  # the command has ended (and said so): a signal now changes nothing
            signal.signal(number, signal.SIG_IGN)  # (ignored, since Python resets its handlers as it exits)
        _settle()


def _settle() -> None:
    """Flush stdout and stderr now; one that cannot take it (closed, a full disk) is pointed at
    the null device, so that Python's own flush at exit cannot change the exit code (to 120)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, stream.fileno())
                os.close(null)
            except (OSError, ValueError):
                pass
