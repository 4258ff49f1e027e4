"""docs/plugins.md must stay true: its example plugin, typed out as written, installs and works."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imagegate import hookspecs
from imagegate.testing import FakeProvider, write_config

from .support import plugins as plugin_support
from .support.helpers import png
from .support.plugins import install, run_imagegate

GUIDE = plugin_support.ROOT / "docs" / "plugins.md"
FILE_BLOCK = re.compile(r"^```\w+ file=(\S+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
pytestmark = pytest.mark.slow


def typed_out(folder: Path) -> Path:
    """Write every ``file=`` block of the guide under ``folder``, as a reader would; return the project."""
    blocks = FILE_BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert {name for name, _ in blocks} >= {
        "imagegate-hello/pyproject.toml",
        "imagegate-hello/imagegate_hello.py",
        "imagegate-later/pyproject.toml",
        "imagegate-later/imagegate_later.py",
    }
    for name, text in blocks:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide's files, typed out."""
    return typed_out(tmp_path_factory.mktemp("guide"))


@pytest.fixture(scope="module")
def hello(guide: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The guide's example: (project folder, installed target folder)."""
    project = guide / "imagegate-hello"
    return project, install(project, tmp_path_factory.mktemp("hello-install"))


@pytest.fixture(scope="module")
def later(guide: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The guide's async example: (project folder, installed target folder)."""
    project = guide / "imagegate-later"
    return project, install(project, tmp_path_factory.mktemp("later-install"))


def run_its_tests(project: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """Run a typed-out example's own tests, as its author would, against its installed copy."""
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_guide_shows_the_real_hookspec() -> None:
    source = Path(hookspecs.__file__).read_text(encoding="utf-8")
    guide = GUIDE.read_text(encoding="utf-8")
    for spec in hookspecs.SPECS:
        signature = re.search(
            rf"^def {spec.__name__}\(.*?\n    \"\"\".*?\"\"\"$", source, re.DOTALL | re.MULTILINE
        )
        assert signature is not None and signature.group(0) in guide


def test_guide_example_plugin_is_listed_after_install(hello) -> None:
    _, target = hello
    run = run_imagegate("providers", "--json", paths=[target])
    assert run.returncode == 0, run.stderr
    row = next(row for row in json.loads(run.stdout)["providers"] if row["name"] == "hello")
    assert (row["distribution"], row["version"]) == ("imagegate-hello", "0.1.0")
    assert row["operations"] == ["generate", "edit", "mask"]


def test_guide_example_plugin_generates_through_the_cli(hello) -> None:
    _, target = hello
    image = png(10, 10)
    with FakeProvider() as fake:
        fake.answer_json({"images": [{"base64": base64.b64encode(image).decode()}]})
        config = write_config(Path("c.json"), {"provider": "hello", "api_key": "k-123", "base_url": fake.url})
        run = run_imagegate("--config", config, "--prompt", "a red kite", "--out", "kite.png", paths=[target])
        assert run.returncode == 0, run.stderr
        assert fake.last.path == "/draw"
        assert fake.last.header("X-Hello-Key") == "k-123"
    assert Path("kite.png").read_bytes() == image


def test_guide_example_tests_pass_as_written(hello) -> None:
    done = run_its_tests(*hello)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_guide_async_example_is_listed_as_polling(later) -> None:
    _, target = later
    run = run_imagegate("providers", "--json", paths=[target])
    assert run.returncode == 0, run.stderr
    row = next(row for row in json.loads(run.stdout)["providers"] if row["name"] == "later")
    assert row["operations"] == ["generate", "poll"]


def test_guide_async_example_tests_pass_as_written(later) -> None:
    done = run_its_tests(*later)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
