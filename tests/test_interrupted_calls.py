"""Ctrl-C or SIGTERM at the moments around a paid image: the image that arrived whole is saved and
named, the paid call is in the ledger, and the exit code is the signal's.

The interruptions are raised in-process at the exact moment (a body that stops with Ctrl-C right
after an image string closed; SIGINT sent from inside the step that moves images into place).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegate import ledger
from imagegate.adapter import HttpRequest
from imagegate.output import OutputPlan
from imagegate.reply import Reply
from imagegate.testing import MockTransport, use_transport

from .support.helpers import API_KEY, b64, png


@pytest.fixture
def mock_config(make_config) -> None:
    make_config({"api_key": API_KEY, "base_url": "https://api.example.test/v1"})


def stopped_after_the_image(image: bytes) -> MockTransport:
    """An answer whose image string has closed when Ctrl-C lands, before the rest of the JSON."""

    def body() -> Iterator[bytes]:
        yield b'{"created": 1, "data": [{"b64_json": "' + b64(image).encode() + b'"}'
        raise KeyboardInterrupt

    def answer(request: HttpRequest) -> Reply:
        return Reply.of(200, body(), {"Content-Type": "application/json"})

    return MockTransport(answer)


def test_an_image_whose_string_closed_is_kept_when_ctrl_c_lands_before_the_answer_ends(
    cli, mock_config, isolated: Path
) -> None:
    with use_transport(stopped_after_the_image(png(5, 5))):
        run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 130, run.err
    assert (isolated / "o.png").read_bytes() == png(5, 5)
    assert str(isolated / "o.png") in run.err
    assert [p.name for p in isolated.iterdir()] == ["o.png"]
    assert len(ledger.ledger_path().read_text().splitlines()) == 1  # it was paid for


def test_ctrl_c_while_images_are_moved_into_place_waits_then_names_them_all(
    cli, mock_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = OutputPlan.commit

    def commit_then_ctrl_c(self: OutputPlan, *args, **kwargs):
        placed = real_commit(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return placed

    monkeypatch.setattr(OutputPlan, "commit", commit_then_ctrl_c)
    answer = {"created": 1, "data": [{"b64_json": b64(png(4, 4))}, {"b64_json": b64(png(6, 6))}]}
    mock = MockTransport(lambda request: Reply.of(200, json.dumps(answer).encode()))
    with use_transport(mock):
        run = cli("--prompt", "p", "--n", "2", "--out", "o.png")
    assert run.code == 130, run.err
    assert (isolated / "o.png").read_bytes() == png(4, 4)
    assert (isolated / "o-2.png").read_bytes() == png(6, 6)  # the second was not cut short
    assert str(isolated / "o.png") in run.err and str(isolated / "o-2.png") in run.err
    assert sorted(p.name for p in isolated.iterdir()) == ["o-2.png", "o.png"]
    assert len(ledger.ledger_path().read_text().splitlines()) == 1  # the paid call is recorded


def test_sigterm_while_the_result_is_printed_names_the_saved_image(
    cli, mock_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagegate.cli import image as image_command
    from imagegate.errors import Interrupted

    def stopped(text: str) -> None:  # a slow reader of stdout, and SIGTERM meanwhile
        raise Interrupted("terminated", exit_code=143)

    monkeypatch.setattr(image_command, "emit", stopped)
    answer = {"created": 1, "data": [{"b64_json": b64(png(4, 4))}]}
    with use_transport(MockTransport(lambda request: Reply.of(200, json.dumps(answer).encode()))):
        run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 143
    assert "error: terminated" in run.err and str(isolated / "o.png") in run.err


def test_a_second_signal_while_the_first_is_handled_cannot_lose_the_image(
    cli, mock_config, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagegate.keep import Spools

    def body() -> Iterator[bytes]:
        yield b'{"created": 1, "data": [{"b64_json": "' + b64(png(5, 5)).encode() + b'"}, {"b64_json": "'
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the second image arrives
        yield b"iVBOR"

    real_keep_after = Spools.keep_after

    def then_sigterm(self: Spools, error: BaseException):
        os.kill(os.getpid(), signal.SIGTERM)  # a supervisor's SIGTERM as the first one is handled
        return real_keep_after(self, error)

    monkeypatch.setattr(Spools, "keep_after", then_sigterm)
    mock = MockTransport(lambda request: Reply.of(200, body(), {"Content-Type": "application/json"}))
    with use_transport(mock):
        run = cli("--prompt", "p", "--n", "2", "--out", "o.png")
    assert run.code == 130, run.err
    assert (isolated / "o.png").read_bytes() == png(5, 5) and str(isolated / "o.png") in run.err
    assert [p.name for p in isolated.iterdir()] == ["o.png"]


def test_after_sigterm_a_ctrl_c_the_caller_ignores_stays_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagegate.cli import _sigterm_interrupts
    from imagegate.errors import Interrupted

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup, or a job started with &
    try:
        with pytest.raises(Interrupted), _sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next instruction
                pass
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
