"""The rate-limit benchmark: a 40-job batch at --concurrency 8 against a token-bucket provider.

``python bench/ratelimit.py [--jobs 40] [--concurrency 8] [--burst 4] [--rate 4]`` (from the
repository, in its virtualenv). The provider (``tests/support/ratelimit.py``) runs on 127.0.0.1:
a bucket of ``burst`` requests refilling ``rate`` a second, 429 with ``Retry-After`` when empty,
and OpenAI's ``x-ratelimit-*`` headers on every answer. ``imagegate batch`` runs as a subprocess
in a throw-away HOME. It prints the exit code, the images written, the fraction of requests the
provider refused and the wall time beside the bucket's ideal ((jobs - burst) / rate seconds, plus
one --latency), and the goals: exit 0, every image, at most 25% refused, at most 1.25x the ideal.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ratelimit import RateLimitedProvider  # noqa: E402

IMAGEGATE = str(Path(sys.executable).with_name("imagegate"))


def run(jobs: int, concurrency: int, burst: int, rate: float, latency: float = 0.0) -> dict[str, float | int]:
    """One batch against a fresh bucket; the figures."""
    with tempfile.TemporaryDirectory() as folder, RateLimitedProvider(burst, rate, latency) as provider:
        home = Path(folder)
        config = home / "config.json"
        config.write_text(json.dumps({"api_key": "sk-bench-0000000000000000", "base_url": provider.base_url}))
        config.chmod(0o600)
        (home / "jobs.jsonl").write_text("".join(f"a lighthouse, study {i}\n" for i in range(jobs)))
        env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
        env.pop("OPENAI_API_KEY", None)
        argv = [IMAGEGATE, "batch", str(home / "jobs.jsonl"), "--out-dir", str(home / "out")]
        argv += [
            "--concurrency",
            str(concurrency),
            "--config",
            str(config),
            "--quiet",
            "--model",
            "gpt-image-1",
        ]
        started = time.perf_counter()
        process = subprocess.run(argv, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if process.returncode not in (0, 3, 5):
            sys.stderr.write(process.stderr[-2000:])
        images = len(list((home / "out").glob("*.png")))
        return {
            "exit": process.returncode,
            "images": images,
            "requests": provider.requests,
            "refused": provider.refused,
            "seconds": seconds,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--burst", type=int, default=4)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each image takes")
    args = parser.parse_args()
    figures = run(args.jobs, args.concurrency, args.burst, args.rate, args.latency)
    ideal = max(0.0, (args.jobs - args.burst) / args.rate) + args.latency
    refused = figures["refused"] / max(1, figures["requests"])
    ratio = figures["seconds"] / ideal if ideal else float("inf")
    print(
        f"{args.jobs} jobs at --concurrency {args.concurrency}, bucket {args.burst} + {args.rate:g}/s, "
        f"{args.latency:g} s per image"
    )
    print(f"exit code        {figures['exit']}")
    print(f"images written   {figures['images']} of {args.jobs}")
    print(f"requests         {figures['requests']} ({figures['refused']} refused: {refused:.0%})")
    print(f"wall time        {figures['seconds']:.2f} s (ideal {ideal:.2f} s: {ratio:.2f}x)")
    goals = [
        ("exit 0", figures["exit"] == 0),
        ("every image written", figures["images"] == args.jobs),
        ("at most 25% of requests refused", refused <= 0.25),
        ("wall time at most 1.25x the ideal", ratio <= 1.25),
    ]
    for name, met in goals:
        print(f"goal: {name}: {'met' if met else 'MISSED'}")
    return 0 if all(met for _, met in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
