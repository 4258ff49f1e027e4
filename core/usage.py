"""``imagegate usage``: spend and image counts per profile, per model and per day, from the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from .errors import UsageError
from .ledger import parse_time


def parse_since(text: str) -> datetime:
    """``--since``: a date (``2026-12-01``, a UTC day) or an ISO date and time; UsageError otherwise."""
    value = text.strip()
    moment = parse_time(value) if "T" in value or " " in value else None
    if moment is None:
        try:
            moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise UsageError(
                "--since: expected a date such as 2026-12-01 (or 2026-12-01T09:00:00Z), not shown"
            ) from None
    return moment


def _bucket() -> dict[str, Any]:
    return {"calls": 0, "images": 0, "cost_usd": 0.0, "unestimated_calls": 0}


def _add(bucket: dict[str, Any], record: dict[str, Any]) -> None:
    bucket["calls"] += 1
    images = record.get("images")
    bucket["images"] += images if isinstance(images, int) and not isinstance(images, bool) else 0
    cost = record.get("cost_usd")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        bucket["cost_usd"] += float(cost)
    else:
        bucket["unestimated_calls"] += 1


def summarize(
    records: Iterable[dict[str, Any]], since: datetime | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Totals, and the same per profile, per model and per UTC day (the report's JSON)."""
    total = _bucket()
    groups: dict[str, dict[str, dict[str, Any]]] = {"profiles": {}, "models": {}, "days": {}}
    for record in records:
        moment = parse_time(record["time"])
        if moment is None or (since is not None and moment < since):
            continue
        name = record.get("profile") or "(default)"
        if profile is not None and name != profile:
            continue
        _add(total, record)
        keys = {"profiles": name, "models": str(record.get("model") or "?"), "days": record["time"][:10]}
        for group, key in keys.items():
            _add(groups[group].setdefault(key, _bucket()), record)
    for bucket in (total, *(b for group in groups.values() for b in group.values())):
        bucket["cost_usd"] = round(bucket["cost_usd"], 6)
    filters = {"since": since.isoformat().replace("+00:00", "Z") if since else None, "profile": profile}
    return {**filters, **total, **{group: dict(sorted(items.items())) for group, items in groups.items()}}


def render(summary: dict[str, Any], ledger_location: str) -> str:
    """The report as text: a total line, then one table per grouping."""
    if not summary["calls"]:
        return f"No paid calls recorded{_filters(summary)} (ledger: {ledger_location})."
    lines = [
        f"{summary['calls']} paid call(s), {summary['images']} image(s), "
        f"about ${summary['cost_usd']:.3f}{_filters(summary)} (ledger: {ledger_location})"
    ]
    if summary["unestimated_calls"]:
        lines.append(f"{summary['unestimated_calls']} call(s) have no estimate (model not in a price table)")
    for group, title in (("profiles", "profile"), ("models", "model"), ("days", "day (UTC)")):
        rows = summary[group]
        width = max(len(title), *(len(key) for key in rows))
        lines += ["", f"{title.ljust(width)}  calls  images  est. USD"]
        for key, bucket in rows.items():
            cost = "n/a" if bucket["unestimated_calls"] == bucket["calls"] else f"{bucket['cost_usd']:.3f}"
            lines.append(f"{key.ljust(width)}  {bucket['calls']:>5}  {bucket['images']:>6}  {cost:>8}")
    return "\n".join(lines)


def _filters(summary: dict[str, Any]) -> str:
    parts = []
    if summary.get("since"):
        parts.append(f" since {summary['since']}")
    if summary.get("profile"):
        parts.append(f" for profile {summary['profile']!r}")
    return "".join(parts)
