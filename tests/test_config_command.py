"""`imagegate config init|check|path`: a key goes into a private file without ever being shown."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from imagegate import config_write, plugins
from imagegate.adapter import Adapter

from .support.helpers import API_KEY, GEN, KEY_TAIL, images_answer, png

OTHER_KEY = "sk-other-imagegate-00112233445566778899aabbccddeeff"
FINGERPRINT = f"sk-...{API_KEY[-4:]}"


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch):
    """Make stdin a pipe carrying ``text``, as in ``echo KEY | imagegate config init``."""

    def pipe(text: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    return pipe


class _NoStdin(io.StringIO):
    def readline(self, *args: Any) -> str:  # type: ignore[override]
        raise AssertionError("stdin must not be read here")


@pytest.fixture
def no_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _NoStdin())


@pytest.fixture
def open_umask():
    """Umask 0 for the test: the modes imagegate sets must not depend on a strict umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# -- init: where the key comes from --------------------------------------------------------------
def test_init_with_piped_key_makes_private_folder_and_file_that_check_accepts(
    cli, piped, config_dir: Path, open_umask
) -> None:
    piped(API_KEY + "\n")
    run = cli("config", "init")
    assert run.code == 0, run.err
    path = config_dir / "config.json"
    assert (mode(config_dir), mode(path)) == (0o700, 0o600)
    assert read(path) == {"api_key": API_KEY}
    check = cli("config", "check")
    assert check.code == 0, check.err
    assert check.json["profiles"][0]["key"] == FINGERPRINT


def test_modes_are_exact_under_a_strict_umask(cli, piped, config_dir: Path) -> None:
    old = os.umask(0o277)  # would make the folder 0500 (unwritable) and the file 0400
    try:
        piped(API_KEY + "\n")
        run = cli("config", "init")
    finally:
        os.umask(old)
    assert run.code == 0, run.err
    assert (mode(config_dir), mode(config_dir / "config.json")) == (0o700, 0o600)


def test_init_asks_with_a_hidden_prompt_at_a_terminal(cli, monkeypatch, config_dir: Path) -> None:
    import getpass

    prompts: list[str] = []
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": prompts.append(prompt) or API_KEY)
    run = cli("config", "init", "--profile", "studio")
    assert run.code == 0, run.err
    assert len(prompts) == 1 and "hidden" in prompts[0] and API_KEY not in prompts[0]
    assert read(config_dir / "config.json")["profiles"]["studio"]["api_key"] == API_KEY


@pytest.mark.parametrize("args", [("init", API_KEY), ("init", "--api-key", API_KEY), (API_KEY,)])
def test_a_key_on_the_command_line_is_refused_without_echoing_it(cli, no_stdin, config_dir, args) -> None:
    run = cli("config", *args)
    assert run.code == 2
    assert "error:" in run.err
    assert API_KEY not in run.out + run.err and KEY_TAIL not in run.out + run.err
    assert not config_dir.exists()


def test_empty_stdin_asks_for_the_users_own_terminal(cli, piped, config_dir: Path) -> None:
    piped("")
    run = cli("config", "init")
    assert run.code == 2
    assert "no API key" in run.err and "own terminal" in run.err
    assert not config_dir.exists()


def test_a_key_with_spaces_is_refused_and_not_shown(cli, piped, config_dir: Path) -> None:
    piped(f"{API_KEY} {API_KEY}\n")
    run = cli("config", "init")
    assert run.code == 2 and "spaces" in run.err
    assert API_KEY not in run.err and KEY_TAIL not in run.err
    assert not (config_dir / "config.json").exists()


def test_a_provider_without_a_key_does_not_read_stdin(cli, no_stdin, config_dir: Path) -> None:
    run = cli("config", "init", "--profile", "offline", "--provider", "placeholder")
    assert run.code == 0, run.err
    assert read(config_dir / "config.json")["profiles"] == {"offline": {"provider": "placeholder"}}
    made = cli("--profile", "offline", "--prompt", "a kite", "--out", "kite.png", "--size", "32x32")
    assert made.code == 0, made.err


# -- init: merging into an existing file ---------------------------------------------------------
def test_existing_key_is_not_replaced_without_force(cli, piped, make_config) -> None:
    path = make_config()
    before = path.read_bytes()
    piped(OTHER_KEY + "\n")
    run = cli("config", "init")
    assert run.code == 2 and "--force" in run.err
    assert path.read_bytes() == before


def test_force_replaces_the_key_and_keeps_the_profiles_other_settings(cli, piped, make_config) -> None:
    path = make_config(extra_body={"moderation": "low"})
    piped(OTHER_KEY + "\n")
    run = cli("config", "init", "--force")
    assert run.code == 0, run.err
    assert read(path) == {
        "api_key": OTHER_KEY,
        "base_url": "https://api.example.test/v1",
        "extra_body": {"moderation": "low"},
    }
    assert mode(path) == 0o600


