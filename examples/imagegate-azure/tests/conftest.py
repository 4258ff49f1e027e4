"""Fixtures for the plugin's tests: the azure provider registered, a fake Azure on 127.0.0.1.

The tests run without installing the plugin: its source folder is put on sys.path when the
package is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:
    import imagegate_azure  # noqa: F401  (installed)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from imagegate_azure.adapter import AzureAdapter

from imagegate.testing import FakeProvider, provider_fixture, write_config

KEY = "azure-test-key-0123456789abcdef"

azure = provider_fixture(AzureAdapter, distribution="imagegate-azure")


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
def fake():
    with FakeProvider() as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, fake: FakeProvider):
    """Write a config for the azure provider pointed at the fake; keys override the defaults."""

    def make(**keys: object) -> Path:
        profile = {"provider": "azure", "api_key": KEY, "endpoint": fake.url, "deployment": "img", **keys}
        return write_config(tmp_path / "config.json", {k: v for k, v in profile.items() if v is not None})

    return make
