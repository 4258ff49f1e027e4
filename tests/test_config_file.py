"""The private config file: where it is, both forms, profiles, and one clear message per mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.config import default_path

from .support.helpers import API_KEY, GEN, KEY_TAIL, images_answer, png, write_config


def test_default_path_follows_xdg_config_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "gpt-image-2-apikey" / "config.json"


def test_default_path_without_xdg_is_under_home_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_path() == tmp_path / "home" / ".config" / "gpt-image-2-apikey" / "config.json"


def test_seed_flat_config_is_used_with_its_defaults(cli, make_config, requests_mock) -> None:
    make_config({"api_key": API_KEY})
    requests_mock.post("https://api.openai.com/v1/images/generations", json=images_answer(png()))
    run = cli("--prompt", "a fox", "--out", "fox.png")
    assert run.code == 0, run.err
    sent = requests_mock.request_history[0]
    assert sent.json()["model"] == "gpt-image-2"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"


def test_extra_body_is_merged_last(cli, make_config, requests_mock) -> None:
    make_config(extra_body={"moderation": "low", "size": "1536x1024"})
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "o.png", "--size", "1024x1024").code == 0
    body = requests_mock.request_history[0].json()
    assert body["moderation"] == "low"
    assert body["size"] == "1536x1024"


def test_profile_flag_picks_a_profile(cli, make_config, requests_mock) -> None:
    make_config(
        {
            "default_profile": "main",
            "profiles": {
                "main": {"api_key": "sk-main-aaaaaaaaaaaaaaaa", "base_url": "https://main.example.test/v1"},
                "other": {"api_key": API_KEY, "base_url": "https://other.example.test/v1", "model": "m2"},
            },
        }
    )
    requests_mock.post("https://other.example.test/v1/images/generations", json=images_answer(png()))
    run = cli("--profile", "other", "--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert requests_mock.request_history[0].json()["model"] == "m2"


def test_default_profile_is_used_without_flag(cli, make_config, requests_mock) -> None:
    make_config(
        {
            "default_profile": "main",
            "profiles": {"main": {"api_key": API_KEY, "base_url": "https://main.example.test/v1"}, "x": {}},
        }
    )
    requests_mock.post("https://main.example.test/v1/images/generations", json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "o.png").code == 0


def test_profile_defaults_fill_unset_flags_but_flags_win(cli, make_config, requests_mock) -> None:
    make_config(quality="high", size="1536x1024")
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "a.png", "--size", "1024x1536").code == 0
    body = requests_mock.request_history[0].json()
    assert (body["quality"], body["size"]) == ("high", "1024x1536")


def test_unknown_profile_is_named_with_the_known_ones(cli, make_config) -> None:
    make_config({"profiles": {"a": {"api_key": API_KEY}, "b": {"api_key": API_KEY}}})
    run = cli("--profile", "c", "--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert "no profile 'c'" in run.err and "a, b" in run.err


def test_bad_adapter_key_gets_one_message_with_its_json_path(cli, make_config) -> None:
    path = make_config(
        {
            "profiles": {"proxy": {"provider": "compatible", "api_key": API_KEY, "image_field": "images"}},
        }
    )
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert f"invalid config {path}" in run.err
    assert "profiles.proxy.image_field: 'images' is not one of ['image', 'image[]']" in run.err
    assert "Traceback" not in run.err
    assert len([line for line in run.err.splitlines() if line.startswith("error:")]) == 1


def test_wrong_type_in_core_key_names_the_path(cli, make_config) -> None:
    make_config({"api_key": API_KEY, "extra_body": ["not", "an", "object"]})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert "extra_body: expected 'object', got an array" in run.err  # its value is never repeated


def test_a_bad_key_value_is_never_shown(cli, config_dir: Path) -> None:
    secret = "sk-bad-but-secret-" + "z" * 30
    write_config(config_dir / "config.json", {"profiles": {"p": {"api_key": secret, "base_url": 42}}})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert "profiles.p.base_url" in run.err
    assert secret not in run.err + run.out and secret[-12:] not in run.err + run.out


def test_non_string_key_is_reported_without_its_value(cli, config_dir: Path) -> None:
    write_config(config_dir / "config.json", {"api_key": 12345678901234})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert "api_key: must be a non-empty string" in run.err
    assert "12345678901234" not in run.err


def test_invalid_json_is_one_message_with_position(cli, config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "config.json"
    path.write_text(f'{{"api_key": "{API_KEY}",,}}')
    path.chmod(0o600)
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert f"config {path} is not valid JSON" in run.err and "line 1" in run.err
    assert API_KEY not in run.err and KEY_TAIL not in run.err


def test_missing_config_says_how_to_create_one(cli, config_dir: Path) -> None:
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert str(config_dir / "config.json") in run.err
    assert "imagegate config init" in run.err


def test_explicit_missing_config_path_is_an_error_even_for_placeholder(cli, tmp_path: Path) -> None:
    run = cli("--config", str(tmp_path / "nope.json"), "--provider", "placeholder", "--prompt", "p")
    assert run.code == 2
    assert "no config file" in run.err


def test_config_flag_overrides_default_location(cli, tmp_path: Path, requests_mock) -> None:
    path = write_config(
        tmp_path / "elsewhere" / "config.json", {"api_key": API_KEY, "base_url": "https://x.example.test/v1"}
    )
    requests_mock.post("https://x.example.test/v1/images/generations", json=images_answer(png()))
    assert cli("--config", str(path), "--prompt", "p", "--out", "o.png").code == 0


def test_openai_api_key_environment_variable_is_never_used(cli, requests_mock, config_dir: Path) -> None:
    # conftest sets OPENAI_API_KEY to a canary; with no config file nothing may be sent with it.
    requests_mock.post("https://api.openai.com/v1/images/generations", json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert requests_mock.call_count == 0


def test_no_flag_accepts_a_key(cli) -> None:
    for flag in ("--api-key", "--key", "--token"):
        run = cli(flag, API_KEY, "--prompt", "p")
        assert run.code == 2
        assert "never takes an API key on the command line" in run.err
        assert API_KEY not in run.out + run.err


def test_unrecognised_argument_values_are_not_echoed(cli) -> None:
    run = cli("--prompt", "p", "--bogus", API_KEY)
    assert run.code == 2
    assert "--bogus" in run.err
    assert API_KEY not in run.err


def test_unknown_profile_keys_warn_but_work(cli, make_config, requests_mock) -> None:
    make_config(colour="blue")
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 0
    assert "unknown key(s) colour" in run.err
    assert "unknown key(s) colour" in json.dumps(run.json["warnings"])


def test_a_key_pasted_into_the_wrong_place_is_not_echoed(cli, config_dir: Path) -> None:
    pasted = "sk-proj-pasted-in-the-wrong-place-0123456789"
    write_config(config_dir / "config.json", {"profiles": {"a": pasted}})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert "profiles.a: expected 'object', got a str" in run.err
    assert pasted not in run.err and pasted[-12:] not in run.err
    write_config(config_dir / "config.json", {"api_key": API_KEY, "base_url": pasted})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 2 and "base_url" in run.err and pasted not in run.err