def test_adding_a_profile_to_a_flat_config_keeps_it_as_the_default(cli, piped, make_config) -> None:
    path = make_config(extra_body={"moderation": "low"})
    flat = read(path)
    piped(OTHER_KEY + "\n")
    run = cli(
        "config", "init", "--profile", "gw", "--provider", "compatible", "--base-url", "https://gw.test/v1"
    )
    assert run.code == 0, run.err
    assert read(path) == {
        "default_profile": "default",
        "profiles": {
            "default": flat,
            "gw": {"provider": "compatible", "base_url": "https://gw.test/v1", "api_key": OTHER_KEY},
        },
    }
    plain = cli("--prompt", "p", "--dry-run")
    assert plain.json["url"] == GEN
    named = cli("--profile", "gw", "--prompt", "p", "--dry-run")
    assert named.json["url"] == "https://gw.test/v1/images/generations"


def test_adding_a_profile_leaves_the_other_profiles_untouched(cli, piped, make_config) -> None:
    others = {
        "a": {"api_key": API_KEY, "model": "gpt-image-1"},
        "proxy": {
            "provider": "compatible",
            "api_key": "proxy-key-0123456789abcdef",
            "base_url": "https://proxy.test/v1",
            "image_field": "image",
            "drop_params": ["moderation"],
        },
    }
    path = make_config({"default_profile": "proxy", "profiles": others})
    piped(OTHER_KEY + "\n")
    run = cli("config", "init", "--profile", "b", "--model", "gpt-image-2")
    assert run.code == 0, run.err
    document = read(path)
    assert {name: document["profiles"][name] for name in others} == others
    assert document["profiles"]["b"] == {"model": "gpt-image-2", "api_key": OTHER_KEY}
    assert document["default_profile"] == "proxy"


def test_a_second_profile_keeps_the_only_one_as_the_default(cli, piped, make_config) -> None:
    path = make_config({"profiles": {"a": {"api_key": API_KEY}}})
    piped(OTHER_KEY + "\n")
    assert cli("config", "init", "--profile", "b").code == 0
    assert read(path)["default_profile"] == "a"  # runs without --profile keep using what they used
    assert cli("--prompt", "p", "--dry-run").code == 0


def test_an_existing_named_profile_needs_force(cli, piped, make_config) -> None:
    path = make_config({"default_profile": "a", "profiles": {"a": {"api_key": API_KEY}}})
    before = path.read_bytes()
    piped(OTHER_KEY + "\n")
    run = cli("config", "init", "--profile", "a")
    assert run.code == 2 and "--profile a --force" in run.err
    assert path.read_bytes() == before


def test_a_broken_config_is_left_alone_and_named(cli, no_stdin, config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "config.json"
    path.write_text('{"api_key": ', encoding="utf-8")
    os.chmod(path, 0o600)
    run = cli("config", "init", "--profile", "second")
    assert run.code == 2
    assert "not valid JSON" in run.err and "move it aside" in run.err
    assert path.read_text(encoding="utf-8") == '{"api_key": '


# -- init: validation before anything is written -------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--base-url", "api.example.com/v1"), "--base-url: must be an absolute URL"),
        (("--provider", "no-such-provider"), "unknown provider"),
        (("--model", ""), "--model"),
    ],
)
def test_bad_settings_are_refused_before_the_key_is_asked(cli, no_stdin, config_dir, args, message) -> None:
    run = cli("config", "init", *args)
    assert run.code == 2
    assert message in run.err
    assert not (config_dir / "config.json").exists()


class StrictAdapter(Adapter):
    """A provider whose own schema accepts only models named fake-*."""

    name = "strict-test"

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {"type": "object", "properties": {"model": {"type": "string", "pattern": "^fake-"}}}


def test_the_providers_own_schema_is_checked_before_the_file_is_replaced(
    cli, piped, make_config, fresh_plugins
) -> None:
    plugins.register_adapter(StrictAdapter)
    path = make_config()
    before = path.read_bytes()
    piped(OTHER_KEY + "\n")
    run = cli("config", "init", "--profile", "s", "--provider", "strict-test", "--model", "real-model")
    assert run.code == 2
    assert f"invalid config {path}#s: profiles.s.model" in run.err
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []
    assert OTHER_KEY not in run.out + run.err


def test_the_new_file_is_private_before_it_is_renamed_into_place(
    cli, piped, config_dir: Path, monkeypatch, open_umask
) -> None:
    seen: list[tuple[int, bool, bool]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append((mode(Path(src)), API_KEY in Path(src).read_text(), Path(dst).exists()))
        real_replace(src, dst)

    monkeypatch.setattr(config_write.os, "replace", spy)
    piped(API_KEY + "\n")
    run = cli("config", "init")
    assert run.code == 0, run.err
    assert seen == [(0o600, True, False)]
    assert leftovers(config_dir) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    cli, piped, make_config, monkeypatch
) -> None:
    path = make_config()
    before = path.read_bytes()

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config_write.os, "replace", refuse)
    piped(OTHER_KEY + "\n")
    run = cli("config", "init", "--profile", "second")
    assert run.code == 2
    assert "cannot write config" in run.err and "Permission denied" in run.err
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


