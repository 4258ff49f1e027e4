"""Every Images API parameter reaches the request body in the form the public OpenAI description
accepts: flags, profile defaults and library keywords, JSON generations and multipart edits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import imagegate

from .support.helpers import (
    API_KEY,
    EDITS,
    GEN,
    assert_valid_edit_body,
    assert_valid_generation_body,
    images_answer,
    openapi,
    png,
)


def declared(schema: str) -> set[str]:
    """The fields the public description declares for one request schema."""
    return set(openapi()["components"]["schemas"][schema]["properties"])


def assert_generation(body: dict[str, Any]) -> None:
    """Valid against CreateImageRequest, and no field the description does not declare."""
    assert_valid_generation_body(body)
    assert set(body) <= declared("CreateImageRequest"), set(body) - declared("CreateImageRequest")


def assert_edit(request: Any) -> dict[str, Any]:
    document = assert_valid_edit_body(request.headers["Content-Type"], request.body)
    assert set(document) <= declared("CreateImageEditRequest"), set(document) - declared(
        "CreateImageEditRequest"
    )
    return document


@pytest.fixture
def gen(make_config, requests_mock):
    make_config()
    requests_mock.post(GEN, json=images_answer(png(16, 16)))
    return requests_mock


@pytest.fixture
def edits(make_config, requests_mock, isolated: Path) -> Path:
    make_config()
    requests_mock.post(EDITS, json=images_answer(png(16, 16)))
    (isolated / "in.png").write_bytes(png(32, 32))
    return isolated / "in.png"


def test_every_generation_flag_reaches_the_json_body(cli, gen) -> None:
    run = cli(
        "--prompt", "a kite", "--out", "k.webp", "--size", "1536x864", "--quality", "high",
        "--n", "2", "--format", "webp", "--background", "transparent", "--output-compression", "80",
        "--moderation", "low", "--user", "user-42",
    )  # fmt: skip
    assert run.code == 0, run.err
    body = gen.request_history[0].json()
    assert_generation(body)
    assert body == {
        "model": "gpt-image-2",
        "prompt": "a kite",
        "n": 2,
        "size": "1536x864",
        "quality": "high",
        "output_format": "webp",
        "background": "transparent",
        "output_compression": 80,
        "moderation": "low",
        "user": "user-42",
    }


def test_every_edit_flag_reaches_the_multipart_body(cli, edits: Path, requests_mock) -> None:
    run = cli(
        "--prompt", "make it night", "--out", "e.jpg", "--edit-image", edits, "--model", "gpt-image-1.5",
        "--size", "1536x1024", "--quality", "medium", "--n", "3", "--format", "jpeg",
        "--background", "opaque", "--output-compression", "0", "--input-fidelity", "high", "--user", "u1",
    )  # fmt: skip
    assert run.code == 0, run.err
    document = assert_edit(requests_mock.request_history[0])
    assert document == {
        "model": "gpt-image-1.5",
        "prompt": "make it night",
        "n": 3,
        "size": "1536x1024",
        "quality": "medium",
        "output_format": "jpeg",
        "background": "opaque",
        "output_compression": 0,
        "input_fidelity": "high",
        "user": "u1",
        "image": "in.png",
    }


def test_stream_and_partial_images_reach_both_bodies(cli, make_config, requests_mock, isolated: Path) -> None:
    # A JSON answer to a streamed call is accepted as is (a gateway may ignore stream).
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    requests_mock.post(EDITS, json=images_answer(png()))
    (isolated / "in.png").write_bytes(png(8, 8))
    assert cli("--prompt", "p", "--out", "g.png", "--stream", "--partial-images", "3").code == 0
    edit = cli(
        "--prompt", "p", "--out", "e.png", "--edit-image", "in.png", "--stream", "--partial-images", "0"
    )
    assert edit.code == 0, edit.err
    body = requests_mock.request_history[0].json()
    assert_generation(body)
    assert (body["stream"], body["partial_images"]) == (True, 3)
    document = assert_edit(requests_mock.request_history[1])
    assert (document["stream"], document["partial_images"]) == (True, 0)


def test_profile_defaults_reach_the_body_and_flags_win(cli, make_config, requests_mock) -> None:
    make_config(
        background="opaque",
        output_compression=55,
        format="jpeg",
        moderation="low",
        user="team-a",
        quality="low",
    )
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "a.jpg").code == 0
    assert cli("--prompt", "p", "--out", "b.jpg", "--output-compression", "90", "--user", "me").code == 0
    first, second = (r.json() for r in requests_mock.request_history)
    assert_generation(first)
    assert {
        k: first[k] for k in ("background", "output_compression", "output_format", "moderation", "user")
    } == {
        "background": "opaque",
        "output_compression": 55,
        "output_format": "jpeg",
        "moderation": "low",
        "user": "team-a",
    }
    assert (second["output_compression"], second["user"], second["quality"]) == (90, "me", "low")


def test_library_keywords_reach_the_body(make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    result = imagegate.generate(
        "p", background="auto", output_format="webp", output_compression=10, moderation="auto", user="lib"
    )
    assert result.images[0].format == "png"
    body = requests_mock.request_history[0].json()
    assert_generation(body)
    assert (body["background"], body["output_format"], body["output_compression"]) == ("auto", "webp", 10)
    assert (body["moderation"], body["user"]) == ("auto", "lib")


def test_dall_e_3_gets_style_and_b64_json_but_no_output_format(cli, gen) -> None:
    run = cli(
        "--prompt", "p", "--out", "d.png", "--model", "dall-e-3", "--size", "1792x1024",
        "--quality", "hd", "--style", "natural",
    )  # fmt: skip
    assert run.code == 0, run.err
    body = gen.request_history[0].json()
    assert_generation(body)
    assert body["style"] == "natural" and body["response_format"] == "b64_json"
    assert "output_format" not in body


def test_gpt_image_models_never_get_response_format(cli, gen) -> None:
    for model in ("gpt-image-2", "gpt-image-1", "gpt-image-1-mini", "some-proxy-model"):
        assert cli("--prompt", "p", "--out", f"{model}.png", "--model", model, "--force").code == 0
    for request in gen.request_history:
        assert "response_format" not in request.json()
        assert request.json()["output_format"] == "png"


def test_dall_e_2_edit_asks_for_b64_json_without_output_format(cli, edits: Path, requests_mock) -> None:
    run = cli(
        "--prompt", "p", "--out", "e.png", "--edit-image", edits, "--model", "dall-e-2", "--size", "512x512"
    )
    assert run.code == 0, run.err
    document = assert_edit(requests_mock.request_history[0])
    assert document["response_format"] == "b64_json" and "output_format" not in document


def test_moderation_is_not_sent_with_an_edit_and_a_warning_says_so(cli, edits: Path, requests_mock) -> None:
    run = cli("--prompt", "p", "--out", "e.png", "--edit-image", edits, "--moderation", "low")
    assert run.code == 0, run.err
    assert "moderation" not in assert_edit(requests_mock.request_history[0])
    assert any("--moderation does not apply to an edit" in w for w in run.json["warnings"])
    assert "warning: --moderation does not apply" in run.err


def test_input_fidelity_is_not_sent_with_a_generation(cli, gen) -> None:
    run = cli("--prompt", "p", "--out", "g.png", "--model", "gpt-image-1", "--input-fidelity", "low")
    assert run.code == 0, run.err
    assert "input_fidelity" not in gen.request_history[0].json()
    assert any("--input-fidelity does not apply to a generation" in w for w in run.json["warnings"])


def test_prompt_file_is_read_as_utf8_without_its_final_newline(cli, gen, isolated: Path) -> None:
    (isolated / "prompt.txt").write_text("Ein Bild: «Drachen»\nzweite Zeile\n", encoding="utf-8")
    assert cli("--prompt-file", "prompt.txt", "--out", "p.png").code == 0
    assert gen.request_history[0].json()["prompt"] == "Ein Bild: «Drachen»\nzweite Zeile"


def test_prompt_file_dash_reads_stdin(cli, gen, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from a pipe\n"))
    assert cli("--prompt-file", "-", "--out", "p.png").code == 0
    assert gen.request_history[0].json()["prompt"] == "from a pipe"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "x", "--prompt-file", "p.txt"], "not both"),
        (["--prompt-file", "missing.txt"], "--prompt-file missing.txt: cannot read it"),
        (["--prompt-file", "latin1.txt"], "not UTF-8 text"),
        (["--prompt-file", "empty.txt"], "the prompt is empty"),
    ],
)
def test_bad_prompt_files_are_refused_before_sending(
    cli, gen, isolated: Path, args: list[str], message: str
) -> None:
    (isolated / "p.txt").write_text("x", encoding="utf-8")
    (isolated / "latin1.txt").write_bytes("café".encode("latin-1"))
    (isolated / "empty.txt").write_text("\n", encoding="utf-8")
    run = cli(*args, "--out", "p.png")
    assert run.code == 2
    assert message in run.err
    assert gen.call_count == 0


def test_a_prompt_over_the_model_limit_is_refused_before_sending(cli, gen, isolated: Path) -> None:
    (isolated / "long.txt").write_text("a" * 32_001, encoding="utf-8")
    run = cli("--prompt-file", "long.txt", "--out", "p.png")
    assert run.code == 2 and "32,001 characters; gpt-image-2 accepts at most 32,000" in run.err
    assert gen.call_count == 0
    (isolated / "ok.txt").write_text("a" * 32_000, encoding="utf-8")
    assert cli("--prompt-file", "ok.txt", "--out", "p.png").code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--output-compression", "101"],
        ["--output-compression", "-1"],
        ["--partial-images", "4"],
        ["--background", "clear"],
        ["--moderation", "high"],
    ],
)
def test_out_of_range_flags_are_usage_errors(cli, gen, args: list[str]) -> None:
    run = cli("--prompt", "p", "--out", "p.png", *args)
    assert run.code == 2
    assert gen.call_count == 0


def test_quiet_silences_warnings_but_not_errors(cli, edits: Path, requests_mock) -> None:
    quiet = cli("--prompt", "p", "--out", "e.png", "--edit-image", edits, "--moderation", "low", "--quiet")
    assert quiet.code == 0
    assert quiet.err == ""
    assert quiet.json["warnings"]  # still reported in the JSON
    failed = cli(
        "--prompt", "p", "--out", "e2.png", "--background", "transparent", "--format", "jpeg", "--quiet"
    )
    assert failed.code == 2 and failed.err.startswith("error: ")


def test_key_never_appears_with_the_new_parameters(cli, gen) -> None:
    run = cli("--prompt", "p", "--out", "k.png", "--user", "u", "--stream", "--dry-run")
    assert run.code == 0
    assert API_KEY not in run.out + run.err
    assert run.json["body"]["stream"] is True
    assert gen.call_count == 0
