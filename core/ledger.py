"""The spend ledger: one JSON line per paid call, appended atomically to a private file.

``$XDG_STATE_HOME/imagegate/ledger.jsonl`` (default ``~/.local/state/imagegate/``), mode 600 in a
folder of mode 700. Each line is written with one ``write`` to a file opened for appending and
under an exclusive ``flock`` where the platform has it, so lines from concurrent jobs and from
other imagegate processes never interleave. A line holds what the call cost and made, never the
prompt and never the key. Reading skips lines it cannot parse (a line cut short by a full disk).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: O_APPEND alone keeps whole lines apart
    fcntl = None  # type: ignore[assignment]

LEDGER_NAME = "ledger.jsonl"
#: Usage keys kept from the provider's answer (token counts only: numbers, never text).
_USAGE_LIMIT = 20


def ledger_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the ledger lives: ``$XDG_STATE_HOME/imagegate/ledger.jsonl``, else under ``~/.local/state``."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME") or ""
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "imagegate" / LEDGER_NAME


def account_ledger_path() -> Path:
    """The ledger under the account's own home folder, whatever HOME and XDG_STATE_HOME say.

    A budget counts spend here (unless the config names its ledger), so a command run with a
    different environment cannot start from an empty ledger and get past the cap.
    """
    try:
        import pwd

        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, OSError):  # no password database (Windows, some containers)
        home = Path.home()
    return home / ".local" / "state" / "imagegate" / LEDGER_NAME


def known_ledgers() -> list[Path]:
    """The ledgers ``imagegate usage`` reads: this environment's, and the account's when it differs."""
    here, account = ledger_path(), account_ledger_path()
    return [here] if account == here else [here, account]


def now_utc() -> str:
    """The current time as the ledger writes it: ISO 8601 in UTC, to the second, with a ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Entry:
    """One paid call."""

    profile: str | None
    provider: str
    model: str
    operation: str
    size: str | None = None
    quality: str | None = None
    images: int = 0
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    request_id: str | None = None
    paths: list[str] = field(default_factory=list)
    time: str = field(default_factory=now_utc)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["usage"] = token_counts(self.usage)
        if self.cost_usd is not None:
            record["cost_usd"] = round(self.cost_usd, 6)
        return {"time": record.pop("time"), **record}


def token_counts(usage: Any, depth: int = 0) -> dict[str, Any] | None:
    """The numbers of a provider's usage object (nested details included); any text is dropped."""
    if not isinstance(usage, Mapping) or depth > 2:
        return None
    kept: dict[str, Any] = {}
    for key, value in list(usage.items())[:_USAGE_LIMIT]:
        if isinstance(value, bool) or not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, (int, float)):
            kept[key] = value
        elif isinstance(value, Mapping):
            nested = token_counts(value, depth + 1)
            if nested:
                kept[key] = nested
    return kept or None


def append(entry: Entry, path: Path | None = None) -> Path:
    """Add one line to the ledger (creating it private); OSError if it cannot be written."""
    target = path or ledger_path()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = (json.dumps(entry.to_json(), separators=(",", ":"), ensure_ascii=True) + "\n").encode()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o600)
    try:
        if hasattr(os, "fchmod") and os.fstat(descriptor).st_mode & 0o077:
            os.fchmod(descriptor, 0o600)
        with _locked(descriptor):
            _write_all(descriptor, line)
    finally:
        os.close(descriptor)
    return target


@contextlib.contextmanager
def _locked(descriptor: int) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def writable(path: Path) -> bool:
    """Whether a line could be appended at ``path`` (its folder is made if it can be)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK)


def read(path: Path | None = None) -> Iterator[dict[str, Any]]:
    """Every readable line of the ledger, oldest first; nothing if there is no ledger yet."""
    target = path or ledger_path()
    if not target.exists():
        return
    with open(target, encoding="utf-8", errors="replace") as handle:
        for text in handle:
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("time"), str):
                yield record


def parse_time(text: str) -> datetime | None:
    """A ledger time as an aware UTC datetime, or None if it is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def spent(
    records: Iterator[dict[str, Any]] | list[dict[str, Any]], profile: str | None, since: datetime
) -> float:
    """The estimated USD a profile has spent since ``since`` (calls without an estimate count 0)."""
    total = 0.0
    for record in records:
        moment = parse_time(record["time"])
        cost = record.get("cost_usd")
        if moment is None or moment < since or record.get("profile") != profile:
            continue
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            total += float(cost)
    return total
