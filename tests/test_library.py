"""How the library's generate, edit and run_batch read their keywords: one set of names and types."""

from __future__ import annotations

from pathlib import Path

import pytest

import imagegate
from imagegate.providers.placeholder import PlaceholderAdapter
from imagegate.scrub import REDACTED
from imagegate.testing import registered

from .support.helpers import png


def test_generate_refuses_input_images_and_points_to_edit() -> None:
    with pytest.raises(imagegate.UsageError, match=r"images: .*imagegate\.edit"):
        imagegate.generate("p", provider="placeholder", images=["in.png"])


def test_generate_refuses_a_mask() -> None:
    with pytest.raises(imagegate.UsageError, match="mask: "):
        imagegate.generate("p", provider="placeholder", mask="m.png")


def test_edit_refuses_input_images_given_again_as_a_keyword(isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(4, 4))
    with pytest.raises(imagegate.UsageError, match="edit_images"):
        imagegate.edit("p", "in.png", provider="placeholder", edit_images=["in.png"])


def test_unknown_keywords_are_all_named() -> None:
    with pytest.raises(imagegate.UsageError, match="unknown keys 'colour', 'shade'") as caught:
        imagegate.generate("p", provider="placeholder", colour="red", shade="dark")
    assert "output_format" in " ".join(caught.value.hints)


def test_two_spellings_of_one_option_are_refused() -> None:
    with pytest.raises(imagegate.UsageError, match="output_format and format name the same option"):
        imagegate.generate("p", provider="placeholder", output_format="png", format="jpeg")


def test_a_keyword_of_the_wrong_type_is_a_usage_error() -> None:
    with pytest.raises(imagegate.UsageError, match="n must be a whole number"):
        imagegate.generate("p", provider="placeholder", n="two")


def test_generate_takes_the_cli_spelling_of_format(isolated: Path) -> None:
    planned = imagegate.generate("p", provider="placeholder", format="jpeg", out="x", dry_run=True)
    assert planned.outputs == [str(isolated / "x.jpg")]


def test_generate_takes_a_path_object_as_out(isolated: Path) -> None:
    result = imagegate.generate("p", provider="placeholder", out=isolated / "x.png", size="16x16")
    assert result.images[0].path == isolated / "x.png"


def test_run_batch_takes_edit_images_as_a_default_for_every_job(isolated: Path) -> None:
    (isolated / "in.png").write_bytes(png(16, 16))
    results = list(
        imagegate.run_batch(["a", "b"], isolated / "out", provider="placeholder", edit_images="in.png")
    )
    assert [r.status for r in results] == ["ok", "ok"]
    assert all(r.job.options.images == [Path("in.png")] for r in results)


def test_run_batch_refuses_stream_and_unknown_defaults(isolated: Path) -> None:
    with pytest.raises(imagegate.UsageError, match="stream: a batch does not stream"):
        imagegate.run_batch(["a"], isolated / "out", provider="placeholder", stream=True)
    with pytest.raises(imagegate.UsageError, match="unknown key 'colour'"):
        imagegate.run_batch(["a"], isolated / "out", provider="placeholder", colour="red")
    assert not (isolated / "out").exists()


class _CookieAdapter(PlaceholderAdapter):
    """A keyless provider whose request carries a credential header it does not declare secret."""

    name = "cookie-test"
    is_default = False

    def build_request(self, options):
        request = super().build_request(options)
        request.headers.update({"Cookie": "session=hunter2", "X-Trace": "visible"})
        return request


def test_a_dry_run_hides_credential_headers_the_adapter_did_not_declare() -> None:
    with registered(_CookieAdapter):
        planned = imagegate.generate("p", provider="cookie-test", dry_run=True)
    assert planned.headers["Cookie"] == REDACTED
    assert planned.headers["X-Trace"] == "visible"


def test_dry_run_function_describes_the_request_and_writes_nothing(isolated: Path) -> None:
    planned = imagegate.dry_run("p", provider="placeholder", out=isolated / "x.png", size="64x64")
    assert isinstance(planned, imagegate.DryRun)
    assert planned.to_json()["output_paths"] == [str(isolated / "x.png")]
    assert not (isolated / "x.png").exists()


class _InlineAdapter(PlaceholderAdapter):
    """Sends its input image inline, as JSON-bodied providers do."""

    name = "inline-test"
    is_default = False

    def build_request(self, options):
        request = super().build_request(options)
        assert request.json is not None
        request.json.update({"image": "data:image/png;base64," + "A" * 5000, "note": "short"})
        return request


def test_a_dry_run_shows_an_inline_image_by_its_start_and_length_not_in_full() -> None:
    with registered(_InlineAdapter):
        planned = imagegate.dry_run("p", provider="inline-test")
    assert planned.body["note"] == "short"
    shown = planned.body["image"]
    assert shown.startswith("data:image/png;base64,") and "5022 characters" in shown
    assert len(shown) < 200
