"""JSON edits (``edit_encoding: "json"``): each input image and the mask as a data URL.

Request bodies are checked against the JSON edit schema of OpenAI's published spec
(``EditImageBodyJsonParam``, tests/data) and sent to a server that validates them as Prism does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate.providers.openai import json_edit_body

from .support.fakes import MADE, data_url_bytes, spec_errors, spec_validating_images, xai_images
from .support.faultserver import FaultServer
from .support.helpers import API_KEY, png
from .support.images import jpeg


@pytest.fixture
def inputs(isolated: Path) -> dict[str, Path]:
    files = {"a.png": png(16, 16), "b.jpg": jpeg(16, 16), "mask.png": png(16, 16, alpha=True)}
    for name, data in files.items():
        (isolated / name).write_bytes(data)
    return {name: isolated / name for name in files}


def config(make_config, server: FaultServer, **keys: Any) -> None:
    make_config({"api_key": API_KEY, "base_url": server.base_url, "edit_encoding": "json", **keys})


def test_the_json_edit_body_holds_each_image_and_the_mask_as_data_urls_and_matches_the_spec(inputs) -> None:
    body = {"model": "gpt-image-2", "prompt": "p", "n": 2, "quality": "high", "user": None}
    edit = json_edit_body(body, [inputs["a.png"], inputs["b.jpg"]], inputs["mask.png"])
    assert spec_errors("EditImageBodyJsonParam", edit) == []
    assert [item["image_url"].split(",")[0] for item in edit["images"]] == [
        "data:image/png;base64",
        "data:image/jpeg;base64",
    ]
    assert data_url_bytes(edit["images"][1]["image_url"]) == inputs["b.jpg"].read_bytes()
    assert data_url_bytes(edit["mask"]["image_url"]) == inputs["mask.png"].read_bytes()
    assert "user" not in edit and edit["n"] == 2


def test_an_openai_json_edit_passes_a_server_that_validates_against_the_spec(
    cli, make_config, inputs, isolated: Path
) -> None:
    with FaultServer() as server:
        server.edits(spec_validating_images)
        config(make_config, server)
        run = cli(
            "--prompt", "p", "--edit-image", inputs["a.png"], "--edit-image", inputs["b.jpg"],
            "--mask", inputs["mask.png"], "--out", "e.png", "--n", "1", "--format", "webp",
            "--output-compression", "70", "--input-fidelity", "high", "--model", "gpt-image-1.5",
        )  # fmt: skip
    assert run.code == 0, run.err
    sent = server.seen[0]
    assert sent.headers["Content-Type"] == "application/json"
    body = sent.json()
    assert (body["n"], body["output_compression"], body["input_fidelity"]) == (1, 70, "high")
    assert len(body["images"]) == 2 and "mask" in body
    assert (isolated / "e.png").read_bytes() == MADE


def test_a_compatible_json_edit_with_url_keys_passes_an_xai_style_server(
    cli, make_config, inputs, isolated: Path
) -> None:
    with FaultServer() as server:
        server.edits(xai_images)
        config(
            make_config,
            server,
            provider="compatible",
            model="grok-imagine-image",
            json_image_key="url",
            response_format="b64_json",
            drop_params=["size", "quality", "output_format"],
        )
        run = cli("--prompt", "p", "--edit-image", inputs["a.png"], "--out", "e.png")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert list(body["images"][0]) == ["url"]
    assert data_url_bytes(body["images"][0]["url"]) == inputs["a.png"].read_bytes()


def test_a_multipart_edit_is_refused_by_the_xai_style_server(cli, make_config, inputs) -> None:
    """Why the recipe needs edit_encoding: the same edit as multipart is refused."""
    with FaultServer() as server:
        server.edits(xai_images)
        make_config({"api_key": API_KEY, "base_url": server.base_url, "provider": "compatible"})
        run = cli("--prompt", "p", "--edit-image", inputs["a.png"], "--out", "e.png")
    assert run.code == 3 and "application/json" in run.err


def test_dall_e_2_edits_are_refused_as_json_before_anything_is_sent(cli, make_config, inputs) -> None:
    with FaultServer() as server:
        server.edits(spec_validating_images)
        config(make_config, server, model="dall-e-2")
        run = cli("--prompt", "p", "--edit-image", inputs["a.png"], "--out", "e.png")
    assert run.code == 2 and "multipart" in run.err
    assert server.seen == []


def test_a_json_edit_dry_run_shows_the_json_body_with_the_images_cut_short(cli, make_config, inputs) -> None:
    make_config({"api_key": API_KEY, "edit_encoding": "json"})
    big = inputs["a.png"].parent / "big.png"
    big.write_bytes(png(200, 200, colour=(1, 2, 3)) + bytes(4000))
    run = cli("--prompt", "p", "--edit-image", big, "--out", "e.png", "--dry-run")
    assert run.code == 0, run.err
    assert run.json["files"] == [] and run.json["body"]["prompt"] == "p"
    shown = run.json["body"]["images"][0]["image_url"]
    assert shown.startswith("data:image/png;base64,") and shown.endswith("characters in all, not shown)")
