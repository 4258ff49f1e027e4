"""Fixtures: every test runs in its own HOME and config folder, with a canary OPENAI_API_KEY."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from imagegate import ledger, plugins
from imagegate.cli import main
from imagegate.testing import CliResult

from .support.faultserver import FaultServer, configured_server
from .support.helpers import API_KEY, BASE, CANARY_ENV_KEY, write_config

#: Hypothesis profiles: "default" keeps the suite fast; IMAGEGATE_HYPOTHESIS=thorough (say, nightly
#: or before a release) tries ten times as many examples. No deadline: a slow machine is no failure.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("IMAGEGATE_HYPOTHESIS", "default"))


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME, XDG folders and working folder per test; OPENAI_API_KEY is a canary."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_ENV_KEY)
    # the account's own ledger (a budget's, whatever the environment says) stays in this test too
    account_ledger = home / ".local" / "state" / "imagegate" / "ledger.jsonl"
    monkeypatch.setattr(ledger, "account_ledger_path", lambda: account_ledger)
    for name in (
        "IMAGEGATE_LOAD_PLUGINS",
        "IMAGEGATE_STRICT_PLUGINS",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The default config folder of the isolated HOME."""
    return tmp_path / "home" / ".config" / "gpt-image-2-apikey"


@pytest.fixture
def make_config(config_dir: Path):
    """Write the default config file (seed flat form by default) and return its path."""

    def make(data: dict[str, Any] | None = None, **keys: Any) -> Path:
        document = data if data is not None else {"api_key": API_KEY, "base_url": BASE, **keys}
        return write_config(config_dir / "config.json", document)

    return make


@pytest.fixture
def server(make_config) -> Iterator[FaultServer]:
    """A running FaultServer (127.0.0.1) with the default config pointing the default provider at it."""
    yield from configured_server(make_config)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run the imagegate CLI in-process; returns exit code, stdout and stderr (imagegate.testing's record)."""

    def run(*args: str) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def fresh_plugins():
    """Forget loaded plugins before and after a test that changes what is installed or allowed."""
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no known secrets, so a redaction test cannot pass thanks to another test."""
    from imagegate import secret

    monkeypatch.setattr(secret, "_known", set())
    monkeypatch.setattr(secret, "_keys", set())
    monkeypatch.setattr(secret, "_own", {})
    monkeypatch.setattr(secret, "_hidden_headers", set())
    monkeypatch.setattr(secret, "_hidden_query", set())
