"""Answers of any shape end with their documented exit code, never "internal error"; answers and
images are capped once decompressed; the config is read from the descriptor that was checked and
its folder is never left open to others.

The providers are misbehaving servers on 127.0.0.1 (tests/support/faultserver.py).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from imagegate import config as config_module
from imagegate.jsonstream import InvalidAnswer, loads, parse
from imagegate.spool import MemorySpool

from .support.faultserver import Reply, stream_reply
from .support.helpers import API_KEY, b64, png, write_config
from .support.sse import completed_event, sse


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- a non-string image field (RED-TEAM #7) ------------------------------------------------------


@pytest.mark.parametrize("value", [123, True, {}, [], 0.5, {"b64": "AAAA"}])
def test_a_non_string_b64_json_is_an_unusable_answer_and_no_file_is_written(cli, server, value) -> None:
    server.generations(Reply(body={"data": [{"b64_json": value}]}))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 6, run.err
    assert "not a base64 string" in run.err
    assert files_in(Path.cwd()) == []


def test_a_null_b64_json_beside_a_url_is_still_a_url_answer() -> None:
    document = parse(
        [b'{"data": [{"b64_json": null, "url": "https://x"}]}'], (("data", "*", "b64_json"),), MemorySpool
    )
    assert document == {"data": [{"b64_json": None, "url": "https://x"}]}


def test_a_non_string_image_in_a_streamed_final_event_is_unusable(cli, server) -> None:
    event = sse("image_generation.completed", {"type": "image_generation.completed", "b64_json": 7})
    server.generations(stream_reply([event], content_type="text/event-stream"))
    run = cli("--prompt", "p", "--out", "a.png", "--stream")
    assert run.code == 6, run.err
    assert "internal error" not in run.err


def test_a_non_string_partial_is_no_internal_error(cli, server) -> None:
    partial = sse(
        "image_generation.partial_image",
        {"type": "image_generation.partial_image", "b64_json": 5, "partial_image_index": 0},
    )
    server.generations(stream_reply([partial, completed_event(png())], content_type="text/event-stream"))
    run = cli("--prompt", "p", "--out", "a.png", "--stream", "--partial-images", "1")
    assert run.code in (0, 6), run.err
    assert "internal error" not in run.err


# -- nesting and wrong types anywhere (RED-TEAM #18) ------------------------------------------------


def test_usage_nested_deeply_after_payment_still_gives_the_saved_image(cli, server) -> None:
    server.generations(Reply(body={"data": [{"b64_json": b64(png())}], "usage": nested(700)}))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 0, run.err
    assert run.json["output_paths"] == [str(Path.cwd() / "a.png")]
    assert (Path.cwd() / "a.png").read_bytes() == png()


@pytest.mark.parametrize(
    "extra",
    [
        {"usage": [1, 2]},
        {"usage": "lots"},
        {"usage": {"total_tokens": {"x": [[[]]]}, "input_tokens_details": nested(700)}},
        {"created": nested(700)},
        {"data": [{"b64_json": b64(png()), "revised_prompt": nested(700)}]},
    ],
    ids=["usage-list", "usage-string", "usage-wrong-inner", "created-nested", "revised-nested"],
)
def test_wrong_types_beside_a_good_image_are_no_internal_error(cli, server, extra) -> None:
    server.generations(Reply(body={"data": [{"b64_json": b64(png())}], **extra}))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 0, run.err
    assert (Path.cwd() / "a.png").exists()


def test_the_bounded_loader_never_raises_more_than_invalid_answer() -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50_000, b"1" * 100_000, b"\xff\xfe\x00", b""):
        with pytest.raises(InvalidAnswer):
            loads(body)
    assert loads(json.dumps(nested(100)).encode())["a"]["a"] is not None
    deep = loads(json.dumps(nested(100)).encode())
    for _ in range(40):
        deep = deep["a"] if isinstance(deep, dict) else deep
    assert deep is None  # pruned, not recursed into


# -- caps on what an answer holds once decompressed (RED-TEAM #10) --------------------------------


def test_an_image_past_its_cap_stops_the_answer() -> None:
    huge = b'{"data": [{"b64_json": "' + b"A" * 4_000_000 + b'"}]}'
    spools: list[MemorySpool] = []

    def new() -> MemorySpool:
        spools.append(MemorySpool())
        return spools[-1]

    with pytest.raises(InvalidAnswer, match="image_max_bytes"):
        parse(
            [huge[i : i + 65536] for i in range(0, len(huge), 65536)],
            (("data", "*", "b64_json"),),
            new,
            max_image_bytes=1_000_000,
        )
    assert spools[0].size <= 1_000_000


def test_an_answer_past_its_cap_is_not_read_further() -> None:
    read: list[int] = []

    def chunks():
        yield b'{"data": [{"b64_json": "'
        while True:
            read.append(1)
            yield b"A" * 65536

    with pytest.raises(InvalidAnswer, match="answer_max_bytes"):
        parse(chunks(), (("data", "*", "b64_json"),), MemorySpool, max_bytes=1_000_000)
    assert len(read) <= 17


def _bomb(size: int) -> bytes:
    """A gzip answer whose one image string decodes to ``size`` bytes (a PNG header, then zeros)."""
    body = b'{"data": [{"b64_json": "' + b64(png()[:9]).encode() + b"A" * (size * 4 // 3) + b'"}]}'
    return gzip.compress(body)


def test_a_gzip_bomb_answer_is_stopped_at_the_image_cap(cli, make_config, server) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, "image_max_bytes": 1_000_000})
    server.generations(
        Reply(body=_bomb(30_000_000), headers={"Content-Encoding": "gzip"}, content_type="application/json")
    )
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 6, run.err
    assert "image_max_bytes" in run.err
    assert files_in(Path.cwd()) == []


def test_a_gzip_bomb_answer_is_stopped_at_the_answer_cap(cli, make_config, server) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, "answer_max_bytes": 2_000_000})
    server.generations(
        Reply(body=_bomb(30_000_000), headers={"Content-Encoding": "gzip"}, content_type="application/json")
    )
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 6, run.err
    assert "answer_max_bytes" in run.err
    assert files_in(Path.cwd()) == []


def test_a_streamed_image_past_its_cap_stops_the_stream(cli, make_config, server) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, "image_max_bytes": 100_000})
    event = sse(
        "image_generation.completed",
        {"type": "image_generation.completed", "b64_json": b64(png()[:9]) + "A" * 1_000_000},
    )
    server.generations(
        stream_reply(
            [gzip.compress(event)], content_type="text/event-stream", headers={"Content-Encoding": "gzip"}
        )
    )
    run = cli("--prompt", "p", "--out", "a.png", "--stream")
    assert run.code == 6, run.err
    assert "image_max_bytes" in run.err or "larger than" in run.err
    assert files_in(Path.cwd()) == []


def test_a_stream_of_empty_lines_is_stopped_at_the_event_cap(cli, make_config, server) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, "image_max_bytes": 100_000})
    flood = gzip.compress(b"data:\n" * 3_000_000)
    server.generations(
        stream_reply([flood], content_type="text/event-stream", headers={"Content-Encoding": "gzip"})
    )
    run = cli("--prompt", "p", "--out", "a.png", "--stream")
    assert run.code == 6, run.err
    assert "larger than" in run.err


def test_a_stream_past_the_answer_cap_is_not_read_further(cli, make_config, server) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, "answer_max_bytes": 1_000_000})
    chatter = gzip.compress(b": keep-alive\n\n" * 1_000_000)
    server.generations(
        stream_reply([chatter], content_type="text/event-stream", headers={"Content-Encoding": "gzip"})
    )
    run = cli("--prompt", "p", "--out", "a.png", "--stream")
    assert run.code == 6, run.err
    assert "answer_max_bytes" in run.err


# -- the config file: one descriptor, a private folder ---------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_config_swapped_after_its_check_is_not_read(cli, server, config_dir: Path, monkeypatch) -> None:
    """Whatever replaces the file after the check, the key read is the one of the file checked."""
    path = config_dir / "config.json"
    impostor = write_config(
        config_dir / "impostor.json",
        {"api_key": "sk-impostor-0123456789abcdef", "base_url": server.base_url},
        mode=0o644,
    )
    checked = config_module.check_permissions

    def check_then_swap(*args, **kwargs):
        checked(*args, **kwargs)
        os.replace(impostor, path)  # another user's world-readable file now sits at the path

    monkeypatch.setattr(config_module, "check_permissions", check_then_swap)
    server.generations(Reply(body={"data": [{"b64_json": b64(png())}]}))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 0, run.err
    assert server.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_config_init_makes_an_open_config_folder_private(cli, monkeypatch, config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    os.chmod(config_dir, 0o777)
    monkeypatch.setattr(sys, "stdin", io.StringIO(API_KEY + "\n"))
    run = cli("config", "init")
    assert run.code == 0, run.err
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_config_init_refuses_a_folder_others_can_write_to(cli, monkeypatch, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setattr(sys, "stdin", io.StringIO(API_KEY + "\n"))
    run = cli("config", "init", "--config", str(shared / "config.json"))
    assert run.code == 2
    assert "other users can write" in run.err
    assert files_in(shared) == []
