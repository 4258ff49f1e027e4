"""What running imagegate against servers nobody here wrote found (Prism, LiteLLM, mock servers).

Each test is one finding of the interop report: a strict server refusing ``image[]`` for one file,
error bodies in FastAPI's and RFC 7807's shapes, a dummy image string, empty strings and nulls
in answers, fewer images than asked for, and gateways that substitute a model when none is sent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.errorbody import error_fields, one_line

from .support.fakes import MADE, multipart, spec_validating_images
from .support.faultserver import FaultServer, Reply
from .support.helpers import API_KEY, b64, png


@pytest.fixture
def inputs(isolated: Path) -> tuple[Path, Path, Path]:
    paths = (isolated / "a.png", isolated / "b.png", isolated / "mask.png")
    for path, data in zip(
        paths, (png(16, 16), png(16, 16, colour=(1, 2, 3)), png(16, 16, alpha=True)), strict=True
    ):
        path.write_bytes(data)
    return paths


def local(make_config, server: FaultServer, **keys) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, **keys})


# -- image or image[] --------------------------------------------------------------------------------
def test_a_single_image_edit_passes_a_server_that_validates_against_openais_spec(
    cli, make_config, inputs, isolated: Path
) -> None:
    a, _, mask = inputs
    with FaultServer() as server:
        server.edits(spec_validating_images)
        local(make_config, server)
        run = cli("--prompt", "p", "--edit-image", a, "--mask", mask, "--out", "e.png")
    assert run.code == 0, run.err
    assert [name for name, filename, _ in multipart(server.seen[0]) if filename] == ["image", "mask"]
    assert (isolated / "e.png").read_bytes() == MADE


def test_several_images_go_as_image_brackets_as_the_official_sdk_sends_them(cli, make_config, inputs) -> None:
    a, b, _ = inputs
    with FaultServer() as server:
        server.edits(Reply(body={"data": [{"b64_json": b64(MADE)}]}))
        local(make_config, server)
        run = cli("--prompt", "p", "--edit-image", a, "--edit-image", b, "--out", "e.png")
    assert run.code == 0, run.err
    assert [name for name, filename, _ in multipart(server.seen[0]) if filename] == ["image[]", "image[]"]


def test_image_field_still_overrides_the_part_name(cli, make_config, inputs) -> None:
    a, _, _ = inputs
    with FaultServer() as server:
        server.edits(Reply(body={"data": [{"b64_json": b64(MADE)}]}))
        local(make_config, server, provider="compatible", image_field="image[]")
        run = cli("--prompt", "p", "--edit-image", a, "--out", "e.png")
    assert run.code == 0, run.err
    assert [name for name, filename, _ in multipart(server.seen[0]) if filename] == ["image[]"]


# -- error bodies in other shapes ----------------------------------------------------------------
def test_a_prism_validation_report_is_the_message_not_a_cut_excerpt(cli, make_config, inputs) -> None:
    a, _, _ = inputs
    with FaultServer() as server:
        server.edits(spec_validating_images)
        local(make_config, server, provider="compatible", image_field="image[]")
        run = cli("--prompt", "p", "--edit-image", a, "--out", "e.png")
    assert run.code == 3, run.err
    (line,) = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert "Invalid request" in line and "'image' is a required property" in line


def test_a_fastapi_detail_list_gives_its_messages(cli, make_config) -> None:
    detail = [{"type": "enum", "loc": ["body", "quality"], "msg": "Input should be 'standard' or 'hd'"}]
    with FaultServer() as server:
        server.generations(Reply(422, {"detail": detail}))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 3
    assert "body.quality: Input should be 'standard' or 'hd'" in run.err


def test_a_fastapi_detail_string_is_the_message(cli, make_config) -> None:
    with FaultServer() as server:
        server.generations(Reply(404, {"detail": "Not Found"}))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 3 and "HTTP 404: Not Found" in run.err


def test_a_long_message_is_cut_near_a_thousand_characters_and_shown_whole_under_verbose(
    cli, make_config
) -> None:
    long = "word " * 600
    with FaultServer() as server:
        server.generations(Reply(400, {"error": {"message": long, "type": "invalid_request_error"}}))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
        verbose = cli("--prompt", "p", "--out", "x.png", "--verbose")
    (line,) = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert 900 < len(line) < 1200
    assert long.strip() in " ".join(verbose.err.split())


def test_a_message_with_line_breaks_is_printed_on_one_line(cli, make_config) -> None:
    message = (
        "litellm.APIError: OpenAIException - event: image_edit.partial_image\ndata: {\x1b[31m...}\n\nmore"
    )
    with FaultServer() as server:
        server.generations(Reply(400, {"error": {"message": message}}))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    lines = [line for line in run.err.splitlines() if not line.startswith("hint:")]
    assert len(lines) == 1 and "\x1b" not in run.err
    assert "image_edit.partial_image data: {" in lines[0]


# -- answers -------------------------------------------------------------------------------------
def test_an_image_that_is_not_base64_says_so_without_the_base_url_hint(cli, make_config) -> None:
    with FaultServer() as server:
        server.generations(Reply(body={"data": [{"b64_json": "string", "url": "http://example.com"}]}))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 6
    assert "not valid base64" in run.err and "which is" not in run.err
    assert "base_url" not in run.err


def test_empty_strings_count_as_absent(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        link = server.root + "/files/made.png"
        server.script("/files/made.png", Reply(body=MADE, content_type="image/png"))
        server.generations(
            Reply(body={"data": [{"url": "", "b64_json": b64(MADE)}, {"b64_json": "", "url": link}]})
        )
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png", "--n", "2")
    assert run.code == 0, run.err
    assert (isolated / "x.png").read_bytes() == MADE == (isolated / "x-2.png").read_bytes()


def test_null_fields_are_not_copied_into_provider_extras(cli, make_config) -> None:
    answer = {
        "created": 5,
        "size": None,
        "quality": None,
        "background": None,
        "data": [{"b64_json": b64(MADE)}],
    }
    with FaultServer() as server:
        server.generations(Reply(body=answer))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    assert run.json["provider_extras"] == {"created": 5}


def test_fewer_images_than_asked_for_is_a_warning_in_the_json(cli, make_config) -> None:
    with FaultServer() as server:
        server.generations(Reply(body={"data": [{"b64_json": b64(MADE)}]}))
        local(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png", "--n", "3")
    assert run.code == 0, run.err
    assert any("3 images were asked for" in w and "1 arrived" in w for w in run.json["warnings"])


def test_model_is_always_sent_even_when_drop_params_names_it(cli, make_config) -> None:
    with FaultServer() as server:
        server.generations(Reply(body={"data": [{"b64_json": b64(MADE)}]}))
        local(make_config, server, provider="compatible", drop_params=["model", "quality"])
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    body = json.loads(server.seen[0].body)
    assert body["model"] == "gpt-image-2" and "quality" not in body
    assert any("model is always sent" in w for w in run.json["warnings"])


def test_an_endpoint_the_gateway_does_not_implement_is_a_refusal_not_a_billing_scare(
    cli, make_config, inputs
) -> None:
    a, _, _ = inputs
    error = {
        "message": "API not implemented",
        "type": "one_api_error",
        "param": "",
        "code": "api_not_implemented",
    }
    with FaultServer() as server:
        server.edits(Reply(501, {"error": error}))
        local(make_config, server, provider="compatible")
        run = cli("--prompt", "p", "--edit-image", a, "--out", "e.png")
    assert run.code == 3, run.err
    assert "API not implemented" in run.err and "billed" not in run.err


def test_one_line_removes_escape_sequences_and_control_characters_and_cuts_long_text() -> None:
    assert one_line("a\r\nb\tc\x1b[1;31mred\x1b[0m\x1b]0;title\x07 d\x00e\u2028f") == "a b cred d e f"
    assert one_line("x" * 1500).endswith("...") and len(one_line("x" * 1500)) == 1003


def test_error_bodies_in_each_common_shape_give_their_message() -> None:
    def message(document: object) -> str:
        return error_fields(json.dumps(document).encode())[0]

    assert message({"error": {"message": "m", "type": "t"}}) == "m"
    assert message({"error": "plain"}) == "plain"
    assert (
        message([{"error": {"code": 400, "message": "wrapped", "status": "INVALID_ARGUMENT"}}]) == "wrapped"
    )
    assert message({"detail": [{"loc": ["body", "n"], "msg": "too big"}, "odd"]}) == "body.n: too big; odd"
    assert message(
        {"title": "Bad.", "detail": "Why.", "validation": [{"location": ["query"], "message": "q"}]}
    ) == ("Bad: Why: query: q")
    assert message({"status": "failure", "message": "Something went wrong"}) == "Something went wrong"
    assert error_fields(b"<html>") == ("", None, None, None)
