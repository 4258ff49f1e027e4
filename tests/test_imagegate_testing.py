"""imagegate.testing, the kit plugin authors test with: it must do what the guide says."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate import plugins
from imagegate.providers.compatible import CompatibleAdapter
from imagegate.testing import FakeProvider, check_adapter, registered, run_cli, tiny_png, write_config

from .support.helpers import API_KEY, png


class EchoAdapter(CompatibleAdapter):
    name = "echo"
    description = "compatible, under another name"


class ShadowPlaceholder(CompatibleAdapter):
    name = "placeholder"


@pytest.fixture
def fake():
    with FakeProvider() as server:
        yield server


def echo_config(fake: FakeProvider, **keys: object) -> Path:
    return write_config(
        Path("cfg.json"), {"provider": "echo", "api_key": API_KEY, "base_url": fake.url, **keys}
    )


def test_registered_provider_exists_only_inside_the_block(fresh_plugins) -> None:
    with registered(EchoAdapter, "imagegate-echo", "1.2"):
        record = plugins.get_provider("echo")
        assert (record.adapter, record.distribution, record.version) == (EchoAdapter, "imagegate-echo", "1.2")
    assert "echo" not in plugins.providers()


def test_registered_hides_and_then_restores_an_installed_provider_of_the_same_name(fresh_plugins) -> None:
    original = plugins.get_provider("placeholder").adapter
    with registered(ShadowPlaceholder):
        assert plugins.get_provider("placeholder").adapter is ShadowPlaceholder
    assert plugins.get_provider("placeholder").adapter is original


def test_run_cli_captures_code_json_and_stderr(fake, fresh_plugins) -> None:
    with registered(EchoAdapter):
        run = run_cli("--config", echo_config(fake), "--prompt", "p", "--out", "a.png")
        bad = run_cli("--config", echo_config(fake), "--prompt", "p", "--quality", "silly")
    assert run.code == 0, run.err
    assert run.json["provider"] == "echo"
    assert bad.code == 2 and "invalid choice" in bad.err and "silly" not in bad.err and bad.out == ""


def test_fake_answers_n_images_by_default_and_records_the_request(fake, fresh_plugins) -> None:
    with registered(EchoAdapter):
        run = run_cli("--config", echo_config(fake), "--prompt", "p", "--out", "a.png", "--n", "3")
    assert run.code == 0, run.err
    assert len(run.json["output_paths"]) == 3
    assert (fake.last.method, fake.last.path) == ("POST", "/images/generations")
    assert fake.last.json["n"] == 3
    assert fake.last.header("AUTHORIZATION") == f"Bearer {API_KEY}"


def test_fake_plays_scripted_answers_in_order(fake, fresh_plugins) -> None:
    first, second = png(4, 4), png(6, 6, colour=(1, 2, 3))
    fake.answer_b64(first)
    fake.answer_url(second)
    fake.answer_error(400, "nope", code="content_policy_violation")
    fake.answer_raw(200, b"<html>gateway</html>", {"Content-Type": "text/html"})
    with registered(EchoAdapter):
        runs = [
            run_cli("--config", echo_config(fake), "--prompt", "p", "--out", f"{i}.png") for i in range(4)
        ]
    assert [run.code for run in runs] == [0, 0, 4, 6]
    assert Path("0.png").read_bytes() == first
    assert Path("1.png").read_bytes() == second
    assert [d.path for d in fake.downloads] == ["/files/1.png"]
    assert fake.downloads[0].header("authorization") is None  # links are fetched without the key
    assert len(fake.requests) == 4


def test_fake_refuses_requests_that_miss_the_expectation(fake, fresh_plugins) -> None:
    fake.expect(path="/v9/images/generations", query={"v": "1"}, headers={"X-Key": "k"})
    with registered(EchoAdapter):
        run = run_cli("--config", echo_config(fake), "--prompt", "p", "--out", "a.png")
        good = run_cli(
            "--config",
            echo_config(
                fake,
                paths={"generations": "/v9/images/generations"},
                query={"v": "1"},
                headers={"X-Key": "k"},
            ),
            "--prompt",
            "p",
            "--out",
            "b.png",
        )
    assert run.code == 3
    assert "expected path /v9/images/generations, got /images/generations" in run.err
    assert good.code == 0, good.err


def test_fake_parses_multipart_edits(fake, fresh_plugins, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(tiny_png(8, 8))
    with registered(EchoAdapter):
        run = run_cli(
            "--config", echo_config(fake, image_field="image"), "--prompt", "q", "--edit-image", source
        )
    assert run.code == 0, run.err
    assert fake.last.fields["prompt"] == "q"
    assert [(p.name, p.filename, p.content_type) for p in fake.last.files] == [
        ("image", "in.png", "image/png")
    ]
    assert fake.last.files[0].data == source.read_bytes()


def test_check_adapter_accepts_builtins_and_rejects_a_broken_schema() -> None:
    check_adapter(CompatibleAdapter)

    class BadSchema(CompatibleAdapter):
        name = "bad"

        @classmethod
        def config_schema(cls):
            return {"type": "object", "properties": {"x": {"type": "nonsense"}}}

    with pytest.raises(Exception, match="nonsense"):
        check_adapter(BadSchema)
