"""The command's first step: a Ctrl-C or SIGTERM while imagegate loads ends the command quietly,
with the signal's exit code, before anything is sent (not a traceback, not a swallowed Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import types

import pytest

import imagegate_launcher

from .support.faultserver import error_reply, image_reply

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals reach the main thread only"
)


@pytest.fixture(autouse=True)
def handlers_kept():
    """The launcher ends by ignoring the stop signals (for the process's exit): not this process's."""
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


class LoadingCli(types.ModuleType):
    """Stands for ``imagegate.cli`` while it loads: the signal arrives in the middle of the import."""

    def __init__(self, signum: int) -> None:
        super().__init__("imagegate.cli")
        self.signum = signum
        self.ran = False

    def __getattr__(self, name: str):
        os.kill(os.getpid(), self.signum)
        return self.run

    def run(self, **options: object) -> int:
        self.ran = True
        return 0


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_while_loading_ends_the_command_with_its_code(
    monkeypatch, capsys, signum, code, word
) -> None:
    loading = LoadingCli(signum)
    monkeypatch.setitem(sys.modules, "imagegate.cli", loading)
    before = signal.getsignal(signum)
    assert imagegate_launcher.main() == code
    assert not loading.ran  # nothing was sent
    assert capsys.readouterr().err == f"error: {word} while starting; nothing was sent\n"
    assert signal.getsignal(signum) is before  # the handlers are put back


def test_without_a_signal_the_command_runs(monkeypatch) -> None:
    class Quiet(LoadingCli):
        def __getattr__(self, name: str):
            return self.run

    loading = Quiet(signal.SIGINT)
    monkeypatch.setitem(sys.modules, "imagegate.cli", loading)
    assert imagegate_launcher.main() == 0 and loading.ran


def test_a_signal_the_caller_ignores_stays_ignored() -> None:
    # nohup and background jobs start the command with SIGINT ignored: loading must not stop it
    script = (
        "import os, signal, sys, types, imagegate_launcher\n"
        "m = types.ModuleType('imagegate.cli')\n"
        "def run(**options): return 7\n"
        "m.__getattr__ = lambda name: (os.kill(os.getpid(), signal.SIGINT), run)[1]\n"
        "sys.modules['imagegate.cli'] = m\n"
        "sys.exit(imagegate_launcher.main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 7 and done.stderr == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("code", [0, 3], ids=["saved", "refused"])
def test_unwritable_stdout_and_stderr_do_not_change_the_exit_code(server, isolated, code) -> None:
    # Python's own flush at exit used to fail on them and turn the code into 120
    if code:
        server.generations(error_reply(400, "bad request"))
    else:
        server.generations(image_reply())
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "imagegate", "--prompt", "p", "--out", "o.png"],
            cwd=isolated,
            env=buffered,  # as a shell runs it: the streams are flushed at exit
            stdout=full,
            stderr=full,
            timeout=60,
        )
    assert done.returncode == code
    assert (isolated / "o.png").exists() == (code == 0)


def test_a_signal_after_the_command_ended_is_ignored(monkeypatch) -> None:
    # the summary is printed and nothing is left: a late Ctrl-C must not turn exit 0 into -2
    class Quiet(LoadingCli):
        def __getattr__(self, name: str):
            return self.run

    monkeypatch.setitem(sys.modules, "imagegate.cli", Quiet(signal.SIGINT))
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert imagegate_launcher.main() == 0
        for number in before:  # ignored, not a Python handler: Python's exit would reset that one
            assert signal.getsignal(number) is signal.SIG_IGN
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
