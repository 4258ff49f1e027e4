"""The spend glue: the adapter's estimate, the budget check before sending, the ledger line after."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from imagegate import ledger, spend
from imagegate.budget import Guard, OverBudget
from imagegate.options import Options


@dataclass
class FakeProfile:
    name: str | None = "work"
    provider: str | None = "openai"
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = "/cfg/config.json#work"


class Priced:
    def estimate_cost(self, options: Options, usage: Any) -> float | None:
        return 0.5 if usage else 0.25


class Broken:
    def estimate_cost(self, options: Options, usage: Any) -> float | None:
        raise RuntimeError("bug")


class Odd:
    def estimate_cost(self, options: Options, usage: Any) -> Any:
        return float("nan")


def test_the_estimate_is_the_adapters_from_usage_when_given() -> None:
    options = Options(prompt="p")
    assert spend.estimate(Priced(), options) == 0.25
    assert spend.estimate(Priced(), options, {"input_tokens": 1}) == 0.5


@pytest.mark.parametrize("adapter", [object(), Broken(), Odd()])
def test_an_adapter_without_a_usable_estimate_gives_none(adapter: object) -> None:
    assert spend.estimate(adapter, Options(prompt="p")) is None


def test_a_paid_call_is_recorded_without_its_prompt(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    options = Options(prompt="a secret plan", size="1024x1024", quality="low")
    warning = spend.record(
        FakeProfile(),
        "gpt-image-1",
        options,
        images=1,
        usage={"input_tokens": 3},
        cost=0.011,
        request_id="req_9",
        paths=[tmp_path / "a.png"],
        path=path,
    )
    assert warning is None
    text = path.read_text()
    assert "secret plan" not in text
    record = json.loads(text)
    assert (record["operation"], record["size"], record["paths"]) == (
        "generate",
        "1024x1024",
        [str(tmp_path / "a.png")],
    )


def test_a_ledger_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    warning = spend.record(
        FakeProfile(),
        "m",
        Options(prompt="p"),
        images=1,
        usage=None,
        cost=None,
        request_id=None,
        paths=[],
        path=blocker / "ledger.jsonl",
    )
    assert warning is not None and "paid, but not recorded" in warning


def test_the_budget_set_in_the_profile_refuses_a_call_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger.append(ledger.Entry("work", "openai", "m", "generate", cost_usd=0.9), path)
    profile = FakeProfile(settings={"budget": {"daily_usd": 1}})
    with pytest.raises(OverBudget, match=r"/cfg/config\.json#work"):
        spend.reserve(profile, "m", 0.2, Guard(path))
    spend.reserve(FakeProfile(), "m", 0.2, Guard(path))  # no budget: no cap


def test_under_a_budget_a_call_whose_spend_cannot_be_recorded_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("")  # where the ledger's folder should be: nothing can be written under it
    path = blocker / "imagegate" / "ledger.jsonl"
    profile = FakeProfile(settings={"budget": {"daily_usd": 100}})
    with pytest.raises(OverBudget, match="cannot be written"):
        spend.reserve(profile, "m", 0.2, Guard(path))
    spend.reserve(FakeProfile(), "m", 0.2, Guard(path))  # no budget: the call goes (with a warning)
