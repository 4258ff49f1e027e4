"""Each built-in adapter's routing, headers, request encoding and answer decoding (requests-mock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate.sniff import sniff_file

from .support.helpers import (
    API_KEY,
    BASE,
    EDITS,
    GEN,
    assert_valid_edit_body,
    assert_valid_generation_body,
    b64,
    images_answer,
    parse_multipart,
    png,
)

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\xff\xd9"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8L\x18\x00\x00\x00\x2f\x07\xc0\x01\x10" + b"\x00" * 19


@pytest.fixture
def inputs(isolated: Path) -> dict[str, Path]:
    files = {"a.png": png(32, 32), "b.jpg": JPEG, "c.webp": WEBP, "mask.png": png(32, 32, alpha=True)}
    for name, data in files.items():
        (isolated / name).write_bytes(data)
    return {name: isolated / name for name in files}


def _multipart(request) -> tuple[str, bytes]:
    return request.headers["Content-Type"], request.body


def test_openai_generation_is_json_to_generations_with_bearer(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json=images_answer(png(16, 16)))
    run = cli("--prompt", "a kite", "--out", "k.png", "--quality", "high", "--n", "1")
    assert run.code == 0, run.err
    sent = requests_mock.request_history[0]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    body = sent.json()
    assert_valid_generation_body(body)
    assert body == {
        "model": "gpt-image-2",
        "prompt": "a kite",
        "n": 1,
        "size": "1024x1024",
        "quality": "high",
        "output_format": "png",
    }


def test_openai_edit_sends_each_image_as_image_brackets_with_real_types(
    cli, make_config, requests_mock, inputs
) -> None:
    make_config()
    requests_mock.post(EDITS, json=images_answer(png(16, 16)))
    run = cli(
        "--prompt",
        "merge",
        "--out",
        "e.png",
        "--edit-image",
        inputs["a.png"],
        "--edit-image",
        inputs["b.jpg"],
        "--edit-image",
        inputs["c.webp"],
        "--mask",
        inputs["mask.png"],
    )
    assert run.code == 0, run.err
    content_type, body = _multipart(requests_mock.request_history[0])
    assert content_type.startswith("multipart/form-data")
    parts = parse_multipart(content_type, body)
    files = [(name, filename, ctype) for name, filename, ctype, _ in parts if filename]
    assert files == [
        ("image[]", "a.png", "image/png"),
        ("image[]", "b.jpg", "image/jpeg"),
        ("image[]", "c.webp", "image/webp"),
        ("mask", "mask.png", "image/png"),
    ]
    assert [payload for _, filename, _, payload in parts if filename][:2] == [png(32, 32), JPEG]
    document = assert_valid_edit_body(content_type, body)
    assert document["prompt"] == "merge" and document["model"] == "gpt-image-2"


def test_a_single_edit_image_goes_as_image_as_the_official_sdk_sends_it(
    cli, make_config, requests_mock, inputs
) -> None:
    make_config()
    requests_mock.post(EDITS, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "e.png", "--edit-image", inputs["a.png"]).code == 0
    parts = parse_multipart(*_multipart(requests_mock.request_history[0]))
    assert [name for name, filename, _, _ in parts if filename] == ["image"]
    assert "image/octet-stream" not in str(parts) and "application/octet-stream" not in str(parts)


def test_organization_and_project_become_headers(cli, make_config, requests_mock) -> None:
    make_config(organization="org-1", project="proj-2")
    requests_mock.post(GEN, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "o.png").code == 0
    headers = requests_mock.request_history[0].headers
    assert (headers["OpenAI-Organization"], headers["OpenAI-Project"]) == ("org-1", "proj-2")


def test_base_url_pinned_to_an_endpoint_still_routes_both_operations(
    cli, make_config, requests_mock, inputs
) -> None:
    make_config(base_url=f"{BASE}/images/generations")
    requests_mock.post(GEN, json=images_answer(png()))
    requests_mock.post(EDITS, json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "g.png").code == 0
    assert cli("--prompt", "p", "--out", "e.png", "--edit-image", inputs["a.png"]).code == 0
    assert [r.url for r in requests_mock.request_history] == [GEN, EDITS]


def test_b64_answer_is_decoded_and_described(cli, make_config, requests_mock) -> None:
    make_config()
    image = png(40, 30, alpha=True)
    requests_mock.post(
        GEN, json=images_answer(image, usage={"total_tokens": 9}), headers={"x-request-id": "req_123"}
    )
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    assert Path("o.png").read_bytes() == image
    doc = run.json
    assert doc["images"][0] == {
        "path": str(Path("o.png").absolute()),
        "format": "png",
        "width": 40,
        "height": 30,
        "alpha": True,
        "bytes": len(image),
    }
    assert doc["usage"] == {"total_tokens": 9}
    assert doc["request_id"] == "req_123"


def test_data_uri_prefixed_b64_is_accepted(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json={"data": [{"b64_json": "data:image/png;base64," + b64(png())}]})
    assert cli("--prompt", "p", "--out", "o.png").code == 0
    assert Path("o.png").read_bytes() == png()


def test_url_answer_is_downloaded_without_the_key(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(
        GEN, json={"data": [{"url": "https://cdn.example.test/img/1.png", "revised_prompt": "rp"}]}
    )
    requests_mock.get("https://cdn.example.test/img/1.png", content=png(12, 12))
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    download = requests_mock.request_history[1]
    assert "Authorization" not in download.headers
    assert API_KEY not in str(download.headers)
    assert Path("o.png").read_bytes() == png(12, 12)
    assert run.json["revised_prompt"] == "rp"


def test_compatible_profile_with_plain_image_field_repeats_image(
    cli, make_config, requests_mock, inputs
) -> None:
    make_config(
        {
            "profiles": {
                "gw": {"provider": "compatible", "api_key": API_KEY, "base_url": BASE, "image_field": "image"}
            }
        }
    )
    requests_mock.post(EDITS, json=images_answer(png()))
    run = cli(
        "--prompt", "p", "--out", "e.png", "--edit-image", inputs["a.png"], "--edit-image", inputs["b.jpg"]
    )
    assert run.code == 0, run.err
    parts = parse_multipart(*_multipart(requests_mock.request_history[0]))
    assert [name for name, filename, _, _ in parts if filename] == ["image", "image"]
    assert_valid_edit_body(*_multipart(requests_mock.request_history[0]))


def test_compatible_auth_header_scheme_paths_query_and_drops(cli, make_config, requests_mock) -> None:
    make_config(
        {
            "api_key": API_KEY,
            "provider": "compatible",
            "base_url": "https://gw.example.test/openai",
            "auth_header": "api-key",
            "auth_scheme": "",
            "query": {"api-version": "2025-04-01"},
            "paths": {"generations": "deployments/img/images/generations"},
            "drop_params": ["quality"],
            "response_format": "b64_json",
            "headers": {"X-Team": "t1"},
        }
    )
    url = "https://gw.example.test/openai/deployments/img/images/generations?api-version=2025-04-01"
    requests_mock.post(url, json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 0, run.err
    sent = requests_mock.request_history[0]
    assert sent.url == url
    assert sent.headers["api-key"] == API_KEY
    assert "Authorization" not in sent.headers
    assert sent.headers["X-Team"] == "t1"
    assert "quality" not in sent.json() and sent.json()["response_format"] == "b64_json"


def test_compatible_path_may_be_a_full_url(cli, make_config, requests_mock) -> None:
    make_config(provider="compatible", paths={"generations": "https://other.example.test/gen"})
    requests_mock.post("https://other.example.test/gen", json=images_answer(png()))
    assert cli("--prompt", "p", "--out", "o.png").code == 0


def test_url_only_asks_for_urls_and_downloads_without_credentials(cli, make_config, requests_mock) -> None:
    make_config(provider="url-only")
    requests_mock.post(
        GEN,
        json={
            "data": [{"url": "https://files.example.test/a.png"}, {"url": "https://files.example.test/b.png"}]
        },
    )
    requests_mock.get("https://files.example.test/a.png", content=png(5, 5))
    requests_mock.get("https://files.example.test/b.png", content=png(6, 6))
    run = cli("--prompt", "p", "--out", "o.png", "--n", "2")
    assert run.code == 0, run.err
    assert requests_mock.request_history[0].json()["response_format"] == "url"
    for download in requests_mock.request_history[1:]:
        assert "Authorization" not in download.headers
    assert [sniff_file(p).width for p in run.json["output_paths"]] == [5, 6]


def test_url_only_with_provider_flag_overrides_config(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json={"data": [{"url": "https://files.example.test/a.png"}]})
    requests_mock.get("https://files.example.test/a.png", content=png())
    assert cli("--provider", "url-only", "--prompt", "p", "--out", "o.png").code == 0
    assert requests_mock.request_history[0].json()["response_format"] == "url"


@pytest.mark.parametrize(
    ("status", "payload", "code", "fragment"),
    [
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            3,
            "HTTP 401",
        ),
        (
            400,
            {
                "error": {
                    "message": "Your request was rejected",
                    "type": "image_generation_user_error",
                    "code": "moderation_blocked",
                }
            },
            4,
            "moderation_blocked",
        ),
        (400, {"error": {"message": "blocked", "code": "content_policy_violation"}}, 4, "content_policy"),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            3,
            "quota",
        ),
        (500, {"error": {"message": "server had an error"}}, 5, "HTTP 500"),
    ],
)
def test_provider_errors_map_to_documented_exit_codes(
    cli, make_config, requests_mock, status, payload, code, fragment
) -> None:
    make_config(retries=0)
    requests_mock.post(GEN, status_code=status, json=payload)
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == code
    assert fragment in run.err
    assert run.out == ""
    assert not Path("o.png").exists()
    assert "Traceback" not in run.err


def test_html_answer_on_200_is_unusable(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, text="<html>gateway</html>", headers={"content-type": "text/html"})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 6
    assert "text/html" in run.err and "not JSON" in run.err
    assert list(Path().iterdir()) == []


def test_answer_without_images_names_its_keys(cli, make_config, requests_mock) -> None:
    make_config()
    requests_mock.post(GEN, json={"created": 1, "object": "list"})
    run = cli("--prompt", "p", "--out", "o.png")
    assert run.code == 6
    assert "created, object" in run.err
    assert list(Path().iterdir()) == []
