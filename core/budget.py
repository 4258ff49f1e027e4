"""Spend caps per profile: a call whose estimate would cross one is refused before anything is sent.

A profile's ``budget`` is ``{"daily_usd": 5, "monthly_usd": 50}`` (either or both), counted in UTC
days and months (as provider usage pages count them) from the ledger. A call under a budget whose
model has no price estimate is refused too, unless the profile says
``"budget_unknown_models": "allow"``: a model name must not be a way around the cap. A batch
reserves each job's estimate before starting it, so jobs in flight count against the cap too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import ledger
from .errors import UsageError


class OverBudget(UsageError):
    """Exit 2: the call (or batch job) would take its profile past a spend cap; nothing was sent."""


@dataclass(frozen=True)
class Budget:
    """One profile's caps and where they are set (for the message)."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    allow_unknown: bool = False
    where: str = "the config file"
    #: The ledger this budget counts (the config's ``budget.ledger``, else the account's own one).
    ledger: Path | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], where: str) -> Budget | None:
        """The profile's budget, or None when it sets none (the schema has checked the shape)."""
        caps = settings.get("budget")
        if not isinstance(caps, Mapping) or not caps:
            return None
        pinned = caps.get("ledger")
        return cls(
            _number(caps.get("daily_usd")),
            _number(caps.get("monthly_usd")),
            settings.get("budget_unknown_models") == "allow",
            where,
            Path(pinned).expanduser() if isinstance(pinned, str) and pinned else ledger.account_ledger_path(),
        )

    def caps(self, now: datetime) -> list[tuple[str, float, datetime]]:
        """(name, cap, start of its period) for each cap set."""
        day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        found = []
        if self.daily_usd is not None:
            found.append(("daily_usd", self.daily_usd, day))
        if self.monthly_usd is not None:
            found.append(("monthly_usd", self.monthly_usd, day.replace(day=1)))
        return found


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check(
    budget: Budget,
    profile: str | None,
    model: str,
    estimate: float | None,
    records: Iterable[dict[str, Any]],
    *,
    in_flight: float = 0.0,
    now: datetime | None = None,
) -> None:
    """Raise OverBudget if ``estimate`` (plus what is in flight) would take the profile past a cap."""
    if estimate is None:
        if budget.allow_unknown:
            return
        raise OverBudget(
            f"model {model!r} has no price estimate, and profile {_name(profile)} has a budget "
            f"(set in {budget.where}): refused, so the cap cannot be bypassed by a model name",
            hints=('To allow it anyway, the config\'s owner sets "budget_unknown_models": "allow".',),
        )
    moment = now or datetime.now(timezone.utc)
    history = list(records)
    for name, cap, since in budget.caps(moment):
        spent = ledger.spent(history, profile, since)
        if spent + in_flight + estimate > cap + 1e-9:
            period = "today" if name == "daily_usd" else "this month"
            flying = f" + ${in_flight:.2f} in flight" if in_flight else ""
            raise OverBudget(
                f"budget: this call (about ${estimate:.3f}) would take profile {_name(profile)} past its "
                f"{name} cap of ${cap:.2f} (spent {period}: ${spent:.2f}{flying}; set in {budget.where})",
                hints=("Nothing was sent. The cap is set in the private config file, by its owner.",),
            )


def _name(profile: str | None) -> str:
    return repr(profile) if profile else "(the only profile)"


class Guard:
    """Budget checks for many jobs at once: each job's estimate is reserved until its ledger line lands."""

    def __init__(
        self,
        path: Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._reserved: dict[int, tuple[str | None, float]] = {}
        self._next = 0

    def reserve(self, budget: Budget | None, profile: str | None, model: str, estimate: float | None) -> int:
        """Check the cap counting the jobs in flight for this profile; a reservation id, or OverBudget."""
        with self._lock:
            if budget is not None:
                flying = sum(cost for name, cost in self._reserved.values() if name == profile)
                now = self._clock() if self._clock else None
                spent = ledger.read(self.path or budget.ledger)
                check(budget, profile, model, estimate, spent, in_flight=flying, now=now)
            self._next += 1
            self._reserved[self._next] = (profile, estimate or 0.0)
            return self._next

    def release(self, reservation: int) -> None:
        """The job ended (its spend is in the ledger now, or it was never paid)."""
        with self._lock:
            self._reserved.pop(reservation, None)
