"""Bad input is refused with exit 2 and one clear message, before any request is sent (or paid for)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagegate.errors import UsageError
from imagegate.inputs import MAX_INPUT_BYTES, inspect_image
from imagegate.option_values import check as check_options
from imagegate.options import Options

from .support.helpers import API_KEY, BASE, png

ENDPOINTS = re.compile(r"https://api\.example\.test/.*")


@pytest.fixture
def provider(make_config, requests_mock):
    """A configured provider that would answer anything; tests assert it is never called."""
    make_config({"api_key": API_KEY, "base_url": BASE})
    requests_mock.post(ENDPOINTS, json={"data": [{"b64_json": ""}]})
    return requests_mock


def refused(cli, provider, *args: str) -> str:
    run = cli(*args)
    assert run.code == 2, run.err
    assert provider.call_count == 0
    assert run.out == ""
    assert "error: " in run.err and "Traceback" not in run.err
    return run.err


def edit(*args: str) -> tuple[str, ...]:
    return ("--prompt", "make it blue", "--out", "o.png", *args)


@pytest.fixture
def picture(isolated: Path) -> Path:
    path = isolated / "in.png"
    path.write_bytes(png(16, 16))
    return path


def test_a_missing_edit_image_is_refused(cli, provider) -> None:
    assert "no such file" in refused(cli, provider, *edit("--edit-image", "nowhere.png"))


def test_a_folder_as_edit_image_is_refused(cli, provider, isolated) -> None:
    (isolated / "folder").mkdir()
    assert "folder" in refused(cli, provider, *edit("--edit-image", "folder"))


def test_an_unreadable_edit_image_is_refused(cli, provider, picture, monkeypatch) -> None:
    # Root reads any file, so the permission error is simulated where the file is opened.
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("imagegate.inputs.read_head", denied)
    assert "cannot read" in refused(cli, provider, *edit("--edit-image", str(picture)))


@pytest.mark.parametrize(
    "content", [b"", b"hello, not an image", b"%PDF-1.7", b"\x89PNG"], ids=["empty", "text", "pdf", "stub"]
)
def test_a_non_image_edit_image_is_refused(cli, provider, isolated, content) -> None:
    (isolated / "x.png").write_bytes(content)
    err = refused(cli, provider, *edit("--edit-image", "x.png"))
    assert "not a PNG, JPEG, WebP or GIF" in err


def test_more_than_16_input_images_are_refused(cli, provider, picture) -> None:
    args = [arg for _ in range(17) for arg in ("--edit-image", str(picture))]
    assert "at most 16" in refused(cli, provider, *edit(*args))


def test_an_input_image_over_50_mb_is_refused(cli, provider, isolated) -> None:
    big = isolated / "big.png"
    with open(big, "wb") as handle:
        handle.write(png(16, 16))
        handle.truncate(MAX_INPUT_BYTES + 1)  # sparse: no 50 MB written
    assert "over the 50 MB limit" in refused(cli, provider, *edit("--edit-image", str(big)))


def test_a_mask_that_is_not_a_png_is_refused(cli, provider, isolated, picture) -> None:
    (isolated / "mask.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    err = refused(cli, provider, *edit("--edit-image", str(picture), "--mask", "mask.jpg"))
    assert "must be a PNG" in err


def test_a_mask_of_another_size_is_refused(cli, provider, isolated, picture) -> None:
    (isolated / "mask.png").write_bytes(png(8, 8, alpha=True))
    err = refused(cli, provider, *edit("--edit-image", str(picture), "--mask", "mask.png"))
    assert "8x8" in err and "16x16" in err


def test_a_mask_without_an_edit_image_is_refused(cli, provider, isolated) -> None:
    (isolated / "mask.png").write_bytes(png(8, 8, alpha=True))
    assert "--mask needs" in refused(cli, provider, *edit("--mask", "mask.png"))


@pytest.mark.parametrize("n", ["0", "11", "-1", "two", "1.5", ""])
def test_n_outside_1_to_10_or_not_a_number_is_refused(cli, provider, n) -> None:
    assert "--n" in refused(cli, provider, "--prompt", "p", "--out", "o.png", f"--n={n}")


@pytest.mark.parametrize(
    "size", ["1024", "1024x", "x1024", "axb", "0x100", "1024*1024", "-5x5", " 1024x1024"]
)
def test_a_malformed_size_is_refused(cli, provider, size) -> None:
    assert "--size" in refused(cli, provider, "--prompt", "p", "--out", "o.png", f"--size={size}")


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_refused(cli, provider, prompt) -> None:
    assert "prompt" in refused(cli, provider, "--prompt", prompt, "--out", "o.png")


def test_an_output_inside_a_file_is_refused(cli, provider, isolated) -> None:
    (isolated / "afile").write_text("x")
    refused(cli, provider, "--prompt", "p", "--out", "afile/o.png")


def test_an_output_folder_without_write_permission_is_refused(cli, provider, isolated, monkeypatch) -> None:
    locked = isolated / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    real_access = os.access
    # Root may write anywhere, so ask the same question the code asks and answer as for a normal user.
    monkeypatch.setattr(
        "imagegate.output.os.access",
        lambda path, mode: False if Path(path) == locked else real_access(path, mode),
    )
    assert "permission denied" in refused(cli, provider, "--prompt", "p", "--out", "locked/o.png")


def test_an_existing_output_is_refused_without_force(cli, provider, isolated) -> None:
    (isolated / "o.png").write_bytes(b"precious")
    assert "already exists" in refused(cli, provider, "--prompt", "p", "--out", "o.png")
    assert (isolated / "o.png").read_bytes() == b"precious"


# -- fuzzing the parsers of what users type and give -------------------------------------------


def size_options(size: str) -> Options:
    return Options(prompt="p", size=size, n=1, output_format="png", timeout=10)


@pytest.mark.parametrize(
    ("size", "accepted"),
    [
        ("auto", True),
        ("1024x1024", True),
        ("1x1", True),
        ("1536x1024", True),
        ("999999x999999", True),
        ("1000000x10", False),  # seven digits
        ("0x100", False),
        ("0100x100", False),
        ("1024X1024", False),
        ("Auto", False),
        ("1024x1024 ", False),
        ("1024x1024\n", False),
        ("١٠٢٤x١٠٢٤", False),  # digits, but not ASCII ones
        ("", False),
    ],
)
def test_size_is_auto_or_two_positive_whole_numbers(size: str, accepted: bool) -> None:
    if accepted:
        check_options(size_options(size))
    else:
        with pytest.raises(UsageError, match="--size"):
            check_options(size_options(size))


@given(st.text(max_size=20))
def test_any_size_text_is_either_accepted_as_wxh_or_refused_cleanly(size) -> None:
    try:
        check_options(size_options(size))
    except UsageError as exc:
        assert exc.message.startswith("--size")
    else:
        accepted = size
        width, _, height = accepted.partition("x")
        assert accepted == "auto" or (
            accepted == f"{int(width)}x{int(height)}" and int(width) * int(height) > 0
        )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=64), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF"])
)
def test_any_input_file_is_either_an_image_or_refused_cleanly(isolated, data, prefix) -> None:
    path = isolated / "fuzz.bin"
    path.write_bytes(prefix + data)
    try:
        info = inspect_image(path)
    except UsageError as exc:
        assert str(path) in exc.message
    else:
        assert info.format in ("png", "jpeg", "webp", "gif")
