"""What a batch folder's manifest must hold to be trusted: the shape imagegate writes, every field.

``record_problem`` judges one ``done`` record (its file names must be inside the folder and not
the folder's own files); ``remote_problem`` judges the ``remote`` part (uploaded file ids, and
each submitted batch with its jobs). Each returns why the part cannot be trusted, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from .inputs import path_problem
from .options import row

MANIFEST_NAME = ".imagegate-batch.json"
LOCK_NAME = ".imagegate-batch.lock"
JOURNAL_NAME = MANIFEST_NAME + ".journal"
#: The folder's own files: never a job's image (compared ignoring case, as some file systems do).
OWN_NAMES = frozenset(name.casefold() for name in (MANIFEST_NAME, JOURNAL_NAME, LOCK_NAME))
#: A remote batch's life in the manifest: being created (unconfirmed), created, read to the end.
BATCH_STATES = ("creating", "running", "collected")


def record_problem(record: Any) -> str | None:
    """Why a manifest record cannot be trusted, or None: it must list names inside the folder."""
    if not isinstance(record, dict):
        return "is not an object"
    paths = record.get("paths")
    if not isinstance(paths, list) or not all(isinstance(name, str) and name for name in paths):
        return "has no list of file names ('paths')"
    for name in paths:
        problem = _name_problem(name)
        if problem:
            return problem
    return None


def _name_problem(name: str) -> str | None:
    """Why ``name`` (relative to the folder) cannot be a file this batch made, or None."""
    shown = repr(name[:80])
    impossible = path_problem(name)
    if impossible is not None:
        return f"names no possible file ({shown} {impossible})"
    flavours = (PurePosixPath(name), PureWindowsPath(name))
    if any(flavour.is_absolute() or ".." in flavour.parts for flavour in flavours):
        return f"names a file outside the folder ({shown})"
    if any(len(flavour.parts) == 1 and is_own_name(flavour.name) for flavour in flavours):
        return f"names the batch's own {shown}, not an image"
    return None


def is_own_name(name: str) -> bool:
    """Whether a file name in a batch folder is one of its own files (manifest, journal, lock)."""
    return name.casefold() in OWN_NAMES


# -- the remote part: what remote.py writes of each batch, and remote_lines.job_record of each job --

Check = tuple[Callable[[Any], bool], str]  # a test of a field's value, and what it must be
_KINDS = {str: "a string", bool: "true or false", dict: "an object"}


def _is(kind: type, *, empty: bool = True, none: bool = False) -> Check:
    def test(value: Any) -> bool:
        if value is None:
            return none
        if isinstance(value, bool) != (kind is bool):  # true is not a number, 1 is not true
            return False
        return isinstance(value, kind) and (empty or bool(value))

    what = _KINDS[kind] if empty else f"a non-empty {_KINDS[kind].split()[-1]}"
    return test, what + (" or null" if none else "")


def _whole(low: int, high: int | None = None, *, none: bool = False) -> Check:
    def test(value: Any) -> bool:
        if value is None:
            return none
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole and value >= low and (high is None or value <= high)

    what = f"a whole number from {low}" + (f" to {high}" if high is not None else "")
    return test, what + (" or null" if none else "")


_IMAGES = int(row("n").high or 1)  # the most images one job asks for
_JOB_FIELDS: dict[str, Check] = {
    "key": _is(str, empty=False),
    "job": _whole(1),
    "line": _whole(1),
    "out": _is(str, empty=False),
    "count": _whole(1, _IMAGES),
    "force": _is(bool),
    "source": _is(str),
    "prompt": _is(str),
    # written since a later version, for the spend ledger: absent in older manifests
    "model": _is(str, none=True),
    "operation": _is(str, none=True),
    "size": _is(str, none=True),
    "quality": _is(str, none=True),
    "n": _whole(1, _IMAGES, none=True),
}
_BATCH_FIELDS: dict[str, Check] = {
    "input_file_id": _is(str, empty=False),
    "group": _is(str, none=True),
    "status": _is(str, none=True),
    "counts": _is(dict, none=True),
}
_SOURCE_KEYS = ("config", "profile", "provider")


def remote_problem(remote: Any) -> str | None:
    """Why the ``remote`` part is not what imagegate writes (uploaded file ids, batches), or None."""
    if not isinstance(remote, dict):
        return "is not an object"
    uploads = remote.get("uploads", {})
    if not isinstance(uploads, dict) or not all(isinstance(v, str) and v for v in uploads.values()):
        return "holds 'uploads' that are not an object of file ids"
    batches = remote.get("batches", [])
    if not isinstance(batches, list):
        return "holds 'batches' that are not a list"
    for number, entry in enumerate(batches, start=1):
        problem = _batch_problem(entry)
        if problem:
            return f"holds a batch (number {number}) {problem}"
    return None


def _batch_problem(entry: Any) -> str | None:
    """What is wrong with one batch entry (``that ...`` or ``whose ...``), or None."""
    if not isinstance(entry, dict):
        return "that is not an object"
    state = entry.get("state")
    if state not in BATCH_STATES:
        return f"whose 'state' is not one of {', '.join(BATCH_STATES)}"
    batch_id = entry.get("id")
    if not (isinstance(batch_id, str) and batch_id) and not (batch_id is None and state == BATCH_STATES[0]):
        return "whose 'id' is not a non-empty string (null only while it is being created)"
    problem = _fields_problem(entry, _BATCH_FIELDS) or _source_problem(entry.get("source"))
    if problem:
        return problem
    jobs = entry.get("jobs")
    if not isinstance(jobs, dict):
        return "whose 'jobs' is not an object"
    for custom_id, record in jobs.items():
        problem = _job_problem(record)
        if problem:
            return f"holds a job {custom_id[:40]!r} {problem}"
    return None


def _source_problem(source: Any) -> str | None:
    """The config, profile and provider a batch was made with: each a string or null."""
    if not isinstance(source, dict) or sorted(source) != sorted(_SOURCE_KEYS):
        return f"whose 'source' is not an object of {', '.join(_SOURCE_KEYS)}"
    if not all(value is None or isinstance(value, str) for value in source.values()):
        return "whose 'source' holds a value that is not a string or null"
    config = source["config"]
    impossible = None if config is None else path_problem(config)
    return None if impossible is None else f"whose 'source' config {config[:80]!r} {impossible}"


def _job_problem(record: Any) -> str | None:
    """What is wrong with the record of one submitted job (``that ...`` or ``whose ...``), or None."""
    if not isinstance(record, dict):
        return "that is not an object"
    problem = _fields_problem(record, _JOB_FIELDS)
    if problem:
        return problem
    problem = _name_problem(record["out"])
    return None if problem is None else f"whose 'out' {problem}"


def _fields_problem(record: dict[str, Any], fields: dict[str, Check]) -> str | None:
    for name, (test, what) in fields.items():
        if not test(record.get(name)):
            return f"whose {name!r} is not {what}"
    return None
