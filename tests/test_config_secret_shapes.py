"""Config secrets in every shape: a number under a credential name, a value of the wrong type under
``headers``/``query``/``extra_body`` in a schema error, and descriptive headers that are no secret
(RED-TEAM 2: B2, B3, B4, U1)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from imagegate import secret
from imagegate.config import remember_secrets

from .support.faultserver import Reply
from .support.helpers import API_KEY, images_answer, png

SHORT = "pAssW0rdXYZ123abc"  # 17 characters: under the old 24-character limit


def profile(**extra: object) -> dict[str, object]:
    return {"api_key": API_KEY, "provider": "compatible", "base_url": "https://gw.example/v1", **extra}


@pytest.mark.parametrize("value", [918273645546372819, 3.14159265358979, ["abc", 98765432123456789]])
def test_a_number_under_a_credential_name_is_not_shown_and_stdout_stays_json(cli, make_config, value) -> None:
    make_config(profile(extra_body={"apiKey": value}))
    run = cli("--prompt", "p", "--out", "a.png", "--dry-run")
    assert run.code == 0, run.err
    json.loads(run.out)  # still valid JSON
    for number in value if isinstance(value, list) else [value]:
        if not isinstance(number, str):
            assert str(number) not in run.out + run.err


@pytest.mark.parametrize(
    "extra",
    [
        {"headers": {"X-K": {"v": SHORT}}},
        {"headers": [SHORT]},
        {"query": "sig=" + SHORT},
        {"query": {"sig": {"v": SHORT}}},
        {"extra_body": "apiKey=" + SHORT},
        {"auth_header": "X-Key " + SHORT},
        {"model": [SHORT]},
    ],
)
def test_a_schema_error_never_repeats_a_value_that_may_be_a_credential(cli, make_config, extra) -> None:
    make_config(profile(**extra))
    run = cli("--prompt", "p", "--out", "a.png", "--dry-run")
    assert run.code == 2
    assert "invalid config" in run.err and SHORT not in run.err and SHORT[:12] not in run.err


def test_a_descriptive_header_value_is_no_secret_so_the_saved_path_is_shown(cli, make_config, server) -> None:
    make_config(profile(base_url=server.base_url, headers={"X-Title": "catposter", "X-Env": "abcdefgh1"}))
    server.generations(Reply(body=images_answer(png())))
    run = cli("--prompt", "p", "--out", "catposter.png")
    assert run.code == 0, run.err
    assert json.loads(run.out)["output_paths"][0].endswith("catposter.png")
    remember_secrets({"headers": {"HTTP-Referer": "https://my.app/", "X-Custom": "abcdefgh2"}})
    assert secret.redact("https://my.app/ abcdefgh2") == f"https://my.app/ {secret.REDACTED}"


@pytest.mark.parametrize(
    "args",
    [
        ("--prompt", "p", "--provider", "sk-proj-AbCdEf0123456789XyZ", "--dry-run"),
        ("--prompt", "p", "--profile", "sk-proj-AbCdEf0123456789XyZ", "--dry-run"),
        ("usage", "--since", "sk-proj-AbCdEf0123456789XyZ"),
        ("config", "init", "--config", "c2.json", "--base-url", "http://sk-proj-AbCdEf0123456789XyZ/"),
    ],
)
def test_a_value_pasted_into_a_flag_is_not_repeated(cli, make_config, monkeypatch, args) -> None:
    make_config(profile())
    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-abcdefghijklmnopqrstu\n"))
    run = cli(*args)
    assert run.code == 2, run.err
    assert "abcdef0123456789" not in run.err.lower()


def test_a_config_value_inside_an_output_path_does_not_hide_where_the_image_went(
    cli, make_config, isolated, requests_mock
) -> None:
    from .support.helpers import images_answer, png

    make_config(
        {
            "api_key": "sk-test-0123456789abcdefABCDEF",
            "base_url": "https://api.example.test/v1",
            "headers": {"X-Team": "design-team"},
            "extra_body": {"image_tokens": 1024},
        }
    )
    requests_mock.post("https://api.example.test/v1/images/generations", json=images_answer(png(4, 4)))
    (isolated / "design-team").mkdir()
    run = cli("--prompt", "p", "--out", "design-team/poster.png")
    assert run.code == 0, run.err
    assert run.json["output_paths"] == [str(isolated / "design-team" / "poster.png")]
    assert run.json["images"][0]["width"] == 4  # a short number under a credential-like name stays a number
    assert "design-team" not in json.dumps(
        run.json.get("provider_extras", {})
    )  # the header value itself is hidden


@pytest.mark.parametrize("name", ["monkey_mode", "turkey", "hockey_team", "prompt_cache_key", "hotkey"])
def test_words_that_merely_end_in_key_are_not_credentials(name) -> None:
    from imagegate.config import is_credential_name

    assert not is_credential_name(name)
