"""Budgets: a call whose estimate would cross a profile's cap is refused before anything is sent."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from imagegate import ledger
from imagegate.budget import Budget, Guard, OverBudget, check

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=timezone.utc)
WHERE = "/home/u/.config/imagegate/config.json (profile 'work')"
HISTORY = [
    {"time": "2026-11-30T10:00:00Z", "profile": "work", "cost_usd": 40.0},  # last month
    {"time": "2026-12-01T10:00:00Z", "profile": "work", "cost_usd": 10.0},
    {"time": "2026-12-03T09:00:00Z", "profile": "work", "cost_usd": 4.8},
    {"time": "2026-12-03T09:30:00Z", "profile": "home", "cost_usd": 3.0},
]


def test_a_profile_without_a_budget_has_none() -> None:
    assert Budget.from_settings({"model": "x"}, WHERE) is None


def test_a_call_under_every_cap_passes() -> None:
    budget = Budget(daily_usd=5, monthly_usd=50, where=WHERE)
    check(budget, "work", "m", 0.167, HISTORY, now=NOW)


def test_a_call_that_would_cross_the_daily_cap_is_refused_with_spent_cap_and_where() -> None:
    budget = Budget.from_settings({"budget": {"daily_usd": 5}}, WHERE)
    assert budget is not None
    with pytest.raises(OverBudget) as caught:
        check(budget, "work", "m", 0.25, HISTORY, now=NOW)
    assert caught.value.exit_code == 2
    message = caught.value.message
    assert "daily_usd cap of $5.00" in message and "spent today: $4.80" in message and WHERE in message


def test_the_monthly_cap_counts_only_this_month() -> None:
    budget = Budget(monthly_usd=15, where=WHERE)
    check(budget, "work", "m", 0.2, HISTORY, now=NOW)
    with pytest.raises(OverBudget, match=r"monthly_usd cap of \$15.00 \(spent this month: \$14.80"):
        check(budget, "work", "m", 0.25, HISTORY, now=NOW)


def test_yesterdays_spend_does_not_count_today() -> None:
    check(
        Budget(daily_usd=0.5, where=WHERE),
        "work",
        "m",
        0.4,
        HISTORY,
        now=datetime(2026, 12, 4, tzinfo=timezone.utc),
    )


def test_a_model_without_an_estimate_is_refused_under_a_budget() -> None:
    with pytest.raises(OverBudget, match="no price estimate"):
        check(Budget(daily_usd=5, where=WHERE), "work", "new-model", None, HISTORY, now=NOW)


def test_a_model_without_an_estimate_passes_when_the_profile_allows_it() -> None:
    budget = Budget.from_settings({"budget": {"daily_usd": 5}, "budget_unknown_models": "allow"}, WHERE)
    assert budget is not None
    check(budget, "work", "new-model", None, HISTORY, now=NOW)


def test_a_batch_counts_the_jobs_already_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger.append(
        ledger.Entry("work", "openai", "m", "generate", cost_usd=0.5, time="2026-12-03T01:00:00Z"), path
    )
    guard, budget = Guard(path, clock=lambda: NOW), Budget(daily_usd=1.0, where=WHERE)
    first = guard.reserve(budget, "work", "m", 0.2)
    guard.reserve(budget, "work", "m", 0.2)
    with pytest.raises(OverBudget, match=r"\$0\.40 in flight"):
        guard.reserve(budget, "work", "m", 0.2)
    guard.release(first)
    guard.reserve(budget, "work", "m", 0.2)


def test_jobs_of_another_profile_do_not_count_against_this_one(tmp_path: Path) -> None:
    guard, budget = Guard(tmp_path / "ledger.jsonl", clock=lambda: NOW), Budget(daily_usd=1.0, where=WHERE)
    guard.reserve(None, "home", "m", 5.0)
    guard.reserve(budget, "work", "m", 0.9)
