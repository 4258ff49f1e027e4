"""The benchmark: imagegate beside a minimal stdlib client (the floor) and the official openai SDK.

``python bench/run.py [--runs N]`` (from the repository, in its virtualenv; the openai SDK is
used if installed: ``pip install openai``). Everything runs against a loopback fake provider
(``bench/fake_provider.py``); nothing leaves the machine. It measures:

1. one 1024x1024 image and four 2048x2048 images (~64 MiB of JSON): wall time and peak RSS of
   each client as a subprocess (``os.wait4`` rusage), runs interleaved, medians;
2. a batch of 64 jobs, 1 s server latency each, at concurrency 8, beside the ideal 8 s;
3. start-up: ``imagegate --help`` and ``imagegate providers`` beside ``python -c pass``.

It prints a Markdown table and the goals, each with its measured figure. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
IMAGEGATE = str(Path(PYTHON).with_name("imagegate"))
CASES = (("1024x1024", 1), ("2048x2048", 4))
MiB = 1024 * 1024


def start_provider(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [PYTHON, str(HERE / "fake_provider.py"), *args], stdout=subprocess.PIPE, text=True
    )
    port = process.stdout.readline().strip()  # type: ignore[union-attr]
    return process, f"http://127.0.0.1:{port}/v1"


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process; fails loudly if the child fails."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{argv[:3]} failed ({process.returncode}): {errors.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def write_config(folder: Path, base_url: str) -> Path:
    path = folder / "config.json"
    # An unknown model: the benchmark measures transport and decoding, not the model rules.
    config = {"api_key": "sk-bench-not-a-key", "base_url": base_url, "model": "bench-model"}
    path.write_text(json.dumps(config), encoding="utf-8")
    path.chmod(0o600)
    return path


def clients(base_url: str, config: Path, size: str, n: int, out: Path) -> dict[str, list[str]]:
    common = [base_url, size, str(n), str(out)]
    found = {
        "imagegate": [
            IMAGEGATE,
            "--config",
            str(config),
            "--prompt",
            "bench",
            "--size",
            size,
            "--n",
            str(n),
            "--out",
            str(out / "ig.png"),
        ],
        "floor (stdlib)": [PYTHON, str(HERE / "floor_client.py"), *common],
    }
    if has_openai():
        found["openai SDK"] = [PYTHON, str(HERE / "openai_client.py"), *common]
    return found


def has_openai() -> bool:
    probe = subprocess.run([PYTHON, "-c", "import openai"], capture_output=True)
    return probe.returncode == 0


def interleaved(commands: dict[str, list[str]], runs: int, env: dict[str, str], scratch: Path):
    """Run every command ``runs`` times, rotating the order each round; medians per command."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    names = list(commands)
    for round_number in range(runs):
        for name in names[round_number % len(names) :] + names[: round_number % len(names)]:
            for leftover in scratch.iterdir():
                leftover.unlink()
            samples[name].append(measure(commands[name], env))
    return {
        name: (statistics.median(s for s, _ in values), statistics.median(m for _, m in values))
        for name, values in samples.items()
    }


def image_cases(runs: int, env: dict[str, str], work: Path) -> dict[str, dict[str, tuple[float, float]]]:
    provider, base_url = start_provider(*(f"--warm={size}:{n}" for size, n in CASES))
    try:
        config = write_config(work, base_url)
        scratch = work / "out"
        scratch.mkdir()
        results = {}
        for size, n in CASES:
            commands = clients(base_url, config, size, n, scratch)
            interleaved(commands, 1, env, scratch)  # warm-up: page cache, server answer
            results[f"{n} x {size}"] = interleaved(commands, runs, env, scratch)
        return results
    finally:
        provider.kill()
        provider.wait()


BATCH_SIZES = ("1024x1024", "256x256")


def batch_case(runs: int, env: dict[str, str], work: Path, jobs: int = 64) -> dict[str, list[float]]:
    """Wall seconds of ``imagegate batch`` (64 jobs, concurrency 8, 1 s latency) per image size."""
    provider, base_url = start_provider("--latency=1", *(f"--warm={size}:1" for size in BATCH_SIZES))
    try:
        config = write_config(work, base_url)
        lines = work / "jobs.jsonl"
        lines.write_text("".join(json.dumps(f"bench job {k}") + "\n" for k in range(jobs)), encoding="utf-8")
        times: dict[str, list[float]] = {size: [] for size in BATCH_SIZES}
        for _ in range(runs):
            for size in BATCH_SIZES:
                out = work / "batch-out"
                shutil.rmtree(out, ignore_errors=True)
                argv = [IMAGEGATE, "batch", str(lines), "--out-dir", str(out), "--config", str(config)]
                argv += ["--concurrency", "8", "--size", size]
                times[size].append(measure(argv, env)[0])
        return times
    finally:
        provider.kill()
        provider.wait()


