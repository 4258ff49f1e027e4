"""Installing plugin distributions for tests without touching the test virtualenv.

A distribution is copied to a temporary folder (so parallel builds never share a ``build/``) and
installed with ``pip install --no-deps --no-build-isolation --target``; ``imagegate`` then runs in
a subprocess with that folder on ``PYTHONPATH``. Installs are cached per pytest worker for the
session, so each worker installs each distribution at most once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
AZURE = ROOT / "examples" / "imagegate-azure"
#: The example plugins, by distribution name (the other names are folders of tests/plugins).
EXAMPLES = {"imagegate-azure": AZURE, "imagegate-bfl": ROOT / "examples" / "imagegate-bfl"}


def install(source: Path, workdir: Path) -> Path:
    """Install the distribution in ``source`` into ``workdir/target``; return the target folder."""
    copy = workdir / "src"
    shutil.copytree(
        source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests")
    )
    target = workdir / "target"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    command += ["--no-index", "--disable-pip-version-check", "--target", str(target), str(copy)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip install {source.name} failed:\n{done.stdout}\n{done.stderr}"
    return target


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``installed("imagegate-tiny")``: the target folder of that distribution, installed once per worker.

    Names are folders of tests/plugins, or an example plugin (``imagegate-azure``, ``imagegate-bfl``).
    """
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            source = EXAMPLES.get(name, PLUGINS / name)
            cache[name] = install(source, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


def run_imagegate(
    *args: Any, paths: Iterable[Path] = (), env: dict[str, str] | None = None, python: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m imagegate ARGS`` (or ``python -c PYTHON ARGS``) with ``paths`` on PYTHONPATH.

    Unless ``env`` sets IMAGEGATE_LOAD_PLUGINS, only the distributions in ``paths`` load, so plugins
    a developer installed in the virtualenv stay out of the tests.
    """
    paths = list(paths)
    given = ",".join(dist.metadata["Name"] for dist in metadata.distributions(path=[str(p) for p in paths]))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    environment.update({"IMAGEGATE_LOAD_PLUGINS": given, **(env or {})})
    head = ["-c", python] if python else ["-m", "imagegate"]
    return subprocess.run(
        [sys.executable, *head, *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def warnings_in(stderr: str) -> list[str]:
    """The ``warning:`` lines of a run's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def entry_point(module: str, name: str | None = None) -> metadata.EntryPoint:
    """An ``imagegate`` entry point for ``module``, as an installed distribution would declare it."""
    return metadata.EntryPoint(name=name or module, value=module, group="imagegate")


@pytest.fixture
def fake_distributions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_plugins: None):
    """Add in-process "installed" distributions: ``add(dist, source, version)`` writes ``source`` as a
    module of its own and makes it an entry point of ``dist``; plugins reload on next use."""
    from imagegate import plugins

    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    extra: list[tuple[str, str, metadata.EntryPoint]] = []
    real = plugins._entry_points
    builtins = [
        entry for entry in real() if entry[0] == plugins.OWN_DISTRIBUTION
    ]  # installed plugins stay out
    monkeypatch.setattr(plugins, "_entry_points", lambda: builtins + extra)

    def add(dist: str, source: str, version: str = "1.0") -> str:
        module = f"fake_{dist.replace('-', '_')}_{len(extra)}_{abs(hash(str(tmp_path))) % 10**8}"
        (folder / f"{module}.py").write_text(source, encoding="utf-8")
        extra.append((dist, version, entry_point(module)))
        plugins.reset()
        return module

    yield add
    for _, _, ep in extra:
        sys.modules.pop(ep.value, None)
