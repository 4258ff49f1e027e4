"""Errors a user meets say what to do next, in one line, without echoing what they typed."""

from __future__ import annotations

from pathlib import Path

from .support.helpers import API_KEY, GEN, b64, png, write_config


def test_a_usage_mistake_is_one_error_line_and_a_hint_not_a_usage_block(cli) -> None:
    run = cli("--n", "abc", "--prompt", "p")
    assert run.code == 2
    assert run.err.splitlines() == ["error: argument --n: invalid int value", "hint: see imagegate --help"]


def test_an_unknown_word_is_counted_and_the_commands_are_named(cli) -> None:
    run = cli("nosuchcommand")
    assert run.code == 2
    assert "1 other word(s), not shown; commands are: batch, config, mcp, providers" in run.err
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


def test_a_library_error_never_carries_the_key_even_in_type_or_code(make_config, requests_mock) -> None:
    import imagegate

    make_config()
    error = {"error": {"message": f"bad key {API_KEY}", "type": API_KEY, "code": API_KEY[3:]}}
    requests_mock.post(GEN, status_code=401, json=error)
    try:
        imagegate.generate("p", out="o.png")
    except imagegate.ProviderRefused as exc:
        text = " ".join([str(exc), repr(exc), exc.code or "", *exc.hints])
        assert API_KEY[-12:] not in text and API_KEY[3:15] not in text
    else:
        raise AssertionError("a 401 was not an error")


def test_a_library_result_never_carries_an_echoed_key(make_config, requests_mock) -> None:
    import imagegate

    make_config()
    answer = {"data": [{"b64_json": b64(png()), "revised_prompt": API_KEY}], "usage": {"note": API_KEY}}
    requests_mock.post(GEN, json=answer, headers={"x-request-id": API_KEY})
    result = imagegate.generate("p", out="o.png")
    text = repr(result) + str(result.to_json())
    assert API_KEY[-12:] not in text


def test_hints_name_a_non_default_config(cli, tmp_path: Path) -> None:
    path = write_config(tmp_path / "other.json", {"api_key": "sk-with a space-0123456789"})
    run = cli("--config", path, "--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert f"imagegate config init --force --config {path}" in run.err


def test_config_check_reports_a_bad_key_as_a_problem_not_a_missing_default(cli, config_dir: Path) -> None:
    write_config(config_dir / "config.json", {"api_key": "sk-with a space-0123456789"})
    run = cli("config", "check")
    assert run.code == 2
    assert "every run must choose one" not in run.out + run.err


def test_config_check_refuses_a_default_size_every_run_would_refuse(cli, config_dir: Path) -> None:
    write_config(config_dir / "config.json", {"api_key": API_KEY, "size": "12x"})
    run = cli("config", "check")
    assert run.code == 2
    assert "--size" in run.err