def startup(runs: int, env: dict[str, str], work: Path) -> dict[str, tuple[float, float]]:
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "imagegate --help": [IMAGEGATE, "--help"],
        "imagegate providers": [IMAGEGATE, "providers"],
    }
    scratch = work / "startup"
    scratch.mkdir()
    interleaved(commands, 1, env, scratch)
    return interleaved(commands, runs, env, scratch)


def row(*cells: str) -> None:
    print("| " + " | ".join(cells) + " |")


def report(images, batch_times, starts, runs: int) -> None:
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; medians of {runs} interleaved runs\n"
    )
    row("case", "client", "wall", "peak RSS", "wall vs floor", "RSS vs floor")
    row("---", "---", "---:", "---:", "---:", "---:")
    for case, rows in images.items():
        floor_s, floor_m = rows["floor (stdlib)"]
        for name, (seconds, mib) in rows.items():
            row(
                case,
                name,
                f"{seconds:.3f} s",
                f"{mib:.1f} MiB",
                f"{seconds / floor_s:.2f}",
                f"{mib / floor_m:.2f}",
            )
        if "openai SDK" not in rows:
            row(case, "openai SDK", "not installed", "", "", "")
    batch = {size: statistics.median(values) for size, values in batch_times.items()}
    for size, seconds in batch.items():
        row(
            f"64 jobs of {size}, 1 s latency, concurrency 8",
            "imagegate batch",
            f"{seconds:.3f} s",
            "",
            f"{seconds / 8:.3f} x the ideal 8 s",
            "",
        )
    base = starts["python -c pass"][0]
    for name, (seconds, mib) in starts.items():
        row(
            "start-up",
            name,
            f"{seconds * 1000:.0f} ms",
            f"{mib:.1f} MiB",
            f"+{(seconds - base) * 1000:.0f} ms",
            "",
        )
    small, large = images[f"1 x {CASES[0][0]}"], images[f"4 x {CASES[1][0]}"]
    print("\ngoals:")
    goal(
        "peak RSS, 4 x 2048x2048 <= 1/4 of the floor's",
        large["imagegate"][1],
        large["floor (stdlib)"][1] / 4,
        "MiB",
    )
    goal(
        "peak RSS, 4 x 2048x2048 <= 1 x 1024x1024 + 10 MiB",
        large["imagegate"][1],
        small["imagegate"][1] + 10,
        "MiB",
    )
    goal("wall, 4 x 2048x2048 <= the floor's", large["imagegate"][0], large["floor (stdlib)"][0], "s")
    goal(
        "wall, 1 x 1024x1024 <= the floor's + 150 ms",
        small["imagegate"][0],
        small["floor (stdlib)"][0] + 0.15,
        "s",
    )
    for size, seconds in batch.items():
        goal(f"64-job batch of {size} images <= 8.8 s", seconds, 8.8, "s")


def goal(text: str, measured: float, limit: float, unit: str) -> None:
    verdict = "met" if measured <= limit else "MISSED"
    print(f"- {text}: {measured:.3f} {unit} (limit {limit:.3f} {unit}): {verdict}")


def precompile() -> None:
    """Write imagegate's bytecode, as ``pip install`` does for an installed package.

    An editable checkout run with PYTHONDONTWRITEBYTECODE set (this build machine sets it)
    would otherwise compile every module from source on every run, which no installed copy does.
    """
    import compileall

    import imagegate
    import imagegate.providers

    for package in (imagegate, imagegate.providers):
        compileall.compile_dir(package.__path__[0], quiet=1, maxlevels=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per client and case (default 5)")
    parser.add_argument("--batch-runs", type=int, default=2, help="runs of the 64-job batch (default 2)")
    args = parser.parse_args()
    precompile()
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as folder:
        work = Path(folder)
        env = {
            **os.environ,
            "HOME": str(work),
            "XDG_CONFIG_HOME": str(work / "config"),
            "XDG_STATE_HOME": str(work / "state"),
        }
        images = image_cases(args.runs, env, work)
        batch_times = batch_case(args.batch_runs, env, work)
        starts = startup(args.runs, env, work)
    report(images, batch_times, starts, args.runs)


if __name__ == "__main__":
    main()
