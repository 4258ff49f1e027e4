"""The README's provider recipes, each run as written against a local fake of its service.

The profiles are read from the README itself (section "Provider recipes"); only the host of each
``base_url`` is pointed at a local server and the key replaced by the test key. The fakes follow
the services' public descriptions (tests/support/fakes.py), not imagegate's code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .support import fakes
from .support.fakes import MADE, data_url_bytes
from .support.faultserver import FaultServer, Rule
from .support.helpers import API_KEY, png

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def recipes() -> dict[str, dict[str, Any]]:
    """The profiles of the README's recipe block."""
    start = README.index("\n### Provider recipes\n")
    block = re.search(r"```json\n(.*?)```", README[start:], flags=re.S)
    assert block is not None
    return json.loads(block.group(1))["profiles"]


def test_the_readme_names_a_recipe_for_each_service_of_the_issue() -> None:
    assert set(recipes()) == {
        "openrouter",
        "openrouter-images",
        "litellm",
        "new-api",
        "one-api",
        "azure",
        "gemini",
        "xai",
        "together",
    }


def served(make_config, server: FaultServer, name: str, routes: dict[str, Rule]) -> dict[str, Any]:
    """Point the recipe ``name`` at ``server`` (same path, local host), script ``routes``; its profile."""
    profile = dict(recipes()[name])
    path = urlsplit(profile["base_url"]).path
    profile.update(base_url=server.root + path, api_key=API_KEY)
    make_config({"profiles": {name: profile}})
    for route, rule in routes.items():
        server.script(path + route, rule)
    return profile


@pytest.fixture
def picture(isolated: Path) -> Path:
    path = isolated / "in.png"
    path.write_bytes(png(16, 16))
    return path


def test_openrouter_chat_generates_and_edits(cli, make_config, picture, isolated) -> None:
    with FaultServer() as server:
        served(make_config, server, "openrouter", {"/chat/completions": fakes.chat_service()})
        made = cli("--profile", "openrouter", "--prompt", "a kite", "--out", "a.png")
        edited = cli(
            "--profile", "openrouter", "--prompt", "bluer", "--edit-image", picture, "--out", "b.png"
        )
    assert made.code == 0 and edited.code == 0, made.err + edited.err
    assert (isolated / "a.png").read_bytes() == MADE == (isolated / "b.png").read_bytes()
    part = server.seen[1].json()["messages"][0]["content"][1]
    assert data_url_bytes(part["image_url"]["url"]) == picture.read_bytes()


def test_openrouter_images_endpoint_through_compatible_paths(cli, make_config, isolated) -> None:
    with FaultServer() as server:
        served(make_config, server, "openrouter-images", {"/images": fakes.openrouter_images})
        run = cli("--profile", "openrouter-images", "--prompt", "a kite", "--out", "a.png")
    assert run.code == 0, run.err
    assert server.seen[0].path == "/api/v1/images"
    assert run.json["usage"]["cost"] == 0.04


def test_litellm_generates_edits_and_turns_a_stream_into_a_normal_call(
    cli, make_config, picture, isolated
) -> None:
    with FaultServer() as server:
        served(
            make_config,
            server,
            "litellm",
            {"/images/generations": fakes.litellm_images, "/images/edits": fakes.litellm_images},
        )
        made = cli("--profile", "litellm", "--prompt", "a kite", "--out", "a.png", "--stream")
        edited = cli("--profile", "litellm", "--prompt", "p", "--edit-image", picture, "--out", "b.png")
    assert made.code == 0 and edited.code == 0, made.err + edited.err
    assert "cannot stream; making a normal call instead" in made.err
    assert "stream" not in server.seen[0].json()
    assert (isolated / "b.png").read_bytes() == MADE


def test_new_api_generates_and_edits(cli, make_config, picture, isolated) -> None:
    with FaultServer() as server:
        served(
            make_config,
            server,
            "new-api",
            {"/images/generations": fakes.new_api_images, "/images/edits": fakes.new_api_images},
        )
        made = cli("--profile", "new-api", "--prompt", "a kite", "--out", "a.png")
        edited = cli("--profile", "new-api", "--prompt", "p", "--edit-image", picture, "--out", "b.png")
    assert made.code == 0 and edited.code == 0, made.err + edited.err
    assert (isolated / "a.png").read_bytes() == MADE == (isolated / "b.png").read_bytes()


def test_one_api_generates_and_says_it_has_no_edits(cli, make_config, picture, isolated) -> None:
    with FaultServer() as server:
        served(
            make_config,
            server,
            "one-api",
            {"/images/generations": fakes.one_api_images, "/images/edits": fakes.one_api_images},
        )
        made = cli("--profile", "one-api", "--prompt", "a kite", "--out", "a.png")
        edited = cli("--profile", "one-api", "--prompt", "p", "--edit-image", picture, "--out", "b.png")
    assert made.code == 0, made.err
    assert server.seen[0].json()["model"] == "gpt-image-2"
    assert edited.code != 0 and "API not implemented" in edited.err


def test_azure_responses_sends_the_image_deployment_header_and_the_api_key(
    cli, make_config, isolated
) -> None:
    deployment = {"x-ms-oai-image-generation-deployment": "gpt-image-2"}
    rule = fakes.responses_service(headers=deployment, key_header="api-key", key_scheme="")
    with FaultServer() as server:
        served(make_config, server, "azure", {"/responses": rule})
        run = cli("--profile", "azure", "--prompt", "a kite", "--out", "a.png")
    assert run.code == 0, run.err
    assert server.seen[0].path == "/openai/v1/responses"
    assert "Authorization" not in server.seen[0].headers
    assert (isolated / "a.png").read_bytes() == MADE


def test_gemini_generates_once_its_unknown_fields_are_dropped(cli, make_config, isolated) -> None:
    with FaultServer() as server:
        profile = served(make_config, server, "gemini", {"/images/generations": fakes.gemini_images})
        run = cli("--profile", "gemini", "--prompt", "a kite", "--out", "a.png")
        make_config({"profiles": {"bare": {**profile, "drop_params": []}}})
        bare = cli("--profile", "bare", "--prompt", "a kite", "--out", "b.png")
    assert run.code == 0, run.err
    assert bare.code == 3 and "Unknown name" in bare.err  # why the recipe drops them


def test_xai_generates_and_edits_as_json(cli, make_config, picture, isolated) -> None:
    with FaultServer() as server:
        served(
            make_config,
            server,
            "xai",
            {"/images/generations": fakes.xai_images, "/images/edits": fakes.xai_images},
        )
        made = cli("--profile", "xai", "--prompt", "a kite", "--out", "a.png")
        edited = cli("--profile", "xai", "--prompt", "p", "--edit-image", picture, "--out", "b.png")
    assert made.code == 0 and edited.code == 0, made.err + edited.err
    assert data_url_bytes(server.seen[1].json()["images"][0]["url"]) == picture.read_bytes()


def test_together_generates_with_width_and_height(cli, make_config, isolated) -> None:
    with FaultServer() as server:
        served(make_config, server, "together", {"/images/generations": fakes.together_images})
        run = cli("--profile", "together", "--prompt", "a kite", "--out", "a.png")
    assert run.code == 0, run.err
    body = server.seen[0].json()
    assert (body["width"], body["height"], body["response_format"]) == (1024, 1024, "b64_json")
    assert (isolated / "a.png").read_bytes() == MADE
