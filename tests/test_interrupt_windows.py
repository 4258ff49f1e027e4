"""Ctrl-C landing the instant after a temp file is made, before its owner has recorded it.

Each test sends SIGINT to this process from inside the call that creates the file, which is the
narrowest window there is: the owner must still find and remove the file (or finish with it),
so no ``.part`` or ``.tmp`` file is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegate import config_write, manifest, remote_collect
from imagegate.config import Profile
from imagegate.keep import Previews
from imagegate.manifest import Manifest, write_new
from imagegate.output import OutputPlan
from imagegate.providers.openai import OpenAIAdapter
from imagegate.spool import MemorySpool

from .support.helpers import b64, png

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signals reach the main thread only",
)


class Stopped(Exception):
    """What this file's SIGINT handler raises (so the runner's own Ctrl-C handling is not involved)."""


@pytest.fixture(autouse=True)
def sigint_raises_stopped() -> Iterator[None]:
    def stop(signum: int, frame: Any) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """A folder of this test's own (the suite's isolation puts a home beside it)."""
    folder = tmp_path / "here"
    folder.mkdir()
    return folder


def interrupting(make: Callable[..., Any]) -> Callable[..., Any]:
    """``make``, followed at once by SIGINT to this process."""

    def made(*args: Any, **kwargs: Any) -> Any:
        result = make(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result

    return made


def test_a_preview_interrupted_as_its_temp_file_is_made_leaves_nothing(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OutputPlan, "new_spool", interrupting(OutputPlan.new_spool))
    previews = Previews(OutputPlan(here / "o.png", 1, False), 1, lambda text: None)
    spool = MemorySpool()
    spool.write(png(4, 4))
    with pytest.raises(Stopped):
        previews.save(spool, 0.1)
    assert list(here.iterdir()) == []


def test_a_batch_result_interrupted_as_its_temp_file_is_made_leaves_nothing(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_collect, "FileSpool", interrupting(remote_collect.FileSpool))
    adapter = OpenAIAdapter(Profile(None, "openai", None, "https://api.example.test/v1", None))
    out = here
    collector = remote_collect.Collector(
        Manifest(out / ".imagegate-batch.json", lock=False), out, adapter, {}, lambda text: None
    )
    line = {
        "custom_id": "job-1",
        "response": {"status_code": 200, "body": {"data": [{"b64_json": b64(png(4, 4))}]}},
    }
    with pytest.raises(Stopped):
        list(collector.read([json.dumps(line).encode() + b"\n"]))
    assert list(out.iterdir()) == []


def test_a_manifest_write_is_finished_before_an_interruption_is_taken(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest.os, "fdopen", interrupting(os.fdopen))
    target = here / ".imagegate-batch.json"
    with pytest.raises(Stopped):
        write_new(target, '{"done": {}}')
    assert [p.name for p in here.iterdir()] == [target.name]
    assert target.read_text() == '{"done": {}}'


def test_a_config_write_interrupted_as_its_temp_file_is_made_leaves_nothing(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_write.tempfile, "mkstemp", interrupting(config_write.tempfile.mkstemp))
    folder = here / "gpt-image-2-apikey"
    with pytest.raises(Stopped):
        config_write.write_private(folder / "config.json", "{}\n")
    assert list(folder.iterdir()) == []
