"""The ``responses`` provider: the Responses API's image_generation tool, forced.

The pure shape functions are tested on their own; the CLI runs against a local server that
speaks the Responses API as OpenAI documents it (tests/support/fakes.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate.adapter import Failed, Final, Partial
from imagegate.errors import ProviderFailure, UnusableAnswer, UsageError
from imagegate.options import Options
from imagegate.providers.responses import (
    check_one_image,
    check_tool_options,
    decode_response,
    is_moderation,
    read_event,
    responses_body,
    tool_object,
)
from imagegate.spool import MemorySpool

from .support.fakes import MADE, PARTIAL, data_url_bytes, responses_service, spec_errors, sse
from .support.faultserver import FaultServer, Reply, stream_reply
from .support.helpers import API_KEY, b64, png


def spool(data: bytes) -> MemorySpool:
    made = MemorySpool()
    made.write(data)
    return made


def config(make_config, server: FaultServer, **keys: Any) -> None:
    make_config({"api_key": API_KEY, "provider": "responses", "base_url": server.base_url, **keys})


@pytest.fixture
def inputs(isolated: Path) -> tuple[Path, Path, Path]:
    paths = (isolated / "a.png", isolated / "b.png", isolated / "mask.png")
    for path, data in zip(
        paths, (png(8, 8), png(8, 8, colour=(1, 1, 1)), png(8, 8, alpha=True)), strict=True
    ):
        path.write_bytes(data)
    return paths


# -- the request -----------------------------------------------------------------------------------
def test_the_tool_object_carries_the_set_options_and_the_mask_and_matches_the_spec() -> None:
    fields = {"size": "1536x1024", "quality": "high", "output_format": "webp", "output_compression": 80}
    tool = tool_object("gpt-image-2", {**fields, "background": None}, "data:image/png;base64,AAAA")
    assert tool == {
        "type": "image_generation",
        "model": "gpt-image-2",
        **fields,
        "input_image_mask": {"image_url": "data:image/png;base64,AAAA"},
    }
    assert spec_errors("ImageGenTool", tool) == []


def test_the_body_forces_the_tool_with_the_prompt_first_and_each_image_after_it() -> None:
    tool = tool_object("gpt-image-2", {})
    body = responses_body("gpt-5.5", "a kite", tool, ["data:image/png;base64,QQ==", "data:x"], stream=True)
    assert body == {
        "model": "gpt-5.5",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "a kite"},
                    {"type": "input_image", "image_url": "data:image/png;base64,QQ=="},
                    {"type": "input_image", "image_url": "data:x"},
                ],
            }
        ],
        "tools": [tool],
        "tool_choice": {"type": "image_generation"},
        "stream": True,
    }


def test_more_than_one_image_per_call_is_refused_before_anything_is_paid() -> None:
    with pytest.raises(UsageError, match="one image per call"):
        check_one_image(Options(prompt="p", n=2))
    check_one_image(Options(prompt="p", n=1))


def test_the_image_models_rules_apply_to_the_tool_options() -> None:
    options = Options(prompt="p", size="1000x1000", quality="auto", n=1, output_format="png")
    with pytest.raises(UsageError, match="multiples of 16"):
        check_tool_options("gpt-image-2", options)
    with pytest.raises(UsageError, match="GPT image models"):
        check_tool_options("dall-e-3", options.with_changes(size="1024x1024"))
    with pytest.raises(UsageError, match="no style"):
        check_tool_options("gpt-image-2", options.with_changes(size="1024x1024", style="vivid"))


def test_a_stream_without_partial_images_asks_for_one_and_says_so() -> None:
    options = Options(prompt="p", size="1024x1024", quality="auto", n=1, output_format="png", stream=True)
    assert any("1 partial image" in w for w in check_tool_options("gpt-image-2", options))


# -- the answer ------------------------------------------------------------------------------------
def _document(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_9",
        "status": "completed",
        "output": list(items),
        "usage": {"total_tokens": 5},
        **extra,
    }


def test_the_image_comes_from_the_image_generation_call_with_its_revised_prompt() -> None:
    item = {
        "type": "image_generation_call",
        "result": spool(MADE),
        "revised_prompt": "rp",
        "size": "1024x1024",
    }
    answer = decode_response(_document({"type": "message", "content": []}, item))
    assert [ref.data.getvalue() for ref in answer.images] == [MADE]
    assert answer.images[0].revised_prompt == "rp"
    assert answer.usage == {"total_tokens": 5}
    assert answer.extras == {"response_id": "resp_9", "size": "1024x1024"}


def test_an_answer_without_an_image_quotes_what_the_model_said() -> None:
    said = {"type": "message", "content": [{"type": "output_text", "text": "I can't draw that.\nSorry."}]}
    empty = {"type": "image_generation_call", "status": "failed", "result": None}
    with pytest.raises(UnusableAnswer, match=r'without an image: "I can\'t draw that. Sorry."'):
        decode_response(_document(said, empty))
    with pytest.raises(UnusableAnswer, match="status failed"):
        decode_response(_document(empty))
    with pytest.raises(UnusableAnswer, match="item types: reasoning"):
        decode_response(_document({"type": "reasoning"}))


def test_an_empty_result_counts_as_no_image() -> None:
    with pytest.raises(UnusableAnswer):
        decode_response(
            _document({"type": "image_generation_call", "status": "completed", "result": spool(b"")})
        )


def test_a_moderated_response_is_a_tool_failure_marked_as_moderation() -> None:
    error = {"code": "moderation_blocked", "type": "image_generation_user_error", "message": "blocked"}
    with pytest.raises(ProviderFailure) as failed:
        decode_response(_document(status="failed", error=error))
    assert failed.value.error.message == "blocked" and failed.value.error.kind == "content"
    assert is_moderation(failed.value.error)


def test_an_image_that_arrived_is_kept_even_when_the_response_is_incomplete() -> None:
    item = {"type": "image_generation_call", "result": spool(MADE)}
    answer = decode_response(
        _document(item, status="incomplete", incomplete_details={"reason": "max_tokens"})
    )
    assert answer.images[0].data.getvalue() == MADE


def test_events_give_partials_the_final_image_and_failures() -> None:
    partial = read_event(
        None, {"type": "response.image_generation_call.partial_image", "partial_image_b64": spool(PARTIAL)}
    )
    assert isinstance(partial, Partial) and partial.ref.data.getvalue() == PARTIAL
    done = {
        "type": "response.output_item.done",
        "item": {"type": "image_generation_call", "result": spool(MADE)},
    }
    final = read_event(None, done)
    assert isinstance(final, Final) and final.answer.images[0].data.getvalue() == MADE
    assert read_event(None, {"type": "response.image_generation_call.completed", "item_id": "ig"}) is None
    completed = {
        "type": "response.completed",
        "response": _document({"type": "image_generation_call", "result": spool(MADE)}),
    }
    last = read_event("response.completed", completed)
    assert isinstance(last, Final) and last.answer.usage == {"total_tokens": 5}
    failed = read_event(
        None, {"type": "response.failed", "response": {"status": "failed", "error": {"message": "x"}}}
    )
    assert isinstance(failed, Failed) and failed.error.message == "x" and failed.error.kind == "failed"
    error = read_event(None, {"type": "error", "code": "moderation_blocked", "message": "no"})
    assert isinstance(error, Failed) and error.error.kind == "content"


# -- the whole call, against a local Responses server --------------------------------------------
def test_a_responses_profile_generates_an_image(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        server.script("/v1/responses", responses_service())
        config(make_config, server, image_model="gpt-image-1.5")
        run = cli("--prompt", "a kite", "--out", "kite.png", "--quality", "high")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert body["model"] == "gpt-5.5" and body["tools"][0]["model"] == "gpt-image-1.5"
    assert body["tools"][0]["quality"] == "high" and "stream" not in body
    assert server.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert (isolated / "kite.png").read_bytes() == MADE
    document = run.json
    assert document["provider"] == "responses" and document["model"] == "gpt-5.5"
    assert document["revised_prompt"] == "a revised prompt"
    assert document["usage"]["total_tokens"] == 70
    assert document["provider_extras"]["response_id"] == "resp_1"
    assert document["provider_extras"]["image_model"] == "gpt-image-1.5"
    assert document["text"] == "Here is the image."


def test_a_responses_edit_sends_two_images_and_a_mask(cli, make_config, inputs, isolated: Path) -> None:
    a, b, mask = inputs
    with FaultServer() as server:
        server.script("/v1/responses", responses_service())
        config(make_config, server)
        run = cli("--prompt", "merge", "--edit-image", a, "--edit-image", b, "--mask", mask, "--out", "e.png")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    parts = body["input"][0]["content"]
    assert [part["type"] for part in parts] == ["input_text", "input_image", "input_image"]
    assert [data_url_bytes(part["image_url"]) for part in parts[1:]] == [a.read_bytes(), b.read_bytes()]
    assert parts[1]["image_url"].startswith("data:image/png;base64,")
    assert data_url_bytes(body["tools"][0]["input_image_mask"]["image_url"]) == mask.read_bytes()
    assert (isolated / "e.png").read_bytes() == MADE


def test_a_streamed_responses_call_saves_the_partial_previews_and_the_final_image(
    cli, make_config, isolated: Path
) -> None:
    with FaultServer() as server:
        server.script("/v1/responses", responses_service())
        config(make_config, server)
        run = cli("--prompt", "a kite", "--out", "kite.png", "--stream", "--partial-images", "2")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert body["stream"] is True and body["tools"][0]["partial_images"] == 2
    assert (isolated / "kite.png").read_bytes() == MADE
    assert (isolated / "kite.partial-1.png").read_bytes() == PARTIAL
    assert (isolated / "kite.partial-2.png").read_bytes() == PARTIAL
    assert len(run.json["partial_paths"]) == 2


def test_a_stream_without_partial_images_still_streams_with_one_preview(cli, make_config, isolated) -> None:
    with FaultServer() as server:
        server.script("/v1/responses", responses_service())
        config(make_config, server)
        run = cli("--prompt", "a kite", "--out", "kite.png", "--stream")
    assert run.code == 0, run.err
    assert server.seen[0].json()["tools"][0]["partial_images"] == 1
    assert (isolated / "kite.png").read_bytes() == MADE


def test_a_moderated_prompt_is_exit_4_and_not_retried(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        server.script("/v1/responses", responses_service())
        config(make_config, server)
        run = cli("--prompt", "something forbidden", "--out", "x.png")
    assert run.code == 4, run.err
    assert "moderation_blocked" in run.err and len(server.seen) == 1
    assert not list(isolated.iterdir())


def test_moderation_inside_a_stream_is_exit_4(cli, make_config, isolated: Path) -> None:
    failed = {
        "type": "response.failed",
        "response": {
            "status": "failed",
            "error": {
                "code": "moderation_blocked",
                "message": "Your request was rejected by the safety system.",
            },
        },
    }
    with FaultServer() as server:
        server.script(
            "/v1/responses", stream_reply([sse({"type": "response.created", "response": {}}), sse(failed)])
        )
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png", "--stream", "--partial-images", "1")
    assert run.code == 4, run.err
    assert "rejected by the safety system" in run.err


def test_an_answer_with_only_text_is_exit_6_quoting_it(cli, make_config) -> None:
    answer = {
        "id": "resp_2",
        "status": "completed",
        "output": [
            {"type": "message", "content": [{"type": "output_text", "text": "I cannot help with that."}]}
        ],
    }
    with FaultServer() as server:
        server.script("/v1/responses", Reply(body=answer))
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 6, run.err
    assert '"I cannot help with that."' in run.err


def test_n_above_one_is_refused_and_nothing_is_sent(cli, make_config) -> None:
    with FaultServer() as server:
        server.script("/v1/responses", responses_service())
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png", "--n", "2")
    assert run.code == 2 and "one image per call" in run.err
    assert server.seen == []


def test_the_image_arrives_as_base64_decoded_while_it_streams_in(cli, make_config, isolated: Path) -> None:
    big = png(300, 200)
    answer = {
        "id": "r",
        "output": [{"type": "image_generation_call", "status": "completed", "result": b64(big)}],
    }
    with FaultServer() as server:
        server.script("/v1/responses", Reply(body=answer))
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    assert (isolated / "x.png").read_bytes() == big
