"""The model rules, tested at their edges: a refused call exits 2 and sends nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from imagegate.providers.openai import MODEL_RULES, rules_for, size_problems, suggest_size

from .support.helpers import EDITS, GEN, images_answer, png
from .support.images import jpeg

FREE = MODEL_RULES["gpt-image-2"].free_sizes


@pytest.fixture
def api(make_config, requests_mock):
    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    requests_mock.post(EDITS, json=images_answer(png()))
    return requests_mock


def refused(cli, api, *args: str) -> str:
    """Run the CLI, assert exit 2 with nothing sent, and return stderr."""
    run = cli("--prompt", "p", "--out", "o.png", *args)
    assert run.code == 2, run.err
    assert api.call_count == 0, "a refused call must send nothing"
    return run.err


def accepted(cli, api, *args: str) -> None:
    run = cli("--prompt", "p", "--out", "o.png", "--force", *args)
    assert run.code == 0, run.err


# -- gpt-image-2 sizes -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["3840x2160", "2160x3840", "3840x1280", "1024x640", "640x1024", "3072x1024"])
def test_gpt_image_2_sizes_at_the_edges_pass(cli, api, size: str) -> None:
    accepted(cli, api, "--size", size)
    assert api.request_history[-1].json()["size"] == size


def test_longest_edge_3840_passes_and_3856_fails(cli, api) -> None:
    accepted(cli, api, "--size", "3840x1296")
    api.reset_mock()
    err = refused(cli, api, "--size", "3856x1296")
    assert "--size 3856x1296: gpt-image-2 needs edges of at most 3,840 pixels" in err
    assert "try 3840x1296" in err


def test_aspect_ratio_3_to_1_passes_and_beyond_fails(cli, api) -> None:
    accepted(cli, api, "--size", "3072x1024")
    api.reset_mock()
    err = refused(cli, api, "--size", "3088x1024")
    assert "an aspect ratio of at most 3:1 (this is 3.02:1)" in err
    err = refused(cli, api, "--size", "1024x3088")
    assert "(this is 1:3.02)" in err


def test_the_ratio_rule_itself_is_exact_at_3_01() -> None:
    ratio = "an aspect ratio"
    assert not any(ratio in p for p in size_problems(3000, 1000, FREE))
    assert any(ratio in p for p in size_problems(3010, 1000, FREE))
    assert any(ratio in p for p in size_problems(1000, 3010, FREE))


def test_655360_pixels_pass_and_one_row_fewer_fails(cli, api) -> None:
    accepted(cli, api, "--size", "1024x640")
    api.reset_mock()
    err = refused(cli, api, "--size", "1024x639")
    assert "between 655,360 and 8,294,400 pixels (this is 654,336)" in err
    assert not any("pixels" in p for p in size_problems(1024, 640, FREE))
    assert any("pixels" in p for p in size_problems(1024, 639, FREE))


def test_pixel_limit_alone_fails_on_grid_sizes(cli, api) -> None:
    err = refused(cli, api, "--size", "1008x640")
    assert "needs between 655,360 and 8,294,400 pixels (this is 645,120)" in err
    assert "multiples of 16" not in err
    err = refused(cli, api, "--size", "3840x2176")
    assert "(this is 8,355,840)" in err


def test_edges_not_multiple_of_16_get_the_documented_message(cli, api) -> None:
    err = refused(cli, api, "--size", "1000x1000")
    assert (
        "--size 1000x1000: gpt-image-2 needs edges that are multiples of 16 (try 1008x1008 or 1024x1024)"
        in err
    )


@pytest.mark.parametrize(
    ("width", "height"), [(1000, 1000), (3856, 1296), (5000, 100), (100, 100), (4000, 4000)]
)
def test_suggested_sizes_are_valid(width: int, height: int) -> None:
    suggestion = suggest_size(width, height, FREE)
    assert suggestion is not None
    w, h = (int(edge) for edge in suggestion.split("x"))
    assert size_problems(w, h, FREE) == []
    assert (w >= h) == (width >= height)


def test_gpt_image_2_auto_size_passes_and_snapshot_names_share_the_rules(cli, api) -> None:
    accepted(cli, api, "--size", "auto")
    accepted(cli, api, "--size", "1536x864", "--model", "gpt-image-2-2026-04-21")
    assert rules_for("gpt-image-2-2030-01-01") is MODEL_RULES["gpt-image-2"]
    api.reset_mock()
    err = refused(cli, api, "--size", "1000x1000", "--model", "gpt-image-2-2026-04-21")
    assert "gpt-image-2-2026-04-21 needs edges that are multiples of 16" in err


# -- the older GPT image models and dall-e -----------------------------------------------------
@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini"])
def test_older_gpt_image_models_take_only_their_sizes(cli, api, model: str) -> None:
    for size in ("1024x1024", "1536x1024", "1024x1536", "auto"):
        accepted(cli, api, "--model", model, "--size", size)
    api.reset_mock()
    err = refused(cli, api, "--model", model, "--size", "1536x864")
    assert f"--size 1536x864: {model} accepts 1024x1024, 1536x1024, 1024x1536 or auto" in err


def test_dall_e_3_takes_one_image_its_sizes_and_qualities(cli, api) -> None:
    accepted(
        cli, api, "--model", "dall-e-3", "--size", "1024x1792", "--quality", "standard", "--style", "vivid"
    )
    api.reset_mock()
    assert "--n 2: dall-e-3 makes at most 1 image(s) per call" in refused(
        cli, api, "--model", "dall-e-3", "--n", "2"
    )
    assert "dall-e-3 accepts 1024x1024, 1792x1024 or 1024x1792" in refused(
        cli, api, "--model", "dall-e-3", "--size", "1536x1024"
    )
    assert "--quality high: dall-e-3 accepts standard, hd or auto" in refused(
        cli, api, "--model", "dall-e-3", "--quality", "high"
    )


def test_dall_e_3_cannot_edit(cli, api, isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(16, 16))
    err = refused(cli, api, "--model", "dall-e-3", "--edit-image", "in.png")
    assert "dall-e-3 cannot edit images; these models can: gpt-image-2" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--background", "opaque"], "--background: dall-e-2 does not accept it"),
        (["--format", "webp"], "--format: dall-e-2 does not accept it"),
        (["--moderation", "low"], "--moderation: dall-e-2 does not accept it"),
        (["--format", "jpeg", "--output-compression", "50"], "--format: dall-e-2 does not accept it"),
        (["--style", "vivid"], "--style: dall-e-2 has no style; only dall-e-3 has one"),
        (["--style", "natural", "--model", "gpt-image-2"], "--style: gpt-image-2 has no style"),
        (["--quality", "high"], "--quality high: dall-e-2 accepts standard or auto"),
        (["--size", "1792x1024"], "dall-e-2 accepts 256x256, 512x512 or 1024x1024"),
    ],
)
def test_parameters_a_model_lacks_are_refused(cli, api, flags: list[str], message: str) -> None:
    assert message in refused(cli, api, "--model", "dall-e-2", *flags)


def test_dall_e_2_edits_one_square_png_under_4_mb(cli, api, isolated: Path) -> None:
    (isolated / "square.png").write_bytes(png(64, 64))
    (isolated / "wide.png").write_bytes(png(64, 32))
    (isolated / "photo.jpg").write_bytes(jpeg(64, 64))
    (isolated / "big.png").write_bytes(png(64, 64) + b"\x00" * (4 * 1024 * 1024))
    accepted(cli, api, "--model", "dall-e-2", "--edit-image", "square.png")
    api.reset_mock()
    assert "dall-e-2 edits square images only (this is 64x32)" in refused(
        cli, api, "--model", "dall-e-2", "--edit-image", "wide.png"
    )
    assert "dall-e-2 edits PNG images only (this is JPEG)" in refused(
        cli, api, "--model", "dall-e-2", "--edit-image", "photo.jpg"
    )
    assert "dall-e-2 needs it under 4 MB" in refused(
        cli, api, "--model", "dall-e-2", "--edit-image", "big.png"
    )
    assert "2 input images: dall-e-2 accepts at most 1 per edit" in refused(
        cli, api, "--model", "dall-e-2", "--edit-image", "square.png", "--edit-image", "square.png"
    )


def test_input_fidelity_is_refused_where_the_model_lacks_it(cli, api, isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(16, 16))
    for model in ("gpt-image-2", "gpt-image-1-mini"):
        err = refused(cli, api, "--model", model, "--edit-image", "in.png", "--input-fidelity", "high")
        assert f"--input-fidelity: {model} does not accept it; only gpt-image-1.5 and gpt-image-1 do" in err
    accepted(cli, api, "--model", "gpt-image-1", "--edit-image", "in.png", "--input-fidelity", "high")


def test_transparent_background_is_a_preview_warning_on_gpt_image_2(cli, api) -> None:
    run = cli("--prompt", "p", "--out", "t.png", "--background", "transparent")
    assert run.code == 0, run.err
    assert any("in preview for gpt-image-2" in w for w in run.json["warnings"])
    run = cli("--prompt", "p", "--out", "t1.png", "--background", "transparent", "--model", "gpt-image-1")
    assert not any("preview" in w for w in run.json["warnings"])


# -- everywhere ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1", "invented-by-a-proxy"])
def test_transparent_needs_png_or_webp_for_every_model(cli, api, model: str) -> None:
    err = refused(cli, api, "--model", model, "--background", "transparent", "--format", "jpeg")
    assert "--background transparent needs --format png or webp" in err
    accepted(cli, api, "--model", model, "--background", "transparent", "--format", "webp")


@pytest.mark.parametrize("model", ["gpt-image-2", "invented-by-a-proxy"])
def test_output_compression_only_with_jpeg_or_webp(cli, api, model: str) -> None:
    err = refused(cli, api, "--model", model, "--output-compression", "50")
    assert "--output-compression applies to jpeg or webp only, not png" in err
    accepted(cli, api, "--model", model, "--output-compression", "50", "--format", "jpeg")


def test_n_and_input_image_counts_are_bounded(cli, api, isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(8, 8))
    assert "--n 11" in refused(cli, api, "--n", "11")
    assert "--n 0" in refused(cli, api, "--n", "0")
    many = [arg for _ in range(17) for arg in ("--edit-image", "in.png")]
    assert "17 input images: at most 16" in refused(cli, api, *many)
    accepted(cli, api, *many[:32])
    accepted(cli, api, "--n", "10")


def test_partial_images_need_stream(cli, api) -> None:
    assert "--partial-images needs --stream" in refused(cli, api, "--partial-images", "2")


def test_a_mask_of_4_mb_or_more_is_refused(cli, api, isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(8, 8))
    (isolated / "mask.png").write_bytes(png(8, 8, alpha=True) + b"\x00" * (4 * 1024 * 1024))
    assert "must be under 4 MB" in refused(cli, api, "--edit-image", "in.png", "--mask", "mask.png")


def test_library_values_outside_the_api_are_refused(make_config, requests_mock) -> None:
    import imagegate

    make_config()
    requests_mock.post(GEN, json=images_answer(png()))
    for keywords in (
        {"background": "clear"},
        {"output_compression": 1.5, "output_format": "jpeg"},
        {"quality": "ultra"},
    ):
        with pytest.raises(imagegate.UsageError):
            imagegate.generate("p", out="x.png", **keywords)
    assert requests_mock.call_count == 0


# -- unknown models --------------------------------------------------------------------------------
def test_unknown_models_pass_unchecked_with_a_notice_at_info(
    cli, api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="imagegate.checks"):
        run = cli("--prompt", "p", "--out", "u.png", "--model", "flux-by-a-proxy", "--size", "1000x333")
    assert run.code == 0, run.err
    assert api.request_history[0].json()["size"] == "1000x333"
    notices = [r for r in caplog.records if r.name == "imagegate.checks"]
    assert notices and notices[0].levelno == logging.INFO
    assert "'flux-by-a-proxy' is not in imagegate's model table" in notices[0].getMessage()
    assert "flux-by-a-proxy" not in run.err  # a notice for --verbose, not a warning


def test_compatible_gateways_inherit_the_rules(cli, make_config, requests_mock) -> None:
    make_config(provider="compatible")
    requests_mock.post(GEN, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "c.png", "--model", "gpt-image-1", "--size", "1536x864")
    assert run.code == 2 and "gpt-image-1 accepts" in run.err
    assert requests_mock.call_count == 0
