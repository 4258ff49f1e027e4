"""Unusable answers and broken connections, produced by a real misbehaving server on 127.0.0.1.

Every run must end with one clear message and the documented exit code, and leave no file behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support.faultserver import Reply, html_reply, image_reply
from .support.helpers import b64, png


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def run_once(cli, *extra: str):
    return cli("--prompt", "a kite", "--out", "kite.png", *extra)


def test_a_plain_answer_is_saved(cli, server, isolated) -> None:
    server.generations(image_reply(png(5, 3)))
    run = run_once(cli)
    assert run.code == 0, run.err
    assert run.json["images"][0]["width"] == 5
    assert files_in(isolated) == ["kite.png"]


@pytest.mark.parametrize(
    "reply",
    [
        html_reply(200, "Welcome to nginx"),
        Reply(body="this is not json", content_type="application/json"),
        Reply(body=b"", content_type="application/json"),
    ],
    ids=["html", "text", "empty"],
)
def test_a_non_json_success_is_exit_6_and_leaves_no_file(cli, server, isolated, reply) -> None:
    server.generations(reply)
    run = run_once(cli)
    assert run.code == 6
    assert "not JSON" in run.err
    assert run.out == ""
    assert files_in(isolated) == []


def test_an_html_success_names_its_content_type(cli, server) -> None:
    server.generations(html_reply(200))
    assert "text/html" in run_once(cli).err


@pytest.mark.parametrize(
    "document",
    [
        {"created": 1},
        {"data": []},
        {"data": [{"revised_prompt": "x"}]},
        {"data": "nope"},
        ["not", "an", "object"],
    ],
    ids=["no-data", "empty-data", "entry-without-image", "data-not-list", "array"],
)
def test_json_without_an_image_is_exit_6(cli, server, isolated, document) -> None:
    server.generations(Reply(body=document))
    run = run_once(cli)
    assert run.code == 6, run.err
    assert run.err.startswith("error: ")
    assert files_in(isolated) == []


@pytest.mark.parametrize(
    "bad", ["not base64!", "iVBORw0KGgo=garbage", "abc"], ids=["symbols", "tail", "short"]
)
def test_invalid_base64_is_exit_6_and_leaves_no_file(cli, server, isolated, bad) -> None:
    server.generations(Reply(body={"data": [{"b64_json": bad}]}))
    run = run_once(cli)
    assert run.code == 6
    assert "base64" in run.err
    assert files_in(isolated) == []


def test_a_data_uri_prefix_is_accepted(cli, server, isolated) -> None:
    server.generations(Reply(body={"data": [{"b64_json": "data:image/png;base64," + b64(png(4, 4))}]}))
    run = run_once(cli)
    assert run.code == 0, run.err
    assert Path(run.json["output_paths"][0]).read_bytes() == png(4, 4)


def test_decoded_bytes_that_are_no_image_are_exit_6(cli, server, isolated) -> None:
    server.generations(Reply(body={"data": [{"b64_json": b64(b"%PDF-1.7 definitely not a picture")}]}))
    run = run_once(cli)
    assert run.code == 6
    assert "not a PNG, JPEG, WebP or GIF" in run.err
    assert files_in(isolated) == []


def test_a_truncated_body_is_exit_6_and_leaves_no_file(cli, server, isolated) -> None:
    body = json.dumps({"data": [{"b64_json": b64(png(64, 64))}]}).encode()
    server.generations(Reply(body=body, content_type="application/json", cut_at=len(body) // 2))
    run = run_once(cli)
    assert run.code == 6
    assert "cut off" in run.err and "Content-Length" in run.err
    assert files_in(isolated) == []


@pytest.mark.parametrize("status", [502, 524])
def test_a_gateway_html_page_is_exit_5_with_status_and_excerpt(cli, server, isolated, status) -> None:
    server.generations(html_reply(status, "Bad Gateway"))
    run = run_once(cli)
    assert run.code == 5
    assert f"HTTP {status}" in run.err
    assert "Bad Gateway" in run.err
    assert len(server.seen) == 1, "a 5xx after sending is not retried"
    assert "billed" in run.err
    assert files_in(isolated) == []


def test_a_connection_dropped_after_sending_is_exit_5_and_not_retried(cli, server, isolated) -> None:
    server.generations(Reply(hang_up=True), image_reply())
    run = run_once(cli)
    assert run.code == 5
    assert "after the request was sent" in run.err
    assert "billed" in run.err
    assert len(server.seen) == 1
    assert files_in(isolated) == []


def test_timeout_is_a_total_deadline_even_for_a_dripping_server(cli, server, isolated) -> None:
    body = json.dumps({"data": [{"b64_json": b64(png())}]})
    server.generations(Reply(body=body, content_type="application/json", drip=0.2))
    run = run_once(cli, "--timeout", "1")
    assert run.code == 5
    assert "timed out after 1 s" in run.err
    assert "billed" in run.err
    assert len(server.seen) == 1
    assert files_in(isolated) == []


def test_timeout_is_a_total_deadline_even_for_dripping_headers(cli, server, isolated) -> None:
    server.generations(Reply(body={"data": []}, header_drip=0.2))
    run = run_once(cli, "--timeout", "1")
    assert run.code == 5
    assert "timed out after 1 s" in run.err
    assert len(server.seen) == 1
    assert server.wait_for_hang_up(), "the client waited for the whole dripping header"
    assert files_in(isolated) == []


def test_timeout_also_bounds_a_dripping_download(cli, server, isolated) -> None:
    url = server.script("/slow.png", Reply(body=png(), content_type="image/png", drip=0.2))
    server.generations(Reply(body={"data": [{"url": url}]}))
    run = run_once(cli, "--timeout", "1")
    assert run.code == 5
    assert "timed out after 1 s while downloading the image" in run.err
    assert files_in(isolated) == []


def test_a_redirect_of_the_api_call_is_refused(cli, server, isolated) -> None:
    target = server.script("/elsewhere", image_reply())
    server.generations(Reply(status=307, headers={"Location": target}))
    run = run_once(cli)
    assert run.code == 5
    assert "redirected" in run.err
    assert server.requests_to("/elsewhere") == []
    assert files_in(isolated) == []
