"""The option table is the one statement of each option: the config schema, the dataclasses, the
flags and the keywords agree with it.

Regenerate the profile keys of schemas/config.schema.json from the table with:
    python -m tests.test_option_table
"""

from __future__ import annotations

import json
import sys
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import imagegate
from imagegate import option_values
from imagegate.cli.console import Parser
from imagegate.cli.image import add_image_flags
from imagegate.config import Profile
from imagegate.download import DEFAULT_MAX_BYTES
from imagegate.options import TABLE, Asked, ImageOptions, Options, profile_properties, row
from imagegate.retry import DEFAULT_MAX_WAIT

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.json"


def render(value: Any, indent: int = 0) -> str:
    """The schema's house style: an object holding objects is spread over lines, others stay on one."""
    if not isinstance(value, dict) or not any(isinstance(item, dict) for item in value.values()):
        return json.dumps(value, ensure_ascii=False)
    inner = " " * (indent + 2)
    lines = [f"{inner}{json.dumps(key)}: {render(item, indent + 2)}" for key, item in value.items()]
    return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"


def regenerated() -> str:
    """The schema file with its profile keys rendered from the table."""
    document = json.loads(SCHEMA.read_text(encoding="utf-8"))
    document["$defs"]["profile"]["properties"] = profile_properties()
    return render(document) + "\n"


def test_the_config_schema_states_the_profile_keys_of_the_option_table() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == regenerated(), "run: python -m tests.test_option_table"


def test_asked_and_options_have_one_field_per_option_row() -> None:
    rows = [option.name for option in TABLE if option.role == "option"]
    assert sorted(rows) == sorted(f.name for f in fields(Asked)) == sorted(f.name for f in fields(Options))


def test_resolved_options_default_to_the_table() -> None:
    resolved, unset = Asked(prompt="p").resolved({}), Asked(prompt="p")
    for option in TABLE:
        if option.role == "option":
            expected = option.default if option.fill else getattr(unset, option.name)
            assert getattr(resolved, option.name) == expected
    assert resolved == Options(prompt="p")


def test_profile_keys_fill_unset_options_under_their_profile_spelling() -> None:
    resolved = Asked(prompt="p", n=2).resolved({"format": "webp", "n": 3, "timeout": 5})
    assert (resolved.output_format, resolved.n, resolved.timeout) == ("webp", 2, 5)


def test_profile_reliability_fields_default_to_the_table_and_the_core() -> None:
    profile = Profile(None, None, None, None, None)
    assert profile.max_retry_wait == row("max_retry_wait").default == DEFAULT_MAX_WAIT
    assert profile.download_max_bytes == row("download_max_bytes").default == DEFAULT_MAX_BYTES


def test_every_flag_of_the_table_is_an_image_flag_with_its_choices() -> None:
    parser = Parser(prog="imagegate")
    add_image_flags(parser)
    actions = {flag: action for action in parser._actions for flag in action.option_strings}
    for option in TABLE:
        for flag in option.flags:
            assert actions[flag].dest == option.name
            assert tuple(actions[flag].choices or ()) == option.choices


def test_keyword_aliases_come_from_the_table() -> None:
    values, _ = option_values.from_keywords({"format": "webp", "edit_image": "a.png"}, call_keys=())
    assert values == {"output_format": "webp", "images": [Path("a.png")]}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"n": 11}, "--n 11: must be a whole number from 1 to 10"),
        ({"quality": "ultra"}, "--quality ultra: must be one of low, medium"),
        ({"output_format": "gif"}, "--format gif: must be one of png, jpeg, webp"),
        ({"timeout": 0}, "--timeout 0: must be a number of seconds above 0, at most 86400"),
        ({"retries": -1}, "--retries -1: must be a whole number from 0 to 10"),
        ({"output_compression": 101}, "--output-compression 101: must be a whole number from 0 to 100"),
        ({"size": "big"}, "--size big: must be WIDTHxHEIGHT or auto"),
    ],
)
def test_values_outside_their_row_are_refused_with_the_flag_named(changes: dict[str, Any], words: str):
    with pytest.raises(imagegate.UsageError, match="^" + words.replace("(", r"\(")):
        option_values.check(Options(prompt="p").with_changes(**changes))


if __name__ == "__main__":
    SCHEMA.write_text(regenerated(), encoding="utf-8")
    print(f"wrote {SCHEMA}", file=sys.stderr)


def test_image_options_has_every_option_keyword_with_the_table_choices() -> None:
    hints = typing.get_type_hints(ImageOptions)
    for option in TABLE:
        if option.role == "option" and option.name not in ("prompt", "images", "mask"):
            for key in (option.name, *option.aliases):
                assert key in hints, key
                assert typing.get_args(hints[key]) == option.choices or not option.choices, key
    calls = {option.name for option in TABLE if option.role == "call"}
    assert calls - set(hints) == {"out", "force", "dry_run"}  # the library functions' own parameters