# -- check ---------------------------------------------------------------------------------------
def test_check_prints_a_redacted_summary(cli, make_config) -> None:
    make_config(
        {
            "default_profile": "main",
            "profiles": {
                "main": {"api_key": API_KEY},
                "gw": {"provider": "compatible", "api_key": OTHER_KEY, "base_url": "https://gw.test/v1"},
            },
        }
    )
    run = cli("config", "check")
    assert run.code == 0, run.err
    rows = {row["name"]: row for row in run.json["profiles"]}
    assert rows["main"]["key"] == FINGERPRINT and rows["main"]["default"] is True
    assert rows["main"]["provider"] == "openai" and rows["main"]["model"] == "gpt-image-2"
    assert rows["gw"]["base_url"] == "https://gw.test/v1" and rows["gw"]["default"] is False
    assert run.json["mode"] == "600"
    for secret in (API_KEY, KEY_TAIL, OTHER_KEY, OTHER_KEY[-12:]):
        assert secret not in run.out + run.err


def test_check_without_a_file_points_to_config_init(cli) -> None:
    run = cli("config", "check")
    assert run.code == 2
    assert "no config file" in run.err and "imagegate config init" in run.err


def test_check_refuses_a_file_others_can_read_and_names_the_fix(cli, make_config) -> None:
    path = make_config()
    os.chmod(path, 0o644)
    run = cli("config", "check")
    assert run.code == 2
    assert f"chmod 600 {path}" in run.err
    assert API_KEY not in run.out + run.err


def test_check_reports_a_broken_profile_and_the_fix(cli, make_config) -> None:
    make_config(
        {"default_profile": "ok", "profiles": {"ok": {"api_key": API_KEY}, "nokey": {"model": "gpt-image-2"}}}
    )
    run = cli("config", "check")
    assert run.code == 2
    assert run.json["ok"] is False
    assert "has no api_key" in run.err and "imagegate config init" in run.err
    assert [row["ok"] for row in run.json["profiles"]] == [True, False]
    assert API_KEY not in run.out + run.err


def test_check_reports_an_invalid_file_with_its_json_path(cli, make_config) -> None:
    make_config({"api_key": API_KEY, "quality": "best"})
    run = cli("config", "check")
    assert run.code == 2
    assert "quality" in run.err
    assert API_KEY not in run.out + run.err


def test_check_warns_when_no_profile_is_the_default(cli, make_config) -> None:
    make_config({"profiles": {"a": {"api_key": API_KEY}, "b": {"api_key": OTHER_KEY}}})
    run = cli("config", "check")
    assert run.code == 0, run.err
    assert any("--profile" in warning for warning in run.json["warnings"])


# -- path ----------------------------------------------------------------------------------------
def test_path_names_the_default_file_and_honours_config(cli, config_dir: Path, tmp_path: Path) -> None:
    assert cli("config", "path").out.strip() == str(config_dir / "config.json")
    other = tmp_path / "elsewhere.json"
    run = cli("config", "path", "--json", "--config", str(other))
    assert run.json == {"ok": True, "path": str(other), "exists": False}


def test_init_check_and_path_honour_config(cli, piped, tmp_path: Path) -> None:
    target = tmp_path / "private" / "images.json"
    piped(API_KEY + "\n")
    assert cli("config", "init", "--config", str(target)).code == 0
    assert mode(target.parent) == 0o700 and mode(target) == 0o600
    assert cli("config", "check", "--config", str(target)).code == 0


# -- the whole way: set up once, then generate ---------------------------------------------------
def test_after_init_the_key_goes_only_into_the_providers_auth_header(cli, piped, requests_mock) -> None:
    piped(API_KEY + "\n")
    outputs = [cli("config", "init", "--provider", "compatible", "--base-url", "https://gw.test/v1")]
    route = requests_mock.post("https://gw.test/v1/images/generations", json=images_answer(png(8, 8)))
    outputs.append(cli("--prompt", "a red kite", "--out", "kite.png"))
    outputs.append(cli("config", "check"))
    assert [run.code for run in outputs] == [0, 0, 0], outputs[-1].err
    assert route.last_request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in route.last_request.text
    for run in outputs:
        assert API_KEY not in run.out + run.err and KEY_TAIL not in run.out + run.err


def test_a_symlinked_config_stays_a_symlink(
    cli, piped, make_config, config_dir: Path, tmp_path: Path
) -> None:
    real = make_config()
    link = tmp_path / "linked.json"
    link.symlink_to(real)
    piped(OTHER_KEY + "\n")
    run = cli("config", "init", "--config", str(link), "--profile", "second")
    assert run.code == 0, run.err
    assert link.is_symlink() and mode(real) == 0o600
    assert set(read(real)["profiles"]) == {"default", "second"}
