"""Progress on stderr: elapsed seconds only on a terminal, nothing in logs, nothing with --quiet."""

from __future__ import annotations

import io
import threading

from imagegate import dispatch
from imagegate.progress import Progress

from .support.helpers import GEN, images_answer, png


class Terminal(io.StringIO):
    """A stream that says it is a terminal and tells when something was written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


def test_the_clock_ticks_on_a_terminal_and_its_line_is_erased() -> None:
    terminal = Terminal()
    progress = Progress(terminal, interval=0.005)
    with progress.waiting("waiting for the provider"):
        assert terminal.written.wait(5)
    text = terminal.getvalue()
    assert "\rwaiting for the provider: 0 s" in text
    assert text.endswith("\r")  # the last thing written erases the clock


def test_a_note_erases_the_clock_first() -> None:
    terminal = Terminal()
    progress = Progress(terminal, interval=0.005)
    with progress.waiting("w"):
        assert terminal.written.wait(5)
        progress.note("partial image 1 saved")
    assert "\r" + " " * len("w: 0 s") + "\rpartial image 1 saved\n" in terminal.getvalue()


def test_nothing_is_written_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress(stream, interval=0.001).waiting():
        threading.Event().wait(0.05)
    assert stream.getvalue() == ""


def test_quiet_writes_nothing_even_on_a_terminal() -> None:
    terminal = Terminal()
    progress = Progress(terminal, quiet=True, interval=0.001)
    with progress.waiting():
        threading.Event().wait(0.05)
    progress.note("hello")
    assert terminal.getvalue() == ""


def test_the_cli_shows_the_clock_on_a_terminal_stderr(cli, make_config, requests_mock, monkeypatch) -> None:
    terminal = Terminal()
    make_config()

    def slow_answer(request, context):
        assert terminal.written.wait(5)  # the clock ticked while the provider "worked"
        return images_answer(png())

    requests_mock.post(GEN, json=slow_answer)
    original = dispatch.execute
    monkeypatch.setattr(
        dispatch,
        "execute",
        lambda call, plan, **kw: original(
            call, plan, **{**kw, "progress": Progress(terminal, interval=0.005)}
        ),
    )
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert "waiting for the provider: " in terminal.getvalue()
    assert run.err == ""  # the real stderr (not a terminal here) stays clean


def test_the_library_never_writes_to_stderr(make_config, requests_mock, capsys) -> None:
    import imagegate

    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    imagegate.generate("p", out="o.png", background="opaque", moderation="low")
    assert capsys.readouterr().err == ""
