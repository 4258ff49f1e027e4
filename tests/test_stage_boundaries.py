"""The seams between stages: the stream reader writes nothing, output.py keeps what was paid for,
plugins.bind is where a profile meets its adapter, and hints are added one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from imagegate import errors, plugins, streaming
from imagegate.adapter import Answer, ImageRef
from imagegate.config import Profile
from imagegate.deadline import Deadline
from imagegate.errors import ImagegateError, Interrupted, UnusableAnswer, internal_error
from imagegate.keep import Spools
from imagegate.output import OutputPlan
from imagegate.providers.openai import OpenAIAdapter
from imagegate.secret import remember
from imagegate.spool import MemorySpool, Spool

from .support.helpers import API_KEY, b64, png
from .support.sse import completed_event, partial_event, sse

CORE = Path(__file__).resolve().parents[1] / "core"


def imported_modules(path: Path) -> set[str]:
    """The imagegate modules ``path`` imports (relative imports, by their last name)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.add(node.module or "")
            found.update(alias.name for alias in node.names if not node.module)
    return found


def test_the_stream_reader_imports_nothing_that_writes_files() -> None:
    assert not {"output", "keep"} & imported_modules(CORE / "streaming.py")
    assert imported_modules(CORE / "sse.py") == set()  # the event reader stands alone


def test_the_config_command_checks_a_profile_without_the_dispatcher() -> None:
    assert "dispatch" not in imported_modules(CORE / "cli" / "config.py")


def openai_adapter() -> OpenAIAdapter:
    return OpenAIAdapter(Profile(None, "openai", None, "https://api.example.test/v1", None))


def receive(
    body: bytes, expected: int = 1, failures: list[ImagegateError] | None = None
) -> tuple[Answer, list[tuple[Spool, float]], list[str]]:
    previews: list[tuple[Spool, float]] = []
    warnings: list[str] = []
    failed = failures if failures is not None else []
    answer = streaming.receive(
        openai_adapter(),
        iter([body]),
        Deadline(30),
        MemorySpool,
        expected,
        on_partial=lambda spool, seconds: previews.append((spool, seconds)),
        on_failure=failed.append,
        notify=lambda text: None,
        warn=warnings.append,
    )
    return answer, previews, warnings


def test_the_stream_reader_hands_each_preview_to_the_caller_and_writes_no_file(isolated: Path) -> None:
    preview, final = png(4, 4), png(8, 8)
    answer, previews, warnings = receive(partial_event(preview, 0) + completed_event(final))
    assert [spool.getvalue() for spool, _ in previews] == [preview]
    assert [ref.data.getvalue() for ref in answer.images] == [final]
    assert warnings == []
    assert list(isolated.iterdir()) == []


def test_a_stream_failing_before_any_final_image_is_told_to_the_caller_and_raised() -> None:
    failures: list[ImagegateError] = []
    with pytest.raises(UnusableAnswer) as raised:
        receive(partial_event(png(4, 4), 0) + b"data: {not json\n\n", failures=failures)
    assert failures == [raised.value] and "an event of the stream is" in raised.value.message


def test_a_stream_failing_after_a_final_image_only_warns() -> None:
    error = sse("error", {"type": "error", "error": {"message": "overloaded", "type": "server_error"}})
    answer, _, warnings = receive(completed_event(png(8, 8)) + error, expected=2)
    assert len(answer.images) == 1
    assert len(warnings) == 1 and warnings[0].startswith("the stream failed after 1 of 2 image(s)")


def test_an_unreadable_event_is_skipped_and_the_final_image_after_it_kept() -> None:
    kind = "image_generation.partial_image"
    bad_partial = sse(kind, {"type": kind, "b64_json": 7})
    final = png(8, 8)
    answer, previews, warnings = receive(bad_partial + b"data: {not json\n\n" + completed_event(final))
    assert [ref.data.getvalue() for ref in answer.images] == [final] and previews == []
    assert warnings == [
        "2 event(s) of the stream could not be read and were skipped: the first holds a number where an "
        "image belongs (b64_json), not a base64 string"
    ]


def test_a_stream_whose_only_final_event_is_unreadable_fails_with_its_reason() -> None:
    failures: list[ImagegateError] = []
    with pytest.raises(UnusableAnswer) as raised:
        broken = completed_event(png(4, 4)).replace(b'"iVBOR', b'"!VBOR')
        receive(partial_event(png(4, 4), 0) + broken, failures=failures)
    assert failures == [raised.value]
    assert raised.value.message.startswith("an event of the stream holds an image that is not valid base64")


def spooled(spools: Spools, image: bytes, *, complete: bool = True) -> Spool:
    spool = spools.new()
    spool.write(image)
    spool.complete = complete
    return spool


