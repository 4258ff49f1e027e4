"""Spend in the call path: the estimate in every call's JSON, the ledger line, budgets refusing first."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from imagegate import ledger

from .support.faultserver import FaultServer, image_reply, local_config

USAGE = {"input_tokens": 20, "output_tokens": 4160, "input_tokens_details": {"text_tokens": 20}}
COST = (20 * 5 + 4160 * 40) / 1e6  # gpt-image-1: $5 per million text tokens in, $40 image tokens out


def run_kite(cli, *extra: str):
    return cli("--prompt", "a secret kite", "--model", "gpt-image-1", "--quality", "low", *extra)


def test_a_dry_run_shows_the_estimate_from_the_price_table(cli, server: FaultServer) -> None:
    run = run_kite(cli, "--dry-run", "--n", "2")
    assert run.code == 0 and run.json["estimated_cost_usd"] == pytest.approx(0.022)
    assert server.seen == []


def test_a_paid_call_shows_its_cost_and_appends_one_private_ledger_line(cli, server, isolated) -> None:
    server.generations(image_reply(usage=USAGE))
    run = run_kite(cli, "--out", "kite.png")
    assert run.code == 0, run.err
    assert run.json["estimated_cost_usd"] == pytest.approx(COST)
    path = ledger.ledger_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert (record["model"], record["operation"], record["quality"], record["images"]) == (
        "gpt-image-1",
        "generate",
        "low",
        1,
    )
    assert record["cost_usd"] == pytest.approx(COST) and record["paths"] == [str(isolated / "kite.png")]
    assert "secret kite" not in line and "sk-" not in line


def test_a_model_without_a_price_has_no_estimate(cli, server) -> None:
    server.generations(image_reply())
    run = cli("--prompt", "p", "--model", "someone-elses-model", "--out", "p.png")
    assert run.code == 0 and run.json["estimated_cost_usd"] is None
    assert json.loads(ledger.ledger_path().read_text())["cost_usd"] is None


def spent_today(amount: float) -> None:
    ledger.append(ledger.Entry(None, "openai", "gpt-image-1", "generate", images=1, cost_usd=amount))


def test_a_call_that_would_cross_the_daily_budget_is_refused_before_sending(cli, make_config) -> None:
    with FaultServer() as server:
        config = local_config(make_config, server, budget={"daily_usd": 0.05})
        server.generations(image_reply())
        spent_today(0.045)
        run = run_kite(cli, "--out", "kite.png")
        assert run.code == 2
        assert server.seen == []
        assert "daily_usd cap of $0.05" in run.err and "spent today: $0.04" in run.err
        assert str(config) in run.err


def test_a_model_without_a_price_is_refused_under_a_budget_unless_allowed(cli, make_config) -> None:
    with FaultServer() as server:
        local_config(make_config, server, budget={"monthly_usd": 10})
        server.generations(image_reply())
        run = cli("--prompt", "p", "--model", "someone-elses-model", "--out", "p.png")
        assert run.code == 2 and "no price estimate" in run.err and server.seen == []
        local_config(make_config, server, budget={"monthly_usd": 10}, budget_unknown_models="allow")
        assert cli("--prompt", "p", "--model", "someone-elses-model", "--out", "p.png").code == 0


def test_a_batch_stops_at_the_budget_and_marks_the_rest_not_run(cli, make_config, isolated: Path) -> None:
    with FaultServer() as server:
        local_config(make_config, server, budget={"daily_usd": 0.03})
        server.generations(image_reply())
        jobs = isolated / "jobs.jsonl"
        jobs.write_text("".join(f'"kite {n}"\n' for n in range(5)))
        run = cli("batch", str(jobs), "--out-dir", "out", "--model", "gpt-image-1", "--quality", "low",
                  "--concurrency", "1")  # fmt: skip
        assert run.code == 2
        statuses = [job["status"] for job in run.json["jobs"]]
        assert statuses == ["ok", "ok", "not run", "not run", "not run"]  # 0.011 each, cap 0.03
        assert len(server.seen) == 2
        assert "daily_usd cap" in run.json["jobs"][2]["error"]
        assert len(ledger.ledger_path().read_text().splitlines()) == 2


def test_a_bad_budget_in_the_config_is_a_config_error(cli, make_config) -> None:
    with FaultServer() as server:
        local_config(make_config, server, budget={"daily": 5})
        run = run_kite(cli, "--out", "kite.png")
        assert run.code == 2 and "budget" in run.err and server.seen == []


def test_under_a_budget_another_state_folder_does_not_start_a_fresh_ledger(
    cli, make_config, monkeypatch, tmp_path: Path
) -> None:
    with FaultServer() as server:
        config = local_config(make_config, server, budget={"daily_usd": 0.05})
        server.generations(image_reply())
        spent_today(0.045)
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "empty-state"))
        monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
        run = run_kite(cli, "--config", str(config), "--out", "kite.png")
        assert run.code == 2 and "daily_usd cap of $0.05" in run.err
        assert server.seen == []


def test_a_budget_counts_the_ledger_its_config_names(cli, make_config, tmp_path: Path) -> None:
    team = tmp_path / "team" / "ledger.jsonl"
    with FaultServer() as server:
        local_config(make_config, server, budget={"daily_usd": 0.05, "ledger": str(team)})
        server.generations(image_reply())
        assert run_kite(cli, "--out", "kite.png").code == 0
        assert len(team.read_text().splitlines()) == 1 and not ledger.ledger_path().exists()
        ledger.append(ledger.Entry(None, "openai", "gpt-image-1", "generate", cost_usd=0.045), team)
        run = run_kite(cli, "--out", "kite2.png")
        assert run.code == 2 and len(server.seen) == 1
