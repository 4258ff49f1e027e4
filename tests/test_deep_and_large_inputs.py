"""Inputs of absurd depth or size end with their documented exit code and one line: a jobs line
nested thousands deep, a config nested hundreds deep shown by --dry-run, a device as the jobs file."""

from __future__ import annotations

import json
from pathlib import Path

from .support.helpers import API_KEY


def test_a_jobs_line_nested_thousands_deep_is_a_bad_line(cli, isolated: Path) -> None:
    (isolated / "jobs.jsonl").write_text("[" * 2000 + "\n")
    run = cli("batch", "jobs.jsonl", "--out-dir", "out", "--provider", "placeholder")
    assert run.code == 2, run.err
    assert "jobs.jsonl line 1: not a job (nested too deeply)" in run.err and "internal error" not in run.err


def test_a_dry_run_shows_a_config_nested_hundreds_deep_without_failing(cli, make_config) -> None:
    deep: object = "bottom"
    for _ in range(600):
        deep = [deep]
    make_config({"api_key": API_KEY, "base_url": "https://api.example.test/v1", "extra_body": {"x": deep}})
    run = cli("--prompt", "p", "--out", "o.png", "--dry-run")
    assert run.code == 0, run.err
    assert "nested deeper than 32 levels, not shown" in json.dumps(run.json)


def test_a_device_is_not_a_jobs_file(cli, isolated: Path) -> None:
    run = cli("batch", "/dev/zero", "--out-dir", "out", "--provider", "placeholder")
    assert run.code == 2
    assert "cannot read the jobs file /dev/zero: it is not a file (a folder or a device)" in run.err
