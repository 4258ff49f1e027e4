"""A batch against a provider that enforces a token bucket finishes at its pace instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

from .support.helpers import API_KEY, write_config
from .support.ratelimit import RateLimitedProvider


def test_a_rate_limited_batch_writes_every_image_without_spending_its_retries(cli, isolated: Path) -> None:
    with RateLimitedProvider(burst=2, rate=40.0, refuse_first=3) as provider:
        config = write_config(isolated / "config.json", {"api_key": API_KEY, "base_url": provider.base_url})
        jobs = isolated / "jobs.jsonl"
        jobs.write_text("".join(f'"kite {n}"\n' for n in range(10)))
        run = cli("batch", str(jobs), "--out-dir", "out", "--concurrency", "6", "--retries", "0",
                  "--config", str(config))  # fmt: skip
    assert run.code == 0, run.err
    assert run.json["counts"]["ok"] == 10 and len(list((isolated / "out").glob("*.png"))) == 10
    assert provider.accepted == 10
    assert provider.refused >= 3  # with --retries 0: the refusals were waited out, not failed...
    assert "rate limited, resuming in 0.1 s" in run.err  # ...and shown


def test_a_profile_rate_limit_paces_the_batch_from_the_first_request(cli, isolated: Path) -> None:
    with RateLimitedProvider(burst=1, rate=20.0) as provider:
        settings = {"api_key": API_KEY, "base_url": provider.base_url, "rate_limit": "10/s"}
        config = write_config(isolated / "config.json", settings)
        jobs = isolated / "jobs.jsonl"
        jobs.write_text("".join(json.dumps(f"kite {n}") + "\n" for n in range(4)))
        run = cli("batch", str(jobs), "--out-dir", "out", "--concurrency", "4", "--config", str(config))
    assert run.code == 0, run.err
    assert provider.refused == 0  # one at a time, a tenth of a second apart: never a 429


def test_a_rate_limit_that_is_not_a_rate_is_a_config_error(cli, isolated: Path) -> None:
    settings = {"api_key": API_KEY, "base_url": "http://127.0.0.1:9/v1", "rate_limit": "lots"}
    config = write_config(isolated / "config.json", settings)
    run = cli("--prompt", "p", "--config", str(config), "--out", "p.png")
    assert run.code == 2 and "rate_limit" in run.err
