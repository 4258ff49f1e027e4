"""The bfl provider, driven through the imagegate CLI against a fake BFL API on 127.0.0.1."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from imagegate_bfl.adapter import BflAdapter

from imagegate.adapter import HttpRequest, Reply
from imagegate.testing import MockTransport, check_adapter, run_cli, tiny_png, use_transport

pytestmark = pytest.mark.usefixtures("bfl")

STILL_THERE = "job {} at bfl was submitted and may still finish (and be billed); it was not cancelled"


def draw(config: Path, *args: str) -> Any:
    return run_cli("--config", config, "--prompt", "a red kite", "--out", "kite.png", *args)


def test_adapter_keeps_the_plugin_contract() -> None:
    check_adapter(BflAdapter)


def test_a_job_pending_a_few_times_then_ready_is_saved_from_its_signed_url(fake, config, key) -> None:
    fake.plan("Pending", "Pending", "Pending", "Ready")
    run = draw(config(), "--size", "1024x768")
    assert run.code == 0, run.err
    assert Path("kite.png").read_bytes() == tiny_png(16, 12)
    (submit,) = fake.submits
    assert (submit.path, submit.headers["x-key"]) == ("/v1/flux-2-pro", key)
    assert submit.json == {"prompt": "a red kite", "width": 1024, "height": 768, "output_format": "png"}
    polled = [(poll.path, poll.query) for poll in fake.polls]
    assert polled == [("/us1/v1/get_result", {"id": "fake-0001"})] * 4
    assert all(poll.headers["x-key"] == key for poll in fake.polls)
    assert run.json["provider"] == "bfl" and run.json["model"] == "flux-2-pro"
    assert run.json["provider_extras"] == {"job_id": "fake-0001", "seed": 1234567890}


def test_the_signed_sample_url_on_another_host_gets_no_key(fake, config, key) -> None:
    fake.plan("Ready")
    run = draw(config())
    assert run.code == 0, run.err
    (download,) = fake.downloads
    assert "x-key" not in download.headers
    assert key not in str(download.headers)
    assert fake.delivery.server_address != fake.api.server_address


def test_auto_size_sends_neither_width_nor_height(fake, config) -> None:
    run = draw(config(), "--size", "auto", "--format", "jpeg")
    assert run.code == 0, run.err
    assert fake.submits[0].json == {"prompt": "a red kite", "output_format": "jpeg"}


def test_model_safety_tolerance_seed_and_extra_body_come_from_the_profile(fake, config) -> None:
    profile = config(model="flux-2-max", safety_tolerance=4, seed=7, extra_body={"prompt_upsampling": True})
    run = draw(profile)
    assert run.code == 0, run.err
    submit = fake.submits[0]
    assert submit.path == "/v1/flux-2-max"
    assert {key: submit.json[key] for key in ("safety_tolerance", "seed", "prompt_upsampling")} == {
        "safety_tolerance": 4,
        "seed": 7,
        "prompt_upsampling": True,
    }
    assert run.json["provider_extras"]["seed"] == 7


def test_model_flag_names_another_endpoint(fake, config) -> None:
    run = draw(config(), "--model", "flux-kontext-pro")
    assert run.code == 0, run.err
    assert fake.submits[0].path == "/v1/flux-kontext-pro"
    assert run.json["model"] == "flux-kontext-pro"


def test_an_edit_sends_each_input_image_as_base64_in_order(fake, config) -> None:
    first, second = Path("first.png"), Path("second.png")
    first.write_bytes(tiny_png(8, 8, seed="one"))
    second.write_bytes(tiny_png(8, 8, seed="two"))
    args = ("--edit-image", str(first), "--edit-image", str(second))
    run = run_cli("--config", config(), "--prompt", "swap them", "--out", "o.png", *args)
    assert run.code == 0, run.err
    body = fake.submits[0].json
    assert base64.b64decode(body["input_image"]) == first.read_bytes()
    assert base64.b64decode(body["input_image_2"]) == second.read_bytes()
    assert "input_image_3" not in body


def test_a_mask_is_refused_before_anything_is_sent(fake, config) -> None:
    Path("in.png").write_bytes(tiny_png())
    Path("mask.png").write_bytes(tiny_png())
    run = draw(config(), "--edit-image", "in.png", "--mask", "mask.png")
    assert run.code == 2, run.err
    assert fake.submits == []


@pytest.mark.parametrize(
    ("args", "words"), [(("--n", "2"), "one image"), (("--format", "webp"), "png or jpeg")]
)
def test_what_bfl_cannot_do_is_refused_before_paying(fake, config, args, words) -> None:
    run = draw(config(), *args)
    assert run.code == 2, run.err
    assert words in run.err
    assert fake.submits == []


def test_in_between_states_are_waited_out_and_shown(fake, config) -> None:
    fake.plan("Pending", "Reasoning", "Generating", "Ready")
    run = draw(config())
    assert run.code == 0, run.err
    assert len(fake.polls) == 4
    for status in ("Submitted", "Pending", "Reasoning", "Generating"):
        assert f"job fake-0001 at bfl: {status}" in run.err


@pytest.mark.parametrize("status", ["Request Moderated", "Content Moderated"])
def test_a_moderated_job_is_exit_4_naming_the_job(fake, config, status) -> None:
    fake.plan("Pending", status, details={"Moderation Reasons": ["Derivative Works Filter"]})
    run = draw(config())
    assert run.code == 4, run.err
    assert f"job fake-0001 at bfl: {status}" in run.err
    assert "Derivative Works Filter" in run.err
    assert not Path("kite.png").exists()


def test_a_failed_job_is_exit_5_with_bfl_s_message(fake, config) -> None:
    fake.plan("Pending", "Error", reason="the sampler ran out of memory")
    run = draw(config())
    assert run.code == 5, run.err
    assert "job fake-0001 at bfl: Error: the sampler ran out of memory" in run.err
    assert "Traceback" not in run.err


def test_a_task_bfl_does_not_know_is_exit_3(fake, config) -> None:
    fake.plan("Task not found")
    run = draw(config())
    assert run.code == 3, run.err
    assert "job fake-0001 at bfl: Task not found" in run.err


def test_a_job_stuck_in_pending_ends_at_the_timeout_naming_its_id(fake, config) -> None:
    fake.plan("Pending")
    run = draw(config(), "--timeout", "1")
    assert run.code == 5, run.err
    assert STILL_THERE.format("fake-0001") in run.err
    assert len(fake.submits) == 1


def test_a_poll_answered_503_is_retried_and_the_submit_never_resent(fake, config) -> None:
    fake.plan("Pending", "Ready")
    fake.fail_poll(503, {"detail": "Service Unavailable"})
    run = draw(config())
    assert run.code == 0, run.err
    assert len(fake.submits) == 1 and len(fake.polls) == 3


def test_http_errors_carry_bfl_s_detail(fake, config) -> None:
    fake.fail_submit(402, {"detail": "Insufficient credits"})
    broke = draw(config())
    assert broke.code == 3, broke.err
    assert "Insufficient credits" in broke.err
    unsized = draw(config(), "--size", "1000x770")
    assert unsized.code == 3, unsized.err
    assert "width: Input should be a multiple of 16" in unsized.err


def test_a_size_outside_what_flux_2_documents_is_sent_with_a_warning(fake, config) -> None:
    run = draw(config(), "--size", "4096x4096")
    assert run.code == 0, run.err
    assert fake.submits[0].json["width"] == 4096
    (warning,) = run.json["warnings"]
    assert "multiples of 16, from 64 up to 4 megapixels: 4096x4096" in warning


def test_a_wrong_key_is_refused_and_never_shown(fake, config, key) -> None:
    run = draw(config(api_key="bfl-wrong-key-abcdefghijklmnop"))
    assert run.code == 3, run.err
    assert "Not authenticated" in run.err
    assert "bfl-wrong-key-abcdefghijklmnop" not in run.out + run.err


def test_the_key_never_appears_in_a_dry_run_or_the_result(fake, config, key) -> None:
    dry = draw(config(), "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.json["url"] == f"{fake.base_url}/flux-2-pro"
    assert key not in dry.out + dry.err
    assert fake.submits == []
    run = draw(config())
    assert key not in run.out + run.err


# -- the polling URL, through MockTransport ----------------------------------------------------------
def bfl_api(polling_url: str, *polls: Any) -> MockTransport:
    """An in-process BFL: the submit names job j-1 and ``polling_url``; polls answer ``polls`` in turn."""
    answers = list(polls)

    def handler(request: HttpRequest) -> Reply:
        if request.method == "POST":
            return Reply.json({"id": "j-1", "polling_url": polling_url})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return Reply.json(answer)

    return MockTransport(handler)


@pytest.fixture
def mock_config(config):
    return config(base_url=None)  # the default, https://api.bfl.ai/v1


def test_the_polling_url_is_used_as_given_and_an_unknown_state_is_waited_out(mock_config) -> None:
    given = "https://api.us1.bfl.ai/v1/get_result?id=j-1&region=us1"
    api = bfl_api(given, {"status": "Pending"}, {"status": "Upscaling"}, KeyboardInterrupt())
    with use_transport(api) as mock:
        run = draw(mock_config)
    assert run.code == 130, run.err
    assert [(r.method, r.url) for r in mock.requests[1:]] == [("GET", given)] * 3
    assert mock.requests[0].url == "https://api.bfl.ai/v1/flux-2-pro"
    assert STILL_THERE.format("j-1") in run.err


def test_a_polling_url_outside_bfl_s_domain_gets_no_key(mock_config) -> None:
    api = bfl_api("https://collector.example.test/v1/get_result?id=j-1", {"status": "Ready"})
    with use_transport(api) as mock:
        run = draw(mock_config)
    assert run.code == 6, run.err
    assert "job j-1" in run.err and "collector.example.test" in run.err
    assert [r.method for r in mock.requests] == ["POST"]


def test_the_wait_between_polls_grows_by_half_up_to_five_seconds() -> None:
    adapter = BflAdapter(SimpleNamespace(settings={"poll_interval": 1.0}))  # type: ignore[arg-type]
    waits = [1.0]
    for _ in range(6):
        waits.append(adapter.next_wait(waits[-1]))
    assert waits == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0]
    slow = BflAdapter(SimpleNamespace(settings={"poll_interval": 8.0}))  # type: ignore[arg-type]
    assert slow.next_wait(8.0) == 8.0


@pytest.mark.parametrize(("key", "value"), [("poll_interval", 0), ("safety_tolerance", 9), ("seed", "x")])
def test_a_bad_profile_key_is_refused_before_anything_is_sent(fake, config, key, value) -> None:
    run = draw(config(**{key: value}))
    assert run.code == 2, run.err
    assert key in run.err
    assert fake.submits == []
