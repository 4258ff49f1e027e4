"""Streamed calls against a real HTTP server on 127.0.0.1 that sends server-sent events."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

import imagegate
from imagegate.sniff import sniff_file
from imagegate.testing import CliResult

from .support.faultserver import FaultServer, Reply, stream_reply
from .support.helpers import API_KEY, assert_valid_generation_body, b64, images_answer, png
from .support.images import jpeg
from .support.rawserver import RawServer
from .support.sse import USAGE, completed_event, partial_event, split, sse, standard_stream


def serve(server: FaultServer, reply: Reply) -> None:
    """Answer both image endpoints with ``reply``."""
    server.generations(reply)
    server.edits(reply)


def test_streamed_generation_saves_partials_and_the_final_image(cli, server, isolated: Path) -> None:
    pieces, final = standard_stream(partials=2)
    serve(server, stream_reply(pieces))
    run = cli("--prompt", "a kite", "--out", "kite.png", "--stream", "--partial-images", "2")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert_valid_generation_body(body)
    assert (body["stream"], body["partial_images"]) == (True, 2)
    assert server.seen[0].path == "/v1/images/generations"
    assert (isolated / "kite.png").read_bytes() == final
    partials = [isolated / "kite.partial-1.png", isolated / "kite.partial-2.png"]
    assert [p.read_bytes() for p in partials] == [
        png(24, 16, colour=(0, 0, 0)),
        png(24, 16, colour=(40, 0, 0)),
    ]
    document = run.json
    assert document["partial_paths"] == [str(p) for p in partials]
    assert document["output_paths"] == [str(isolated / "kite.png")]
    assert document["images"][0]["width"] == 24 and document["images"][0]["format"] == "png"
    assert document["usage"] == USAGE
    assert document["provider_extras"]["quality"] == "low"
    assert "partial image 1 saved" in run.err and "partial image 2 saved" in run.err
    assert "image 1 of 1 received" in run.err
    assert sorted(p.name for p in isolated.iterdir()) == [
        "kite.partial-1.png",
        "kite.partial-2.png",
        "kite.png",
    ]


def test_streamed_edit_uses_image_edit_events(cli, server, isolated: Path) -> None:
    pieces, final = standard_stream(partials=1, prefix="image_edit")
    (isolated / "in.png").write_bytes(png(8, 8))
    serve(server, stream_reply(pieces))
    run = cli(
        "--prompt", "p", "--out", "e.png", "--edit-image", "in.png", "--stream", "--partial-images", "1"
    )
    assert run.code == 0, run.err
    assert server.seen[0].path == "/v1/images/edits"
    assert b'name="stream"' in server.seen[0].body
    assert (isolated / "e.png").read_bytes() == final
    assert (isolated / "e.partial-1.png").exists()


def test_crlf_events_without_event_lines_in_one_byte_pieces(cli, server, isolated: Path) -> None:
    final = png(5, 5)
    events = sse(
        "x",
        {"type": "image_generation.completed", "b64_json": b64(final), "usage": USAGE},
        newline="\r\n",
        with_event_line=False,
    )
    serve(server, stream_reply(split(events, 1)))
    run = cli("--prompt", "p", "--out", "o.png", "--stream")
    assert run.code == 0, run.err
    assert (isolated / "o.png").read_bytes() == final


def test_a_partial_in_jpeg_is_named_by_its_real_format(cli, server, isolated: Path) -> None:
    events = partial_event(jpeg(24, 16), 0) + completed_event(png(24, 16))
    serve(server, stream_reply([events]))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "1")
    assert run.code == 0, run.err
    assert sniff_file(isolated / "o.partial-1.jpg").format == "jpeg"
    assert run.json["partial_paths"] == [str(isolated / "o.partial-1.jpg")]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"type": "image_generation_user_error", "code": "moderation_blocked", "message": "blocked"}, 4),
        ({"type": "invalid_request_error", "code": "bad_size", "message": "no"}, 3),
        ({"type": "server_error", "message": "oops"}, 5),
    ],
)
def test_an_error_event_gives_the_documented_exit_code(cli, server, isolated: Path, error, code) -> None:
    events = partial_event(png(4, 4), 0) + sse("error", {"type": "error", "error": error})
    serve(server, stream_reply([events]))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "1")
    assert run.code == code
    assert "the provider stopped the stream with an error" in run.err and error["message"] in run.err
    assert "Partial previews were saved" in run.err
    assert not (isolated / "o.png").exists()
    assert [p.name for p in isolated.iterdir()] == ["o.partial-1.png"]  # no temp file remains


def test_a_stream_that_ends_without_a_final_image_is_unusable(cli, server, isolated: Path) -> None:
    serve(server, stream_reply([partial_event(png(4, 4), 0)]))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "1")
    assert run.code == 6
    assert "the stream ended without a final image (1 partial image(s) arrived)" in run.err


def test_an_event_that_is_not_json_is_unusable(cli, server) -> None:
    serve(server, stream_reply([b"data: {not json\n\n"]))
    run = cli("--prompt", "p", "--out", "o.png", "--stream")
    assert run.code == 6 and "an event of the stream is not JSON" in run.err


def test_a_final_event_cut_off_by_the_end_of_the_stream_is_still_saved(cli, server, isolated) -> None:
    events = completed_event(png(6, 6))[:-2]  # no blank line after the last event
    serve(server, stream_reply([events]))
    run = cli("--prompt", "p", "--out", "o.png", "--stream")
    assert run.code == 0, run.err
    assert (isolated / "o.png").read_bytes() == png(6, 6)


def test_existing_partial_is_not_overwritten_without_force(cli, server, isolated: Path) -> None:
    (isolated / "o.partial-2.png").write_bytes(b"mine")
    pieces, _ = standard_stream(partials=2)
    serve(server, stream_reply(pieces))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "2")
    assert run.code == 2 and "o.partial-2.png already exists; nothing was sent" in run.err
    assert server.seen == []
    forced = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "2", "--force")
    assert forced.code == 0, forced.err
    assert (isolated / "o.partial-2.png").read_bytes() != b"mine"


def test_a_provider_that_cannot_stream_falls_back_with_a_notice(
    cli, make_config, server, isolated: Path
) -> None:
    answer = json.dumps(images_answer(png(9, 9))).encode()
    serve(server, stream_reply([answer], content_type="application/json"))
    make_config(provider="compatible", base_url=server.base_url)
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "2")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert "stream" not in body and "partial_images" not in body
    assert "provider 'compatible' cannot stream; making a normal call instead" in run.json["warnings"]
    assert "cannot stream" in run.err
    assert (isolated / "o.png").read_bytes() == png(9, 9)


def test_a_compatible_gateway_configured_to_stream_streams(cli, make_config, server, isolated: Path) -> None:
    pieces, final = standard_stream(partials=1)
    serve(server, stream_reply(pieces))
    make_config(provider="compatible", base_url=server.base_url, stream=True)
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "1")
    assert run.code == 0, run.err
    assert server.seen[0].json()["stream"] is True
    assert (isolated / "o.png").read_bytes() == final


def test_a_model_that_cannot_stream_makes_a_normal_call(cli, server, isolated: Path) -> None:
    answer = json.dumps(images_answer(png(9, 9))).encode()
    serve(server, stream_reply([answer], content_type="application/json"))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--model", "dall-e-3")
    assert run.code == 0, run.err
    assert "stream" not in server.seen[0].json()
    assert "dall-e-3 cannot stream; making a normal call instead" in run.json["warnings"]


def test_several_images_each_arrive_as_a_completed_event(cli, server, isolated: Path) -> None:
    events = completed_event(png(3, 3)) + completed_event(png(4, 4))
    serve(server, stream_reply(split(events, 50)))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--n", "2")
    assert run.code == 0, run.err
    assert [sniff_file(p).width for p in (isolated / "o.png", isolated / "o-2.png")] == [3, 4]


def test_library_streaming_keeps_images_in_memory(server) -> None:
    pieces, final = standard_stream(partials=1)
    serve(server, stream_reply(pieces))
    result = imagegate.generate("p", stream=True, partial_images=1)
    assert result.images[0].data == final
    assert result.partials == []


def test_the_key_goes_only_in_the_authorization_header(cli, server) -> None:
    pieces, _ = standard_stream(partials=0)
    serve(server, stream_reply(pieces))
    run = cli("--prompt", "p", "--out", "o.png", "--stream")
    assert run.code == 0
    assert server.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in run.out + run.err


def test_images_that_arrived_are_kept_when_the_stream_breaks_later(cli, server, isolated: Path) -> None:
    events = completed_event(png(3, 3)) + completed_event(png(4, 4))[:40]  # cut inside the second image
    serve(server, stream_reply([events]))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--n", "2")
    assert run.code == 0, run.err
    assert (isolated / "o.png").read_bytes() == png(3, 3)
    assert not (isolated / "o-2.png").exists()
    assert any("2 images were asked for; 1 arrived" in w for w in run.json["warnings"])
    skipped = "1 event(s) of the stream could not be read and were skipped"
    assert any(skipped in w for w in run.json["warnings"])
    assert sorted(p.name for p in isolated.iterdir()) == ["o.png"]


def test_a_broken_preview_does_not_cost_the_final_image_after_it(cli, server, isolated: Path) -> None:
    kind = "image_generation.partial_image"
    broken = sse(kind, {"type": kind, "b64_json": {"not": "an image"}, "partial_image_index": 0})
    serve(server, stream_reply(split(broken + partial_event(png(4, 4), 1) + completed_event(png(6, 6)), 53)))
    run = cli("--prompt", "p", "--out", "o.png", "--stream", "--partial-images", "2")
    assert run.code == 0, run.err
    assert (isolated / "o.png").read_bytes() == png(6, 6)
    assert sorted(p.name for p in isolated.iterdir()) == ["o.partial-1.png", "o.png"]
    assert any("an object where an image belongs" in w and "skipped" in w for w in run.json["warnings"])


def stalled_stream(cli, make_config, sent: bytes) -> CliResult:
    """A streamed call (``--timeout 1``) to a server that sends ``sent`` as a close-delimited event
    stream, then stalls."""

    def stall(connection: socket.socket, head: bytes) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + sent
        )
        time.sleep(4)

    with RawServer(stall) as provider:
        make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:{provider.port}/v1"})
        return cli("--prompt", "p", "--out", "o.png", "--stream", "--timeout", "1", "--retries", "0")


def test_a_final_image_cut_off_only_from_its_blank_line_is_saved(cli, make_config, isolated: Path) -> None:
    """The event's data arrived whole, then the stream stalled past --timeout: the image is all there."""
    run = stalled_stream(cli, make_config, completed_event(png(6, 6))[:-1])  # one line break short
    assert run.code == 0, run.err
    assert (isolated / "o.png").read_bytes() == png(6, 6)


