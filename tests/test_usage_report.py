"""``imagegate usage``'s report: spend and images per profile, per model and per day."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from imagegate.errors import UsageError
from imagegate.usage import parse_since, render, summarize

RECORDS = [
    {
        "time": "2026-12-01T10:00:00Z",
        "profile": "work",
        "model": "gpt-image-1",
        "images": 2,
        "cost_usd": 0.334,
    },
    {
        "time": "2026-12-02T11:00:00Z",
        "profile": None,
        "model": "gpt-image-1-mini",
        "images": 1,
        "cost_usd": 0.005,
    },
    {"time": "2026-12-03T12:00:00Z", "profile": "work", "model": "flux", "images": 1, "cost_usd": None},
    {
        "time": "2026-12-03T13:00:00Z",
        "profile": "work",
        "model": "gpt-image-1",
        "images": 1,
        "cost_usd": 0.011,
    },
]


def test_the_report_totals_calls_images_and_spend_by_profile_model_and_day() -> None:
    summary = summarize(RECORDS)
    assert (summary["calls"], summary["images"], summary["cost_usd"]) == (4, 5, 0.35)
    assert summary["unestimated_calls"] == 1
    assert summary["profiles"]["work"] == {"calls": 3, "images": 4, "cost_usd": 0.345, "unestimated_calls": 1}
    assert summary["profiles"]["(default)"]["images"] == 1
    assert summary["models"]["gpt-image-1"]["cost_usd"] == 0.345
    assert list(summary["days"]) == ["2026-12-01", "2026-12-02", "2026-12-03"]


def test_since_and_profile_narrow_the_report() -> None:
    summary = summarize(RECORDS, since=parse_since("2026-12-02"), profile="work")
    assert summary["calls"] == 2 and summary["since"] == "2026-12-02T00:00:00Z"
    assert list(summary["models"]) == ["flux", "gpt-image-1"]


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "12/01/2026", ""])
def test_a_since_that_is_not_a_date_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="expected a date"):
        parse_since(text)


def test_since_accepts_a_date_and_time() -> None:
    assert parse_since("2026-12-03T09:30:00Z") == datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)


def test_the_text_report_names_the_ledger_and_shows_each_table() -> None:
    text = render(summarize(RECORDS), "/state/imagegate/ledger.jsonl")
    lines = text.splitlines()
    assert lines[0] == "4 paid call(s), 5 image(s), about $0.350 (ledger: /state/imagegate/ledger.jsonl)"
    assert "1 call(s) have no estimate" in lines[1]
    assert "gpt-image-1-mini      1       1     0.005" in lines
    assert "flux                  1       1       n/a" in lines
    assert "2026-12-03      2       2     0.011" in lines


def test_an_empty_ledger_says_so() -> None:
    assert render(summarize([]), "/l.jsonl") == "No paid calls recorded (ledger: /l.jsonl)."
