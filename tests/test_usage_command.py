"""``imagegate usage``: the spend of the calls in the ledger, as text or JSON, by date and profile."""

from __future__ import annotations

import json

from imagegate import ledger


def record(profile: str | None, model: str, cost: float | None, when: str, images: int = 1) -> None:
    entry = ledger.Entry(profile, "openai", model, "generate", images=images, cost_usd=cost, time=when)
    ledger.append(entry)


def test_usage_shows_the_spend_of_the_recorded_calls(cli) -> None:
    record("work", "gpt-image-1", 0.167, "2026-12-02T10:00:00Z")
    record("work", "gpt-image-1-mini", 0.011, "2026-12-03T10:00:00Z", images=2)
    result = cli("usage")
    assert result.code == 0
    assert result.out.startswith("2 paid call(s), 3 image(s), about $0.178")
    assert "gpt-image-1-mini      1       2     0.011" in result.out.splitlines()


def test_usage_json_is_one_object_narrowed_by_since_and_profile(cli) -> None:
    record("work", "gpt-image-1", 0.167, "2026-12-02T10:00:00Z")
    record("home", "gpt-image-1", 0.042, "2026-12-03T10:00:00Z")
    record("work", "gpt-image-1", 0.011, "2026-12-03T11:00:00Z")
    result = cli("usage", "--since", "2026-12-03", "--profile", "work", "--json")
    document = json.loads(result.out)
    assert document["ok"] and document["calls"] == 1 and document["cost_usd"] == 0.011
    assert document["ledger"] == str(ledger.ledger_path())
    assert list(document["days"]) == ["2026-12-03"]


def test_usage_before_any_paid_call_says_there_is_none(cli) -> None:
    result = cli("usage")
    assert result.code == 0 and result.out.startswith("No paid calls recorded")


def test_a_since_that_is_not_a_date_is_exit_2(cli) -> None:
    result = cli("usage", "--since", "last week")
    assert result.code == 2 and "expected a date" in result.err
