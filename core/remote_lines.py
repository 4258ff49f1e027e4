"""The input side of ``batch --remote``: checks before sending, custom ids, job records, input files.

Nothing here sends anything: it decides what goes into a provider's batch input files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import plugins
from .errors import ImagegateError, UsageError
from .jobs import Planned
from .options import BATCH


def check_remote(todo: Iterable[Planned]) -> None:
    """Refuse, before anything is sent, jobs whose provider has no batch engine or cannot batch them."""
    for item in todo:
        adapter = item.call.adapter
        if not adapter.supports(BATCH):
            with_it = sorted(
                name for name, rec in plugins.providers().items() if BATCH in rec.adapter.operations
            )
            raise UsageError(
                f"{item.job.where}: provider {adapter.profile.provider or adapter.name!r} has no batch "
                f"engine, so --remote cannot run it; nothing was sent",
                hints=(f"Providers with one: {', '.join(with_it) or 'none installed'}; or drop --remote.",),
            )
        try:
            adapter.batch_uploads(item.call.options)
        except ImagegateError as exc:
            exc.message = f"{item.job.where}: {exc.message}"
            raise


def custom_id(item: Planned) -> str:
    """The job's id inside a batch: its number and the hash of its options (unique in the folder)."""
    return f"job-{item.job.number}-{item.key[:20]}"


def shards(
    lines: list[tuple[Planned, Any]], max_lines: int, max_bytes: int
) -> Iterator[tuple[str, list[tuple[Planned, Any]]]]:
    """The lines in groups (one per batch): one group each, at most ``max_lines`` and ``max_bytes``."""
    groups: dict[str, list[tuple[Planned, Any]]] = {}
    for item, line in lines:
        groups.setdefault(line.group, []).append((item, line))
    for group, members in groups.items():
        shard: list[tuple[Planned, Any]] = []
        size = 0
        for item, line in members:
            length = len(json.dumps(line.line, separators=(",", ":")).encode()) + 1
            if shard and (len(shard) >= max_lines > 0 or (max_bytes > 0 and size + length > max_bytes)):
                yield group, shard
                shard, size = [], 0
            shard.append((item, line))
            size += length
        if shard:
            yield group, shard


def job_record(item: Planned, out_dir: Path) -> dict[str, Any]:
    """What the manifest keeps of a submitted job: enough to save its images even if the jobs file changes,
    and to record its spend in the ledger when it is collected (never the key)."""
    job, options = item.job, item.call.options
    return {
        "key": item.key,
        "job": job.number,
        "line": job.line,
        "source": job.source,
        "prompt": job.options.prompt[:200],
        "out": os.path.relpath(item.plan.first, out_dir),
        "count": item.plan.count,
        "force": item.plan.force,
        "model": item.call.model,
        "operation": options.operation,
        "size": options.size,
        "quality": options.quality,
        "n": options.n,
    }


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
