"""The ``chat`` provider: chat completions that answer with images (OpenRouter's shape).

The pure shape functions are tested on their own; the CLI runs against a local server that
answers as OpenRouter documents it (tests/support/fakes.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate.errors import ProviderFailure, UnusableAnswer, UsageError
from imagegate.options import Options
from imagegate.providers.chat import chat_body, check_chat_options, decode_chat, images_in_text
from imagegate.spool import MemorySpool

from .support.fakes import MADE, chat_service, data_url_bytes, image_file
from .support.faultserver import FaultServer, Reply
from .support.helpers import API_KEY, b64, png

ROUTE = "/api/v1/chat/completions"


def spool(data: bytes) -> MemorySpool:
    made = MemorySpool()
    made.write(data)
    return made


def config(make_config, server: FaultServer, **keys: Any) -> None:
    make_config({"api_key": API_KEY, "provider": "chat", "base_url": server.root + "/api/v1", **keys})


def _answer(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "gen-1",
        "model": "m",
        "choices": [{"finish_reason": finish, "message": message}],
        "usage": {"t": 1},
    }


# -- the request -----------------------------------------------------------------------------------
def test_the_body_asks_for_images_with_the_prompt_and_each_input_image_as_parts() -> None:
    body = chat_body(
        "google/gemini-2.5-flash-image",
        "a kite",
        ["data:image/png;base64,QQ=="],
        ["image", "text"],
        {"aspect_ratio": "16:9"},
    )
    assert body == {
        "model": "google/gemini-2.5-flash-image",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a kite"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QQ=="}},
                ],
            }
        ],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9"},
    }
    assert "image_config" not in chat_body("m", "p", [], ["image"])


def test_more_than_one_image_is_refused_and_options_chat_lacks_are_named() -> None:
    with pytest.raises(UsageError, match="one image per call"):
        check_chat_options(Options(prompt="p", n=3))
    warnings = check_chat_options(Options(prompt="p", n=1, background="opaque"))
    assert warnings == ["--background has no chat completions field; it was not sent (image_config may help)"]


# -- the answer ------------------------------------------------------------------------------------
def test_images_come_from_message_images_in_snake_and_camel_case_with_the_text() -> None:
    message = {
        "content": "Here you go.",
        "images": [
            {"type": "image_url", "image_url": {"url": spool(MADE)}},
            {"type": "image_url", "imageUrl": {"url": "https://cdn.example/a.png"}},
        ],
    }
    answer = decode_chat(_answer(message))
    assert answer.images[0].data.getvalue() == MADE
    assert answer.images[1].url == "https://cdn.example/a.png"
    assert answer.text == "Here you go."
    assert answer.usage == {"t": 1} and answer.extras == {"id": "gen-1", "model": "m"}


def test_an_empty_image_entry_counts_as_absent() -> None:
    message = {"content": "x", "images": [{"image_url": {"url": spool(b"")}}, {"image_url": {"url": ""}}]}
    with pytest.raises(UnusableAnswer):
        decode_chat(_answer(message))


def test_failing_those_the_text_is_searched_for_markdown_images_and_data_urls() -> None:
    url = f"data:image/png;base64,{b64(MADE)}"
    text = f'Look: ![one](https://cdn.example/1.png "title") and ![two](<{url}>) then {url} again'
    assert images_in_text(text) == ["https://cdn.example/1.png", url]
    answer = decode_chat(_answer({"content": [{"type": "text", "text": "![x](https://cdn.example/2.webp)"}]}))
    assert answer.images[0].url == "https://cdn.example/2.webp"


def test_a_text_only_answer_quotes_the_start_of_the_text() -> None:
    refusal = "I can't create images of that. " * 20
    with pytest.raises(UnusableAnswer, match=r"text and no image: \"I can't create images of that\. I can"):
        decode_chat(_answer({"content": refusal}))
    with pytest.raises(UnusableAnswer, match="no image and no text"):
        decode_chat(_answer({"content": None}))


def test_a_filtered_answer_is_a_content_refusal() -> None:
    with pytest.raises(ProviderFailure, match="content_filter") as failed:
        decode_chat(_answer({"content": ""}, finish="content_filter"))
    assert failed.value.error.kind == "content"


def test_an_error_object_in_a_200_answer_is_reported_as_the_providers_error() -> None:
    with pytest.raises(ProviderFailure) as failed:
        decode_chat({"error": {"message": "Provider returned error", "code": 502}})
    assert (failed.value.error.status, failed.value.error.message) == (502, "Provider returned error")


# -- the whole call, against a local OpenRouter-style server --------------------------------------
@pytest.mark.parametrize("style", ["images", "camel"])
def test_a_chat_profile_gets_the_image_from_an_openrouter_style_answer(
    cli, make_config, isolated, style
) -> None:
    with FaultServer() as server:
        server.script(ROUTE, chat_service(style))
        config(make_config, server)
        run = cli("--prompt", "a kite", "--out", "kite.png")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert body["model"] == "google/gemini-2.5-flash-image" and body["modalities"] == ["image", "text"]
    assert (isolated / "kite.png").read_bytes() == MADE
    assert run.json["provider_extras"]["id"] == "gen-1"


def test_a_chat_edit_sends_the_input_images_as_data_urls(cli, make_config, isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(8, 8))
    with FaultServer() as server:
        server.script(ROUTE, chat_service())
        config(make_config, server, modalities=["image"], image_config={"aspect_ratio": "1:1"})
        run = cli("--prompt", "make it blue", "--edit-image", "in.png", "--out", "e.png")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert body["modalities"] == ["image"] and body["image_config"] == {"aspect_ratio": "1:1"}
    part = body["messages"][0]["content"][1]
    assert data_url_bytes(part["image_url"]["url"]) == png(8, 8)


def test_an_image_link_is_downloaded_without_credentials(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        server.script(ROUTE, chat_service("link", link=server.root + "/files/made.png"))
        server.script("/files/made.png", image_file)
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    download = server.requests_to("/files/made.png")[0]
    assert "Authorization" not in download.headers
    assert (isolated / "x.png").read_bytes() == MADE


def test_a_markdown_image_link_in_the_text_is_used(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        server.script(ROUTE, chat_service("markdown", link=server.root + "/files/made.png"))
        server.script("/files/made.png", image_file)
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    assert (isolated / "x.png").read_bytes() == MADE


def test_a_text_only_reply_is_exit_6_with_the_models_words(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        server.script(ROUTE, chat_service("text"))
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 6, run.err
    assert "I'm sorry, but I can't create that image" in run.err
    assert not list(isolated.iterdir())


def test_a_mask_is_refused_before_anything_is_sent(cli, make_config, isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(8, 8))
    with FaultServer() as server:
        server.script(ROUTE, Reply(body={}))
        config(make_config, server)
        run = cli("--prompt", "p", "--edit-image", "in.png", "--mask", "in.png", "--out", "x.png")
    assert run.code == 2 and "mask" in run.err
    assert server.seen == []


def test_a_data_url_in_the_text_is_decoded_and_the_text_is_reported(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        server.script(ROUTE, chat_service("markdown"))
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    assert (isolated / "x.png").read_bytes() == MADE
    assert run.json["text"].startswith("Here it is:") and run.json["text"].endswith("Enjoy.")


def test_a_broken_data_url_in_the_text_is_exit_6_and_says_what_is_wrong(cli, make_config) -> None:
    answer = _answer({"content": "![x](data:image/png;base64,AAAA=AAA)"})
    with FaultServer() as server:
        server.script(ROUTE, Reply(body=answer))
        config(make_config, server)
        run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 6 and "not valid base64" in run.err
