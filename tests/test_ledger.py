"""The spend ledger: one private line per paid call, whole lines even from many writers at once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from imagegate import ledger
from imagegate.ledger import Entry


def entry(**changes: object) -> Entry:
    fields: dict[str, object] = {
        "profile": "work",
        "provider": "openai",
        "model": "gpt-image-1",
        "operation": "generate",
        "size": "1024x1024",
        "quality": "low",
        "images": 1,
        "usage": {"input_tokens": 10, "output_tokens": 272, "input_tokens_details": {"text_tokens": 10}},
        "cost_usd": 0.011,
        "request_id": "req_1",
        "paths": ["/tmp/out.png"],
    }
    fields.update(changes)
    return Entry(**fields)  # type: ignore[arg-type]


def test_the_ledger_lives_under_xdg_state_home(tmp_path: Path) -> None:
    assert ledger.ledger_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "imagegate" / "ledger.jsonl"


def test_without_xdg_state_home_the_ledger_is_under_local_state(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = Path.home() / ".local" / "state" / "imagegate" / "ledger.jsonl"
    assert ledger.ledger_path({}) == expected
    assert ledger.ledger_path({"XDG_STATE_HOME": "relative/dir"}) == expected


def test_a_paid_call_appends_one_private_line_with_its_facts(tmp_path: Path) -> None:
    path = tmp_path / "state" / "imagegate" / "ledger.jsonl"
    ledger.append(entry(), path)
    ledger.append(entry(request_id="req_2"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    assert len(lines) == 2 and next(iter(record)) == "time" and record["time"].endswith("Z")
    assert {k: record[k] for k in ("profile", "model", "images", "cost_usd", "request_id")} == {
        "profile": "work",
        "model": "gpt-image-1",
        "images": 1,
        "cost_usd": 0.011,
        "request_id": "req_1",
    }
    assert "prompt" not in record and record["usage"]["input_tokens_details"] == {"text_tokens": 10}


def test_an_existing_ledger_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text("")
    path.chmod(0o644)
    ledger.append(entry(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_only_the_numbers_of_a_usage_object_are_kept() -> None:
    usage = {
        "input_tokens": 5,
        "note": "a prompt echoed back",
        "details": {"image_tokens": 3, "x": "y"},
        "ok": True,
    }
    assert ledger.token_counts(usage) == {"input_tokens": 5, "details": {"image_tokens": 3}}
    assert ledger.token_counts("text") is None


def test_lines_from_many_threads_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    def write(worker: int) -> None:
        for number in range(50):
            ledger.append(entry(request_id=f"req_{worker}_{number}", paths=["p" * 3000]), path)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({r["request_id"] for r in records}) == len(records) == 300


def test_lines_from_other_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    script = (
        "import sys; from imagegate import ledger; from pathlib import Path\n"
        "for n in range(100):\n"
        "    ledger.append(ledger.Entry('p', 'x', 'm', 'generate', request_id=f'{sys.argv[1]}-{n}',"
        " paths=['q' * 5000]), Path(sys.argv[2]))\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", script, str(i), str(path)]) for i in range(3)]
    assert [child.wait() for child in children] == [0, 0, 0]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({r["request_id"] for r in records}) == len(records) == 300


def test_reading_skips_lines_it_cannot_parse(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger.append(entry(), path)
    with open(path, "a") as handle:
        handle.write('not json\n[1, 2]\n{"time": 3}\n{"time": "2026-12-03T10:00:00Z", "cost')
    assert [r["request_id"] for r in ledger.read(path)] == ["req_1"]


def test_there_is_nothing_to_read_before_the_first_paid_call(tmp_path: Path) -> None:
    assert list(ledger.read(tmp_path / "missing.jsonl")) == []


def test_spend_is_summed_per_profile_since_a_time() -> None:
    records = [
        {"time": "2026-12-02T23:59:59Z", "profile": "work", "cost_usd": 1.0},
        {"time": "2026-12-03T00:00:00Z", "profile": "work", "cost_usd": 0.25},
        {"time": "2026-12-03T08:00:00Z", "profile": "work", "cost_usd": None},
        {"time": "2026-12-03T09:00:00Z", "profile": "home", "cost_usd": 5.0},
        {"time": "2026-12-03T10:00:00Z", "profile": "work", "cost_usd": 0.5},
    ]
    since = datetime(2026, 12, 3, tzinfo=timezone.utc)
    assert ledger.spent(records, "work", since) == pytest.approx(0.75)


def test_the_ledger_never_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("")
    link = tmp_path / "ledger.jsonl"
    os.symlink(target, link)
    with pytest.raises(OSError):
        ledger.append(entry(), link)
    assert target.read_text() == ""
