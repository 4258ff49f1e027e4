"""Real plugin distributions, pip-installed into a temporary folder and used by `imagegate` itself.

Each run is a subprocess with the installed copies on PYTHONPATH, exactly as after
``pip install imagegate-tiny``; the test virtualenv is never changed (see tests/support/plugins.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.testing import FakeProvider, write_config

from .support import plugins as plugin_support
from .support.helpers import API_KEY, png
from .support.plugins import run_imagegate, warnings_in

installed = plugin_support.installed  # a session fixture: installs each distribution once per worker
pytestmark = pytest.mark.slow

AZURE_KEY = "azure-key-for-the-cli-test-0123456789"


@pytest.fixture
def fake():
    with FakeProvider() as server:
        yield server


def tiny_config(fake: FakeProvider) -> Path:
    return write_config(Path("tiny.json"), {"provider": "tiny", "api_key": API_KEY, "base_url": fake.url})


def test_installed_plugin_is_used_through_its_entry_point_from_the_cli(installed, fake) -> None:
    image = png(12, 12)
    fake.answer_b64(image)
    run = run_imagegate(
        "--config",
        tiny_config(fake),
        "--prompt",
        "a kite",
        "--out",
        "k.png",
        paths=[installed("imagegate-tiny")],
    )
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["provider"] == "tiny"
    assert document["model"] == "tiny-1"
    assert Path(document["output_paths"][0]).read_bytes() == image
    assert fake.last.path == "/images/generations"
    assert fake.last.header("X-Tiny-Key") == API_KEY
    assert warnings_in(run.stderr) == []


def test_providers_lists_the_plugin_with_its_distribution_and_version(installed) -> None:
    run = run_imagegate("providers", "--json", paths=[installed("imagegate-tiny")])
    assert run.returncode == 0, run.stderr
    rows = {row["name"]: row for row in json.loads(run.stdout)["providers"]}
    assert (rows["tiny"]["distribution"], rows["tiny"]["version"]) == ("imagegate-tiny", "0.2.0")
    assert rows["tiny"]["operations"] == ["generate"]
    assert rows["tiny"]["config_schema"] == "imagegate.schemas/openai.schema.json"


def test_broken_plugin_beside_others_leaves_every_command_working_with_one_warning(installed, fake) -> None:
    paths = [installed("imagegate-tiny"), installed("imagegate-broken")]
    runs = [
        run_imagegate("providers", paths=paths),
        run_imagegate(
            "--provider", "placeholder", "--prompt", "p", "--out", "p.png", "--size", "64x64", paths=paths
        ),
        run_imagegate("--config", tiny_config(fake), "--prompt", "p", "--out", "t.png", paths=paths),
        run_imagegate("--config", tiny_config(fake), "--prompt", "p", "--dry-run", paths=paths),
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        (warning,) = warnings_in(run.stderr)
        assert "imagegate-broken 0.0.1" in warning
        assert "RuntimeError: imagegate-broken is broken on purpose" in warning
        assert "Traceback" not in run.stderr
    assert Path("p.png").exists() and Path("t.png").exists()


SYS_MODULES_AFTER = """
import json, sys
from imagegate.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["providers", "--help"]])
def test_help_and_version_load_no_plugin(installed, args) -> None:
    paths = [installed("imagegate-tiny"), installed("imagegate-broken")]
    run = run_imagegate(*args, paths=paths, python=SYS_MODULES_AFTER)
    report = json.loads(run.stderr.splitlines()[-1])
    assert report["code"] == 0
    loaded = set(report["modules"])
    assert {"imagegate_tiny", "imagegate_broken", "pluggy", "requests", "jsonschema"}.isdisjoint(loaded)
    assert not any(name.startswith("imagegate.providers") for name in loaded)
    assert warnings_in(run.stderr) == []


def test_azure_plugin_installed_beside_imagegate_works_through_the_cli(installed, fake) -> None:
    fake.expect(
        path="/openai/deployments/gpt-image/images/generations",
        query={"api-version": "2025-04-01-preview"},
        headers={"api-key": AZURE_KEY},
    )
    image = png(20, 10)
    fake.answer_b64(image)
    config = write_config(
        Path("azure.json"), {"api_key": AZURE_KEY, "endpoint": fake.url, "deployment": "gpt-image"}
    )
    paths = [installed("imagegate-azure"), installed("imagegate-broken")]
    run = run_imagegate(
        "--provider", "azure", "--config", config, "--prompt", "a fox", "--out", "fox.png", paths=paths
    )
    assert run.returncode == 0, run.stderr
    assert Path(json.loads(run.stdout)["output_paths"][0]).read_bytes() == image
    assert len(warnings_in(run.stderr)) == 1
    assert AZURE_KEY not in run.stdout + run.stderr
    listing = json.loads(run_imagegate("providers", "--json", paths=paths).stdout)
    row = next(row for row in listing["providers"] if row["name"] == "azure")
    assert (row["distribution"], row["config_schema"]) == (
        "imagegate-azure",
        "imagegate_azure/azure.schema.json",
    )
