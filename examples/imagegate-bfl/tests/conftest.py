"""Fixtures for the plugin's tests: the bfl provider registered, a fake BFL API on 127.0.0.1.

The tests run without installing the plugin: its source folder is put on sys.path when the
package is not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import imagegate_bfl  # noqa: F401  (installed)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fake_bfl import FakeBFL
from imagegate_bfl.adapter import BflAdapter

from imagegate.testing import provider_fixture, tiny_png, write_config

KEY = "bfl-test-key-0123456789abcdef"

bfl = provider_fixture(BflAdapter, distribution="imagegate-bfl")


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and working folder, so no real config is ever read."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def key() -> str:
    """The fake key every test config carries."""
    return KEY


@pytest.fixture
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(KEY, image=tiny_png(16, 12)) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, fake: FakeBFL):
    """Write a config for the bfl provider pointed at the fake; keys override the defaults."""

    def make(**keys: object) -> Path:
        profile = {"provider": "bfl", "api_key": KEY, "base_url": fake.base_url, "poll_interval": 0.01}
        profile.update(keys)
        return write_config(tmp_path / "config.json", {k: v for k, v in profile.items() if v is not None})

    return make