def test_a_stream_that_stalls_before_any_image_is_a_timeout(cli, make_config, isolated: Path) -> None:
    run = stalled_stream(cli, make_config, completed_event(png(6, 6))[:60])
    assert run.code == 5, run.err
    assert "timed out" in run.err and not (isolated / "o.png").exists()


def test_a_gzip_stream_that_fails_its_checksum_is_unusable_not_ended(
    cli, make_config, isolated: Path
) -> None:
    """A corrupt encoding is no early end: the final event before it is not taken as whole."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = bytearray(
        packer.compress(completed_event(png(6, 6))[:-1]) + packer.flush()
    )  # no closing blank line
    body[-8] ^= 0xFF  # the CRC of the gzip trailer no longer matches

    def corrupt(connection: socket.socket, head: bytes) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
            b"Connection: close\r\n\r\n" + bytes(body[:-8])
        )
        time.sleep(0.5)  # the event's data is read first; the trailer that fails comes later
        connection.sendall(bytes(body[-8:]))

    with RawServer(corrupt) as provider:
        make_config({"api_key": API_KEY, "base_url": f"http://127.0.0.1:{provider.port}/v1"})
        run = cli("--prompt", "p", "--out", "o.png", "--stream", "--retries", "0")
    assert run.code == 6, run.err
    assert "corrupt" in run.err and not (isolated / "o.png").exists()
