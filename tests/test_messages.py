"""Errors a user meets say what to do next, in one line, without echoing what they typed."""

from __future__ import annotations

from pathlib import Path

from helpers import API_KEY, GEN, b64, png, write_config


def test_a_usage_mistake_is_one_error_line_and_a_hint_not_a_usage_block(cli) -> None:
    run = cli("--n", "abc", "--prompt", "p")
    assert run.code == 2
    assert run.err.splitlines() == ["error: argument --n: invalid int value", "hint: see imagegate --help"]


def test_an_unknown_word_is_counted_and_the_commands_are_named(cli) -> None:
    run = cli("nosuchcommand")
    assert run.code == 2
    assert "1 other word(s), not shown; commands are: batch, config, providers" in run.err
    assert "nosuchcommand" not in run.err


def test_config_check_refuses_a_base_url_every_run_would_refuse(cli, config_dir: Path) -> None:
    write_config(
        config_dir / "config.json", {"api_key": API_KEY, "base_url": "http://gateway.example.com/v1"}
    )
    run = cli("config", "check")
    assert run.code == 2
    assert "plaintext HTTP" in run.err


def test_profile_on_a_flat_config_says_how_to_add_one(cli, make_config) -> None:
    make_config()
    run = cli("--profile", "work", "--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert "imagegate config init --profile work" in run.err


def test_a_missing_config_named_with_config_gets_a_matching_init_hint(cli, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere.json"
    run = cli("--config", missing, "--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert f"imagegate config init --config {missing}" in run.err


def test_a_failed_download_says_the_image_was_probably_billed_and_where_it_is(
    cli, make_config, requests_mock
) -> None:
    make_config()
    url = "https://cdn.example.test/img/paid.png"
    requests_mock.post(GEN, json={"data": [{"b64_json": b64(png())}, {"url": url}]})
    requests_mock.get(url, status_code=500)
    run = cli("--prompt", "p", "--out", "o.png", "--n", "2")
    assert run.code == 6
    assert "probably billed" in run.err and url in run.err
    assert "were saved" in run.err


def test_a_key_pasted_as_provider_is_not_echoed(cli) -> None:
    run = cli("--provider", API_KEY + API_KEY, "--prompt", "p")
    assert run.code == 2
    assert "unknown provider (a long name, not shown)" in run.err
    assert API_KEY not in run.err