def test_spools_keep_saves_every_image_of_the_answer(isolated: Path) -> None:
    plan = OutputPlan(isolated / "kite.png", 2)
    spools = Spools(plan)
    answer = Answer([ImageRef(spooled(spools, png(3, 3))), ImageRef(spooled(spools, png(5, 5)))])
    images = spools.keep(answer)
    assert [image.path for image in images] == [isolated / "kite.png", isolated / "kite-2.png"]
    assert (isolated / "kite-2.png").read_bytes() == png(5, 5)


def test_spools_keep_after_a_failure_saves_what_arrived_whole_and_names_it(isolated: Path) -> None:
    plan = OutputPlan(isolated / "kite.png", 2)
    spools = Spools(plan)
    spooled(spools, png(3, 3))
    spooled(spools, png(5, 5)[:40], complete=False)  # cut off: not worth keeping
    error = spools.keep_after(UnusableAnswer("the answer broke off"))
    spools.discard()
    assert isinstance(error, UnusableAnswer)
    assert error.hints == (f"The images that did arrive were saved: {isolated / 'kite.png'}",)
    assert sorted(p.name for p in isolated.iterdir()) == ["kite.png"]


def test_spools_keep_after_ctrl_c_gives_an_interrupted_that_names_the_kept_image(isolated: Path) -> None:
    plan = OutputPlan(isolated / "kite.png", 1)
    spools = Spools(plan)
    spooled(spools, png(3, 3))
    error = spools.keep_after(KeyboardInterrupt())
    assert isinstance(error, Interrupted) and error.exit_code == 130
    assert error.hints == (f"The images that did arrive were saved: {isolated / 'kite.png'}",)


def test_bind_gives_the_adapter_made_with_its_profile(make_config) -> None:
    path = make_config({"provider": "placeholder"})
    adapter = plugins.bind(path)
    assert adapter.name == "placeholder" and adapter.profile.provider == "placeholder"
    assert adapter.profile.source == path
    assert plugins.unknown_keys(adapter) == []


def test_bind_warns_of_profile_keys_nobody_knows(make_config) -> None:
    path = make_config({"provider": "placeholder", "colour": "red"})
    warnings = plugins.unknown_keys(plugins.bind(path))
    assert len(warnings) == 1 and "unknown key(s) colour" in warnings[0]


def test_add_hint_appends_a_hint_scrubbed_of_the_key() -> None:
    remember(API_KEY)
    error = UnusableAnswer("broken", hints=("first",))
    error.add_hint(f"the provider said {API_KEY}")
    assert error.hints[0] == "first" and len(error.hints) == 2
    assert API_KEY not in error.hints[1]


def test_an_internal_error_is_named_by_its_type_and_scrubbed_of_the_key() -> None:
    remember(API_KEY)
    text = internal_error(ValueError(f"bad {API_KEY}"))
    assert text.startswith("internal error: ValueError: bad ") and API_KEY not in text


def test_errors_declares_every_public_name_it_defines() -> None:
    defined: set[str] = set()
    for node in ast.parse((CORE / "errors.py").read_text()).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(target.id for target in targets if isinstance(target, ast.Name))
    assert set(errors.__all__) == {name for name in defined if not name.startswith("_")}


@pytest.mark.parametrize("payload", [None, "https://images.example.test/p.png"], ids=["null", "a-link"])
def test_a_preview_the_adapter_finds_no_image_in_is_skipped_too(payload) -> None:
    kind = "image_generation.partial_image"
    no_image = sse(kind, {"type": kind, "b64_json": payload})
    answer, previews, warnings = receive(no_image + completed_event(png(8, 8)))
    assert [ref.data.getvalue() for ref in answer.images] == [png(8, 8)] and previews == []
    assert (
        len(warnings) == 1
        and "could not be used: the image_generation.partial_image event holds no image" in warnings[0]
    )


def test_a_final_event_with_a_null_error_is_an_image() -> None:
    kind = "image_generation.completed"
    answer, _, _ = receive(sse(kind, {"type": kind, "b64_json": b64(png(3, 3)), "error": None}))
    assert [ref.data.getvalue() for ref in answer.images] == [png(3, 3)]


@pytest.mark.parametrize(
    "error_event",
    [
        sse(
            "error",
            {"type": "error", "code": "moderation_blocked", "message": "blocked by the safety system"},
        ),
        sse("error", {"code": "moderation_blocked", "message": "blocked by the safety system"}),
    ],
    ids=["top-level", "no-type"],
)
def test_an_error_event_without_a_nested_error_object_keeps_its_code_and_message(error_event) -> None:
    with pytest.raises(ImagegateError) as raised:
        receive(partial_event(png(4, 4), 0) + error_event)
    assert raised.value.exit_code == 4 and "blocked by the safety system" in raised.value.message
