"""``imagegate batch JOBS.jsonl --out-dir DIR``: many images, resumable, at the provider's pace.

The image command's flags are the defaults of every job. Progress goes to stderr (a live line on
a terminal, one line per finished job otherwise); stdout carries one JSON summary.
"""

from __future__ import annotations

import argparse
import errno
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import EXIT_INTERRUPTED, UsageError
from ..untrusted import HINT_LIMIT, untrusted
from ..verbose import verbose_logging
from .console import EPILOG, Parser, emit, refuse_key_flags
from .image import add_image_flags, asked_from_args

if TYPE_CHECKING:
    from ..jobs import JobResult

DESCRIPTION = """Run many image jobs from a JSONL file, a few at a time.

Each line is a prompt string or an object of per-job options: prompt, out (a file name inside
DIR), n, size, quality, format, background, edit_images, mask, model, provider, profile, and any
other option of the image command. Blank lines and # comments are skipped. Paths of input images
are relative to the jobs file. Finished jobs are recorded in DIR/.imagegate-batch.json: running
the same command again sends only the jobs that are not done yet (--force redoes all).

--remote runs the same jobs on the provider's batch engine (half the price, results within 24
hours): it waits and collects (--no-wait: submit and exit; run again to collect), and a rerun
never submits a job twice. --cancel cancels this folder's unfinished remote batches.
"""


def batch_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="imagegate batch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("jobs", metavar="JOBS.jsonl", help="the jobs, one per line ('-' reads stdin)")
    parser.add_argument("--out-dir", required=True, metavar="DIR", help="folder for the images")
    parser.add_argument("--concurrency", type=int, default=4, metavar="N", help="jobs in flight (default 4)")
    parser.add_argument("--fail-fast", action="store_true", help="start no new job after a failure")
    remote = parser.add_argument_group("on the provider's batch engine (half price, within 24 hours)")
    remote.add_argument("--remote", action="store_true", help="run the jobs on the provider's batch engine")
    remote.add_argument(
        "--no-wait", action="store_true", help="with --remote: submit, then exit (rerun to collect)"
    )
    remote.add_argument(
        "--cancel",
        action="store_true",
        help="cancel this folder's unfinished remote batches; collect what they did",
    )
    add_image_flags(parser, batch=True)
    return parser


def command(argv: list[str]) -> int:
    """``imagegate batch JOBS.jsonl --out-dir DIR``."""
    from ..batch import MANIFEST_NAME, Manifest
    from ..jobs import Job, read_jobs

    refuse_key_flags(argv)
    args = batch_parser().parse_args(argv)
    if args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: must be at least 1")
    defaults = Job(0, 0, asked_from_args(args), None, args.provider, args.profile, args.config)
    source, base, lines = _read_lines(args.jobs)
    jobs = read_jobs(lines, defaults, source, base)
    if not jobs:
        raise UsageError(f"{source} holds no jobs (only blank lines or # comments)")
    out_dir = Path(args.out_dir).expanduser().absolute()
    manifest = Manifest(out_dir / MANIFEST_NAME)  # locks the folder against a second batch
    try:
        return _planned(args, jobs, out_dir, manifest)
    finally:
        manifest.close()


def _planned(args: argparse.Namespace, jobs: list[Any], out_dir: Path, manifest: Any) -> int:
    """Plan every job, then run them (locally or on the provider's batch engine)."""
    from ..jobs import plan_jobs

    todo, skipped = plan_jobs(jobs, out_dir, manifest, args.force)
    remote = args.remote or args.cancel
    if args.no_wait and not remote:
        raise UsageError("--no-wait goes with --remote (a local batch always waits for its jobs)")
    if remote:
        from ..remote import check_remote

        check_remote(todo)
    if args.dry_run:
        return _dry_run(todo, skipped)

    with verbose_logging(args.verbose):
        if remote:
            from .batch_remote import run_remote

            return run_remote(args, todo, skipped, manifest)
        return _run(args, todo, skipped, manifest, len(jobs))


#: The largest jobs file read (50,000 jobs of long prompts fit many times over).
MAX_JOBS_BYTES = 256 * 1024 * 1024


def _read_lines(name: str) -> tuple[str, Path, list[str]]:
    """The jobs file's lines: a regular file, a pipe (``-`` for stdin, or ``<(...)``), never a device."""
    if name == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        text = _capped("stdin", stdin.read(MAX_JOBS_BYTES + 1)) if stdin else sys.stdin.read()
        return "stdin", Path.cwd(), text.splitlines()
    path = Path(name).expanduser()
    try:
        kind = path.stat().st_mode
        if not (stat.S_ISREG(kind) or stat.S_ISFIFO(kind)):
            raise OSError(errno.EINVAL, "it is not a file (a folder or a device)")
        with open(path, "rb") as stream:
            text = _capped(str(path), stream.read(MAX_JOBS_BYTES + 1))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read the jobs file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return path.name, path.absolute().parent, text.splitlines()


def _capped(where: str, data: bytes) -> str:
    """The jobs file's text (UTF-8), refused past :data:`MAX_JOBS_BYTES`."""
    if len(data) > MAX_JOBS_BYTES:
        raise UsageError(f"the jobs file {where} is larger than {MAX_JOBS_BYTES // 2**20} MiB; split it")
    return data.decode("utf-8")


