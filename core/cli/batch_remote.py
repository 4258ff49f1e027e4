"""``imagegate batch ... --remote``: the jobs on the provider's batch engine, waited for (or not) here.

Progress goes to stderr: one live line on a terminal (each batch's status and counts, elapsed),
one line per change otherwise. stdout carries the local batch's JSON summary plus the batches.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import EXIT_INTERRUPTED, ImagegateError
from ..untrusted import untrusted
from .batch import summary
from .console import emit

if TYPE_CHECKING:
    from ..batch import Manifest
    from ..jobs import JobResult, Planned

RESUME_HINT = (
    "The batches go on at the provider; run the same command again to collect (nothing is submitted twice)."
)


def run_remote(
    args: argparse.Namespace, todo: list[Planned], skipped: list[JobResult], manifest: Manifest
) -> int:
    """Submit, wait (unless --no-wait), collect; emit the summary; the exit code of the worst job."""
    from ..remote import RemoteRun

    status = RemoteStatus(sys.stderr, quiet=args.quiet)
    run = RemoteRun(
        manifest,
        manifest.path.parent,
        wait=not args.no_wait,
        cancel=args.cancel,
        timeout=args.timeout or 600.0,
        notify=status.note,
        watch=status.watch,
    )
    results = list(skipped)
    interrupted = 0
    error: ImagegateError | None = None
    try:
        for result in run.run(todo):
            results.append(result)
            status.finished(result)
    except KeyboardInterrupt as exc:  # Ctrl-C (130) or SIGTERM (143)
        interrupted = getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except ImagegateError as exc:  # a step failed (a poll, a download): the batches are recorded
        error = exc
    finally:
        status.close()
    results += run.pending()
    emit(summary(results, manifest.path, status.elapsed(), bool(interrupted), remote=run.summary()))
    if error is not None:
        if run.touched:
            error.hints = (*error.hints, RESUME_HINT)
        raise error
    if interrupted:
        print("error: interrupted", file=sys.stderr)
        print(f"hint: {RESUME_HINT}", file=sys.stderr)
        return interrupted
    return _exit_code(results, args.cancel)


def _exit_code(results: list[JobResult], cancelled: bool) -> int:
    """The first failed job's exit code; 5 when jobs were not run (the batch expired) unless --cancel."""
    for result in results:
        if result.status == "failed" or (result.status == "not run" and result.exit_code):
            return result.exit_code or 1  # a job a budget stopped is "not run" with exit 2
    not_run = sum(result.status == "not run" for result in results)
    if not_run and not cancelled:
        print(f"error: {not_run} job(s) were not run (their batch ended first)", file=sys.stderr)
        print("hint: run the same command again to submit only those", file=sys.stderr)
        return 5
    return 0


class RemoteStatus:
    """Each batch's status and counts: a live line on a terminal, else one line per change."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty() and not quiet
        self.started = time.monotonic()
        self.shown: dict[str, str] = {}
        self.drawn = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        if not self.quiet:
            self._line(text)

    def finished(self, result: JobResult) -> None:
        where = result.job.where
        if result.status == "failed":
            self._line(f"failed {where}: {result.error} (exit {result.exit_code})")
        elif self.quiet:
            return
        elif result.status == "not run":
            self._line(f"not run {where}: {result.error}")
        elif result.status == "ok" and not self.live:
            self._line(f"ok {where}: {', '.join(Path(p).name for p in result.paths)}")
        for warning in result.warnings if not self.quiet else ():
            self._line(f"warning: {where}: {warning}")

    def watch(self, batches: list[dict[str, Any]], elapsed: float) -> None:
        """After each round of polls: redraw the live line, or print the batches that changed."""
        if self.quiet:
            return
        texts = {entry["id"]: describe(entry) for entry in batches if entry.get("id")}
        if self.live:
            self.stream.write(f"\r\033[K{' | '.join(texts.values())} · {elapsed:.0f} s elapsed")
            self.stream.flush()
            self.drawn = True
            return
        for batch_id, text in texts.items():
            if self.shown.get(batch_id) != text:
                self._line(f"{text} ({elapsed:.0f} s elapsed)")
        self.shown = texts

    def _line(self, text: str) -> None:
        prefix = "\r\033[K" if self.live and self.drawn else ""
        self.stream.write(f"{prefix}{untrusted(text, None)}\n")  # ids, statuses and errors are the provider's
        self.stream.flush()
        self.drawn = False

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def describe(entry: dict[str, Any]) -> str:
    """``batch b-1: in_progress, 40/100 completed, 2 failed``."""
    counts = entry.get("counts") or {}
    text = f"batch {entry['id']}: {entry.get('status') or '?'}"
    if "total" in counts:
        text += (
            f", {counts.get('completed', 0)}/{counts['total']} completed, {counts.get('failed', 0)} failed"
        )
    return untrusted(text, None)  # the provider's id, status and counts: shown inert
