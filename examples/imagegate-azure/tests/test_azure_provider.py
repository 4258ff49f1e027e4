"""The azure provider, driven through the imagegate CLI against a fake Azure OpenAI on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagegate_azure.adapter import DEFAULT_API_VERSION, AzureAdapter

from imagegate.testing import check_adapter, run_cli, tiny_png

pytestmark = pytest.mark.usefixtures("azure")


def test_adapter_keeps_the_plugin_contract() -> None:
    check_adapter(AzureAdapter)


def test_generation_uses_the_deployment_url_api_version_and_api_key_header(fake, config, key) -> None:
    fake.expect(
        path="/openai/deployments/img/images/generations",
        query={"api-version": DEFAULT_API_VERSION},
        headers={"api-key": key},
    )
    image = tiny_png(16, 16)
    fake.answer_b64(image)
    run = run_cli("--config", config(), "--prompt", "a lighthouse", "--out", "out.png")
    assert run.code == 0, run.err
    assert Path(run.json["output_paths"][0]).read_bytes() == image
    assert run.json["provider"] == "azure"
    body = fake.last.json
    assert body["prompt"] == "a lighthouse"
    assert "model" not in body  # the deployment in the URL chooses the model
    assert fake.last.header("authorization") is None


def test_dated_api_version_from_the_config_goes_in_the_query(fake, config) -> None:
    run_cli("--config", config(api_version="2024-10-21"), "--prompt", "p", "--out", "o.png")
    assert fake.last.query == {"api-version": "2024-10-21"}


def test_model_flag_names_another_deployment(fake, config) -> None:
    run = run_cli("--config", config(), "--prompt", "p", "--out", "o.png", "--model", "other")
    assert run.code == 0, run.err
    assert fake.last.path == "/openai/deployments/other/images/generations"
    assert run.json["model"] == "other"


def test_v1_form_sends_the_deployment_as_model(fake, config) -> None:
    fake.expect(path="/openai/v1/images/generations")
    run = run_cli("--config", config(api_version="v1"), "--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert fake.last.query == {}
    assert fake.last.json["model"] == "img"


def test_v1_preview_form_keeps_its_api_version(fake, config) -> None:
    run = run_cli("--config", config(api_version="preview"), "--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert (fake.last.path, fake.last.query) == ("/openai/v1/images/generations", {"api-version": "preview"})


def test_bearer_token_replaces_the_api_key_header(fake, config, key) -> None:
    run = run_cli("--config", config(auth="bearer"), "--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert fake.last.header("authorization") == f"Bearer {key}"
    assert fake.last.header("api-key") is None


def test_edit_uploads_image_parts_and_mask(fake, config, tmp_path: Path, key) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(tiny_png(8, 8, "a"))
    second.write_bytes(tiny_png(8, 8, "b"))
    mask = tmp_path / "m.png"
    mask.write_bytes(tiny_png(8, 8, "m"))
    fake.expect(path="/openai/deployments/img/images/edits", headers={"api-key": key})
    args = ["--prompt", "night", "--edit-image", first, "--edit-image", second, "--mask", mask]
    run = run_cli("--config", config(), *args, "--out", "e.png")
    assert run.code == 0, run.err
    files = fake.last.files
    assert [(p.name, p.content_type) for p in files] == [
        ("image[]", "image/png"),
        ("image[]", "image/png"),
        ("mask", "image/png"),
    ]
    assert files[0].data == first.read_bytes()
    assert fake.last.fields["prompt"] == "night"


def test_resource_name_builds_the_azure_endpoint(config, key) -> None:
    path = config(endpoint=None, resource="myres")
    run = run_cli("--config", path, "--prompt", "p", "--out", "o.png", "--dry-run")
    assert run.code == 0, run.err
    assert run.json["url"] == (
        f"https://myres.openai.azure.com/openai/deployments/img/images/generations?api-version={DEFAULT_API_VERSION}"
    )
    assert key not in run.out


def test_endpoint_with_openai_suffix_is_reduced_to_the_resource(fake, config) -> None:
    run = run_cli("--config", config(endpoint=fake.url + "/openai/v1/"), "--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert fake.last.path == "/openai/deployments/img/images/generations"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"deployment": None}, "'deployment' is a required property"),
        ({"endpoint": None}, "'resource' is a required property"),
        ({"api_version": "yesterday"}, "api_version"),
        ({"auth": "cookie"}, "auth"),
    ],
)
def test_config_is_validated_against_the_plugin_schema(fake, config, keys, expected) -> None:
    run = run_cli("--config", config(**keys), "--prompt", "p", "--out", "o.png")
    assert run.code == 2
    assert expected in run.err
    assert fake.requests == []


def test_webp_is_refused_before_paying(fake, config) -> None:
    run = run_cli("--config", config(), "--prompt", "p", "--out", "o.webp", "--format", "webp")
    assert run.code == 2
    assert "webp" in run.err
    assert fake.requests == []


def test_content_filter_refusal_exits_4(fake, config) -> None:
    fake.answer_error(400, "rejected by the safety system", code="content_policy_violation")
    run = run_cli("--config", config(), "--prompt", "p", "--out", "o.png")
    assert run.code == 4, run.err
    assert len(fake.requests) == 1


def test_wrong_key_is_refused_with_exit_3_and_no_key_in_the_message(fake, config, key) -> None:
    fake.answer_error(401, "Access denied due to invalid subscription key", code="401")
    run = run_cli("--config", config(), "--prompt", "p", "--out", "o.png")
    assert run.code == 3
    assert "invalid subscription key" in run.err
    assert key not in run.err + run.out
