"""The bfl example plugin (examples/imagegate-bfl), pip-installed and driven through `imagegate` itself.

Each run is a subprocess with the installed copy on PYTHONPATH, exactly as after
``pip install ./examples/imagegate-bfl`` (see tests/support/plugins.py), against the plugin's own
fake BFL API on 127.0.0.1: submit and polls on one port, the signed sample URLs on another.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .support import plugins as plugin_support
from .support.helpers import png
from .support.plugins import ROOT, run_imagegate, warnings_in

installed = plugin_support.installed  # a session fixture: installs each distribution once per worker
pytestmark = pytest.mark.slow

KEY = "bfl-key-for-the-cli-test-0123456789"
IMAGE = png(32, 24)
STILL_THERE = "job {} at bfl was submitted and may still finish (and be billed); it was not cancelled"


def _fake_module() -> ModuleType:
    """The plugin's fake BFL server (its tests' own module), loaded from its file."""
    path = ROOT / "examples" / "imagegate-bfl" / "tests" / "fake_bfl.py"
    spec = importlib.util.spec_from_file_location("imagegate_bfl_fake", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake(make_config) -> Iterator[Any]:
    """A fake BFL on 127.0.0.1, and the default config (flat form) pointing at it."""
    with _fake_module().FakeBFL(KEY, image=IMAGE) as server:
        make_config({"api_key": KEY, "base_url": server.base_url, "poll_interval": 0.01})
        yield server


def bfl(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``imagegate --provider bfl ARGS`` with the installed plugin."""
    return run_imagegate("--provider", "bfl", *args, paths=[target])


def test_pending_a_few_times_then_ready_saves_the_image(installed, fake) -> None:
    fake.plan("Pending", "Pending", "Pending", "Ready")
    target = installed("imagegate-bfl")
    run = bfl(target, "--prompt", "a lighthouse at dusk", "--size", "1024x768", "--out", "x.png")
    assert run.returncode == 0, run.stderr
    assert Path("x.png").read_bytes() == IMAGE
    document = json.loads(run.stdout)
    assert (document["provider"], document["model"]) == ("bfl", "flux-2-pro")
    (submit,) = fake.submits
    assert submit.path == "/v1/flux-2-pro" and submit.headers["x-key"] == KEY
    assert (submit.json["width"], submit.json["height"]) == (1024, 768)
    assert len(fake.polls) == 4 and all(poll.headers["x-key"] == KEY for poll in fake.polls)
    (download,) = fake.downloads
    assert "x-key" not in download.headers
    assert KEY not in run.stdout + run.stderr
    assert warnings_in(run.stderr) == []


def test_a_moderated_job_is_exit_4(installed, fake) -> None:
    fake.plan("Pending", "Content Moderated")
    run = bfl(installed("imagegate-bfl"), "--prompt", "p", "--out", "x.png")
    assert run.returncode == 4, run.stderr
    assert "job fake-0001 at bfl: Content Moderated" in run.stderr
    assert "Traceback" not in run.stderr and not Path("x.png").exists()


def test_a_job_stuck_in_pending_ends_at_the_timeout_naming_its_id(installed, fake) -> None:
    fake.plan("Pending")
    run = bfl(installed("imagegate-bfl"), "--prompt", "p", "--out", "x.png", "--timeout", "1.5")
    assert run.returncode == 5, run.stderr
    assert "timed out after 1.5 s" in run.stderr
    assert STILL_THERE.format("fake-0001") in run.stderr
    assert len(fake.submits) == 1


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_while_pending_names_the_job(installed, fake, stop, code) -> None:
    fake.plan("Pending")
    target = installed("imagegate-bfl")
    environment = {**os.environ, "PYTHONPATH": str(target), "IMAGEGATE_LOAD_PLUGINS": "imagegate-bfl"}
    command = [sys.executable, "-m", "imagegate", "--provider", "bfl", "--prompt", "p", "--out", "x.png"]
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # whatever the runner ignores
    )
    try:
        assert fake.wait_for_polls(2), "the job was never polled"
        process.send_signal(stop)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == code, err
    assert STILL_THERE.format("fake-0001") in err
    assert "Traceback" not in err and len(fake.submits) == 1


def test_providers_lists_bfl_with_its_distribution_poll_and_schema(installed) -> None:
    run = run_imagegate("providers", "--json", paths=[installed("imagegate-bfl")])
    assert run.returncode == 0, run.stderr
    row = next(row for row in json.loads(run.stdout)["providers"] if row["name"] == "bfl")
    assert (row["distribution"], row["version"]) == ("imagegate-bfl", "0.1.0")
    assert "poll" in row["operations"] and "mask" not in row["operations"]
    assert row["config_schema"] == "imagegate_bfl/bfl.schema.json"
