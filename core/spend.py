"""What a call costs, whether the profile's budget allows it, and the ledger line once it is paid.

The estimate is the adapter's (``Adapter.estimate_cost``: the prices are provider knowledge); the
core only checks it against the profile's budget before sending and records it afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import ledger
from .budget import Budget, Guard, OverBudget

log = logging.getLogger("imagegate.spend")
#: The process's one guard: calls and batch jobs in flight in any thread count against the budget.
GUARD = Guard()


def estimate(adapter: Any, options: Any, usage: Any = None) -> float | None:
    """The adapter's estimate in USD (from ``usage`` when the answer had it), or None if it has none.

    An adapter's mistake here never fails a call that is about to be, or was, paid for.
    """
    method = getattr(adapter, "estimate_cost", None)
    if method is None:
        return None
    try:
        value = method(options, usage)
    except Exception as exc:  # a plugin's bug: no estimate, and a budget then refuses unknown costs
        log.warning("estimate_cost of %s failed: %s", type(adapter).__name__, type(exc).__name__)
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        return None
    return float(value)


def budget_of(profile: Any) -> Budget | None:
    """The profile's budget (from its private config), naming where it is set."""
    return Budget.from_settings(profile.settings, profile.label)


def reserve(profile: Any, model: str, cost: float | None, guard: Guard | None = None) -> int:
    """Check the profile's budget for one call, counting the calls in flight; OverBudget if not.

    Release the reservation (``GUARD.release``) once the call's ledger line is written or it failed.
    Under a budget, a call whose spend could not be recorded is refused too: the cap would not see it.
    """
    guard = guard or GUARD
    budget = budget_of(profile)
    if budget is not None:
        where = guard.path or budget.ledger or ledger.ledger_path()
        if not ledger.writable(where):
            raise OverBudget(
                f"the spend ledger {where} cannot be written here, so profile "
                f"{profile.name or '(the only profile)'!r} and its budget (set in {budget.where}) "
                "could not count this call: refused before sending",
                hints=("Let imagegate write that folder (in a sandbox: add it to its writable roots).",),
            )
    return guard.reserve(budget, profile.name, model, cost)


def record(
    profile: Any,
    model: str,
    options: Any,
    *,
    images: int,
    usage: Any,
    cost: float | None,
    request_id: str | None,
    paths: Sequence[str | Path],
    path: Path | None = None,
) -> str | None:
    """Append the paid call to the ledger; a warning to show if it could not be written, else None."""
    entry = ledger.Entry(
        profile=profile.name,
        provider=profile.provider or "",
        model=model,
        operation=options.operation,
        size=options.size,
        quality=options.quality,
        images=images,
        usage=usage if isinstance(usage, dict) else None,
        cost_usd=cost,
        request_id=request_id,
        paths=[str(p) for p in paths],
    )
    budget = budget_of(profile)
    path = path or (budget.ledger if budget is not None else None)
    try:
        ledger.append(entry, path)
    except OSError as exc:
        where = path or ledger.ledger_path()
        return f"the call was paid, but not recorded in the spend ledger {where} ({exc.strerror or exc})"
    return None


@contextlib.contextmanager
def within_budget(profile: Any, model: str, cost: float | None, *, checked: bool = False) -> Iterator[None]:
    """Refuse the call (OverBudget) if its estimate would cross the profile's cap; while it runs,
    its estimate counts as in flight. ``checked``: the caller (a batch) has reserved it already."""
    if checked:
        yield
        return
    reservation = reserve(profile, model, cost)
    try:
        yield
    finally:
        GUARD.release(reservation)
