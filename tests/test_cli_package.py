"""The command package: one module per command word, listed in one plain table."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from imagegate.cli import COMMANDS, main
from imagegate.cli.providers import describe_record
from imagegate.options import EDIT, GENERATE, POLL


@pytest.mark.parametrize("word", sorted(COMMANDS))
def test_every_command_word_names_a_module_with_a_command_function(word: str) -> None:
    module = importlib.import_module(f"imagegate.cli.{COMMANDS[word]}")
    assert callable(module.command)


def test_stray_words_are_not_echoed_and_the_commands_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bacth", "sk-secretish"]) == 2
    err = capsys.readouterr().err
    assert "sk-secretish" not in err and "bacth" not in err
    assert "commands are: batch, config, mcp, providers" in err


def test_providers_lists_poll_for_a_provider_that_answers_later() -> None:
    adapter = SimpleNamespace(
        operations=frozenset({GENERATE, EDIT, POLL}),
        needs_key=True,
        is_default=False,
        description="answers later",
        config_schema_location=lambda: "x.schema.json",
    )
    record = SimpleNamespace(name="later", distribution="later-dist", version="1", adapter=adapter)
    assert describe_record(record)["operations"] == [GENERATE, EDIT, POLL]
