"""The seed's invocation keeps working: flags, defaults, output names, no overwrite, dry run, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import imagegate

from .support.helpers import API_KEY, EDITS, GEN, KEY_TAIL, b64, images_answer, png


def test_seed_defaults_reach_the_body(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "o.png").code == 0
    body = requests_mock.request_history[0].json()
    assert (body["size"], body["quality"], body["n"], body["output_format"]) == (
        "1024x1024",
        "auto",
        1,
        "png",
    )


def test_timeout_flag_is_accepted_like_the_seed(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "o.png", "--timeout", "30").code == 0
    assert requests_mock.request_history[0].timeout[1] <= 30


def test_further_images_get_numbered_names(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png(), png(2, 2), png(3, 3)))
    run = cli("--prompt", "p", "--out", "set.png", "--n", "3")
    assert run.code == 0, run.err
    assert [Path(p).name for p in run.json["output_paths"]] == ["set.png", "set-2.png", "set-3.png"]


def test_out_without_extension_gets_the_format_extension(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "picture")
    assert run.code == 0
    assert Path(run.json["output_paths"][0]).name == "picture.png"


def test_no_out_writes_a_timestamped_png_in_the_current_folder(
    cli, make_config, requests_mock, isolated
) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p")
    assert run.code == 0
    path = Path(run.json["output_paths"][0])
    assert path.parent == isolated
    assert re.fullmatch(r"imagegate-\d{8}-\d{6}\.png", path.name)


def test_existing_output_is_not_overwritten_without_force_and_nothing_is_sent(
    cli, make_config, requests_mock
) -> None:
    make_config()
    Path("keep.png").write_bytes(b"precious")
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "keep.png")
    assert run.code == 2
    assert "already exists" in run.err and "--force" in run.err
    assert requests_mock.call_count == 0
    assert Path("keep.png").read_bytes() == b"precious"


def test_a_later_numbered_output_that_exists_also_blocks(cli, make_config, requests_mock) -> None:
    make_config()
    Path("s-2.png").write_bytes(b"precious")
    requests_mock.post(GEN, json=images_answer(png(), png()))
    assert cli("--prompt", "p", "--out", "s.png", "--n", "2").code == 2
    assert requests_mock.call_count == 0


def test_force_overwrites_atomically(cli, make_config, requests_mock) -> None:
    make_config()
    Path("o.png").write_bytes(b"old")
    requests_mock.post(GEN, json=images_answer(png(9, 9)))
    assert cli("--prompt", "p", "--out", "o.png", "--force").code == 0
    assert Path("o.png").read_bytes() == png(9, 9)
    assert [p.name for p in Path().iterdir()] == ["o.png"]


def test_unwritable_output_is_refused_before_paying(cli, make_config, requests_mock) -> None:
    make_config()
    Path("afile").write_text("x")
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "afile/o.png")
    assert run.code == 2
    assert "not a folder" in run.err
    assert requests_mock.call_count == 0


def test_missing_output_folder_is_created(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "new/deeper/o.png").code == 0
    assert Path("new/deeper/o.png").exists()


def test_dry_run_shows_the_request_redacted_and_sends_nothing(
    cli, make_config, requests_mock, isolated
) -> None:
    make_config(extra_body={"moderation": "low"})
    (isolated / "in.png").write_bytes(png())
    run = cli("--prompt", "p", "--out", "o.png", "--edit-image", "in.png", "--dry-run")
    assert run.code == 0, run.err
    assert requests_mock.call_count == 0
    doc = run.json
    assert doc["dry_run"] is True and doc["url"] == EDITS
    assert doc["headers"]["Authorization"] == "***redacted***"
    assert doc["body"]["moderation"] == "low" and doc["body"]["prompt"] == "p"
    assert doc["files"] == [{"field": "image", "path": "in.png", "content_type": "image/png"}]
    assert API_KEY not in run.out + run.err and KEY_TAIL not in run.out + run.err
    assert not Path("o.png").exists()


def test_success_prints_exactly_one_json_object_on_stdout(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "o.png")
    document = json.loads(run.out)
    assert document["ok"] is True and document["provider"] == "openai" and document["model"] == "gpt-image-2"
    assert set(document) >= {"output_paths", "images", "usage", "revised_prompt", "seconds"}


def test_prompt_is_required(cli) -> None:
    run = cli("--out", "o.png")
    assert run.code == 2
    assert "--prompt is required" in run.err


def test_unknown_provider_lists_the_installed_ones(cli) -> None:
    run = cli("--provider", "nope", "--prompt", "p")
    assert run.code == 2
    assert "unknown provider 'nope'" in run.err and "placeholder" in run.err


def test_providers_command_lists_builtins_with_their_distribution(cli) -> None:
    run = cli("providers", "--json")
    assert run.code == 0
    rows = {row["name"]: row for row in run.json["providers"]}
    assert set(rows) >= {"openai", "compatible", "url-only", "placeholder"}
    assert rows["openai"]["distribution"] == "imagegate"
    assert rows["openai"]["version"] == imagegate.__version__
    assert rows["placeholder"]["operations"] == ["generate", "edit", "mask"]


def test_library_generate_and_edit_return_bytes_and_types(make_config, requests_mock, isolated) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png(4, 4)))
    requests_mock.post(EDITS, json=images_answer(png(6, 6)))
    (isolated / "in.png").write_bytes(png())
    made = imagegate.generate("p")
    assert made.images[0].data == png(4, 4) and made.images[0].format == "png"
    assert made.output_paths == []
    edited = imagegate.edit("p", "in.png", out="e.png", size="1024x1024")
    assert edited.images[0].path == isolated / "e.png"
    assert edited.images[0].data == png(6, 6)


def test_library_rejects_unknown_options() -> None:
    with pytest.raises(imagegate.UsageError, match="colour"):
        imagegate.generate("p", provider="placeholder", colour="red")


def test_python_dash_m_runs_the_cli_and_bare_core_is_not_importable(isolated) -> None:
    version = subprocess.run([sys.executable, "-m", "imagegate", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and imagegate.__version__ in version.stdout
    bare = subprocess.run([sys.executable, "-c", "import core"], capture_output=True, text=True, cwd=isolated)
    assert bare.returncode != 0


def test_a_bad_image_in_the_answer_does_not_lose_the_good_ones(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json={"data": [{"b64_json": b64(png(7, 7))}, {"b64_json": b64(b"not an image")}]})
    run = cli("--prompt", "p", "--out", "o.png", "--n", "2")
    assert run.code == 6
    assert "image 2 in the answer is not a PNG" in run.err
    assert f"were saved: {Path('o.png').absolute()}" in run.err
    assert Path("o.png").read_bytes() == png(7, 7)
    assert sorted(p.name for p in Path().iterdir()) == ["o.png"]


def test_an_expired_url_does_not_lose_the_images_that_arrived(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(
        GEN, json={"data": [{"b64_json": b64(png(5, 5))}, {"url": "https://cdn.example.test/gone.png"}]}
    )
    requests_mock.get("https://cdn.example.test/gone.png", status_code=404)
    run = cli("--prompt", "p", "--out", "o.png", "--n", "2")
    assert run.code == 6
    assert "probably expired" in run.err and "were saved" in run.err
    assert sorted(p.name for p in Path().iterdir()) == ["o.png"]


def test_stdout_stays_strict_json_when_the_provider_sends_nan(cli, make_config, requests_mock) -> None:
    make_config()
    body = json.dumps(images_answer(png(), usage={"total_tokens": float("nan"), "x": float("inf")}))
    requests_mock.post(GEN, text=body, headers={"content-type": "application/json"})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert json.loads(run.out, parse_constant=lambda name: pytest.fail(f"{name} in stdout"))["usage"] == {
        "total_tokens": None,
        "x": None,
    }


def test_two_unnamed_runs_in_one_second_both_get_a_file(cli, isolated, monkeypatch) -> None:
    monkeypatch.setattr("imagegate.output.time.time", lambda: 1_800_000_000.0)
    first = cli("--provider", "placeholder", "--prompt", "p", "--size", "64x64")
    second = cli("--provider", "placeholder", "--prompt", "p", "--size", "64x64")
    assert first.code == second.code == 0, second.err
    names = [Path(run.json["output_paths"][0]).name for run in (first, second)]
    assert names[1] == names[0].replace(".png", "_1.png")