def _dry_run(todo: list[Any], skipped: list[JobResult]) -> int:
    from ..dispatch import dry_run

    emit(
        {
            "ok": True,
            "dry_run": True,
            "jobs": [
                {"job": p.job.number, "line": p.job.line, **dry_run(p.call, p.plan).to_json()} for p in todo
            ],
            "skipped": [result.to_json() for result in skipped],
        }
    )
    return 0


def _run(
    args: argparse.Namespace, todo: list[Any], skipped: list[JobResult], manifest: Any, total: int
) -> int:
    from ..batch import run_jobs
    from ..batch_stop import noted_signals

    progress = BatchStatus(total, len(skipped), len(todo), args.concurrency, sys.stderr, quiet=args.quiet)
    results = list(skipped)
    with noted_signals() as signals:  # from the first job to the summary, a signal is only noted
        jobs = run_jobs(
            todo, manifest, concurrency=args.concurrency, fail_fast=args.fail_fast, notify=progress.note
        )
        stop = signals.last_word(_collect(jobs, results, progress))
    interrupted = 0 if stop is None else int(getattr(stop, "exit_code", EXIT_INTERRUPTED))  # 130 or 143
    emit(summary(results, manifest.path, progress.elapsed(), bool(interrupted)))
    if interrupted:
        print("error: interrupted", file=sys.stderr)
        print("hint: finished jobs are recorded; run the same command again to go on", file=sys.stderr)
        return interrupted
    return _exit_code(results)


def _collect(
    jobs: Iterator[JobResult], results: list[JobResult], progress: BatchStatus
) -> KeyboardInterrupt | None:
    """Add each result as it comes and show it; the Ctrl-C or SIGTERM that stopped the batch, if one did."""
    try:
        for result in jobs:
            results.append(result)
            progress.finished(result)
    except KeyboardInterrupt as stop:
        return stop
    finally:
        progress.close()
    return None


def _exit_code(results: list[JobResult]) -> int:
    """The first failed job's exit code (1 if it has none), else 0.

    Jobs come back "not run" only after a failure (--fail-fast) or an interruption (handled before).
    """
    for result in results:
        if result.status == "failed" or (result.status == "not run" and result.exit_code):
            return result.exit_code or 1  # a job a budget stopped is "not run" with exit 2
    return 0


def summary(
    results: list[JobResult],
    manifest: Path,
    seconds: float,
    interrupted: bool,
    remote: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The one JSON object on stdout: counts and, per job, its status and paths or error.

    A remote batch adds the ``submitted`` count and, per batch at the provider, its id, status and counts.
    """
    statuses = ("ok", "skipped", "failed", "not run") + (("submitted",) if remote is not None else ())
    counts = {status: 0 for status in statuses}
    for result in results:
        counts[result.status] += 1
    ok = not interrupted and counts["failed"] == counts["not run"] == 0
    return {
        "ok": ok,
        "counts": counts,
        "manifest": str(manifest),
        "seconds": round(seconds, 3),
        **({"interrupted": True} if interrupted else {}),
        **({"remote_batches": remote} if remote is not None else {}),
        "jobs": [result.to_json() for result in sorted(results, key=lambda r: r.job.number)],
    }


class BatchStatus:
    """Done / failed / in flight / elapsed / ETA: a live line on a terminal, else a line per job."""

    def __init__(
        self,
        total: int,
        skipped: int,
        todo: int,
        concurrency: int,
        stream: TextIO,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.todo, self.concurrency, self.stream = total, todo, concurrency, stream
        self.done = self.failed = 0
        self.skipped = skipped
        self.clock = clock  # what elapsed time and the ETA are measured with; tests pass a fake
        self.started = clock()
        self.quiet = quiet  # --quiet: only failed jobs are reported on stderr
        self.live = stream.isatty() and not quiet
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if skipped and not quiet:
            self._line(f"{skipped} of {total} jobs already done (recorded in the manifest), skipped")
        if self.live and todo:
            threading.Thread(target=self._tick, daemon=True).start()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def finished(self, result: JobResult) -> None:
        with self._lock:
            self.done += result.status == "ok"
            self.failed += result.status == "failed"
        count = f"[{self.skipped + self.done + self.failed}/{self.total}]"
        if result.status == "failed":
            self._line(f"{count} failed {result.job.where}: {result.error} (exit {result.exit_code})")
        if self.quiet:
            return
        if result.status == "ok":
            names = ", ".join(Path(p).name for p in result.paths)
            if not self.live:
                self._line(f"{count} ok {result.job.where}: {names} ({result.seconds:.1f} s)")
        for warning in result.warnings:
            self._line(f"warning: {result.job.where}: {warning}")

    def status(self) -> str:
        finished = self.done + self.failed
        in_flight = min(self.concurrency, self.todo - finished)
        elapsed = self.elapsed()
        eta = f"{elapsed / finished * (self.todo - finished):.0f} s" if finished else "?"
        return (
            f"done {self.skipped + self.done}/{self.total} · failed {self.failed} · in flight {in_flight}"
            f" · {elapsed:.0f} s elapsed · ETA {eta}"
        )

    def note(self, text: str) -> None:
        """A message of its own line (above the live status line on a terminal); none with --quiet."""
        if not self.quiet:
            self._line(text)

    def _line(self, text: str) -> None:
        with self._lock:
            prefix = "\r\033[K" if self.live else ""
            self.stream.write(f"{prefix}{untrusted(text, HINT_LIMIT)}\n")  # job lines repeat provider text
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                self.stream.write(f"\r\033[K{self.status()}")
                self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self.live and self.todo:
            with self._lock:
                self.stream.write(f"\r\033[K{self.status()}\n")
                self.stream.flush()
