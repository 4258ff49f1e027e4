"""Honest facts about each image, read from its own header: format, size, alpha and bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.sniff import EXTENSIONS, HEAD_BYTES, sniff, sniff_file

from .support.helpers import GEN, images_answer, png
from .support.images import FIXTURES, jpeg


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_header_facts_are_right(name: str) -> None:
    data, kind, width, height, alpha = FIXTURES[name]
    info = sniff(data)
    assert (info.format, info.width, info.height, info.alpha) == (kind, width, height, alpha)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_the_json_reports_each_images_facts(
    cli, make_config, requests_mock, isolated: Path, name: str
) -> None:
    data, kind, width, height, alpha = FIXTURES[name]
    make_config()
    requests_mock.post(
        GEN, json=images_answer(data, usage={"input_tokens": 3}), headers={"x-request-id": "r1"}
    )
    run = cli("--prompt", "p", "--out", f"{name}{EXTENSIONS[kind]}")
    assert run.code == 0, run.err
    path = isolated / f"{name}{EXTENSIONS[kind]}"
    assert run.json["images"] == [
        {
            "path": str(path),
            "format": kind,
            "width": width,
            "height": height,
            "alpha": alpha,
            "bytes": len(data),
        }
    ]
    assert path.read_bytes() == data
    call = run.json
    assert (call["provider"], call["model"], call["usage"], call["request_id"]) == (
        "openai",
        "gpt-image-2",
        {"input_tokens": 3},
        "r1",
    )
    assert isinstance(call["seconds"], float) and call["seconds"] >= 0


@pytest.mark.parametrize(
    ("name", "saved_as"),
    [("jpeg-baseline", "x.jpg"), ("webp-vp8x-alpha", "x.webp"), ("gif-transparent", "x.gif")],
)
def test_the_extension_follows_the_real_format(
    cli, make_config, requests_mock, isolated: Path, name: str, saved_as: str
) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(FIXTURES[name][0]))
    run = cli("--prompt", "p", "--out", "x.png")
    assert run.code == 0, run.err
    assert run.json["output_paths"] == [str(isolated / saved_as)]
    assert not (isolated / "x.png").exists()
    assert any(f"saved as {saved_as}" in w for w in run.json["warnings"])


def test_missing_alpha_after_asking_for_transparency_is_said(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png(8, 8), png(8, 8, alpha=True)))
    run = cli(
        "--prompt", "p", "--out", "t.png", "--background", "transparent", "--model", "gpt-image-1", "--n", "2"
    )
    assert run.code == 0, run.err
    assert run.json["warnings"] == [
        "t.png has no alpha channel although --background transparent was asked for"
    ]
    assert [image["alpha"] for image in run.json["images"]] == [False, True]


def test_no_alpha_warning_when_transparency_was_not_asked_for(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png(8, 8)))
    run = cli("--prompt", "p", "--out", "t.png", "--background", "opaque")
    assert run.code == 0 and run.json["warnings"] == []


def test_revised_prompt_is_reported(cli, make_config, requests_mock) -> None:
    make_config()
    answer = images_answer(png())
    answer["data"][0]["revised_prompt"] = "a more detailed kite"
    requests_mock.post(GEN, json=answer)
    run = cli("--prompt", "kite", "--out", "k.png", "--model", "dall-e-3")
    assert run.code == 0 and run.json["revised_prompt"] == "a more detailed kite"


def test_a_jpeg_whose_frame_header_is_beyond_the_head_has_unknown_size(isolated: Path) -> None:
    path = isolated / "big.jpg"
    path.write_bytes(jpeg(10, 10, app_bytes=HEAD_BYTES))
    info = sniff_file(path)
    assert (info.format, info.width, info.height) == ("jpeg", None, None)


def test_truncated_headers_keep_the_format_without_inventing_facts() -> None:
    for name, (data, kind, *_rest) in FIXTURES.items():
        info = sniff(data[:14])
        assert info is not None and info.format == kind, name
        assert info.width in (None, FIXTURES[name][2])


@given(
    magic=st.sampled_from(
        [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a", b""]
    ),
    tail=st.binary(max_size=200),
)
def test_sniffing_arbitrary_bytes_never_raises(magic: bytes, tail: bytes) -> None:
    info = sniff(magic + tail)
    if info is not None:
        assert info.format in EXTENSIONS
        assert info.width is None or info.width >= 0
