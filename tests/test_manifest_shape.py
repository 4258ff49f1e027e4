"""The batch manifest's ``remote`` part, and the files its records may name, are untrusted input.

A manifest whose remote batches are not of the shape imagegate writes (any field of any batch or
job of the wrong type, missing, or naming a file outside the folder) is refused with exit 2 naming
the file, before anything is sent: never "internal error" (RED-TEAM #19b). A ``done`` record
naming the folder's own files (the manifest, its journal, its lock) is refused the same way; one
naming what is now a folder is taken as not done, so the job is made again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegate import remote
from imagegate.manifest import JOURNAL_NAME, LOCK_NAME, MANIFEST_NAME

from .support.batchserver import BatchServer
from .support.faultserver import FaultServer, image_reply
from .support.helpers import png

Change = Callable[[dict[str, Any]], None]


@pytest.fixture
def fake(make_config, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchServer]:
    """The fake batch engine, the default config's openai profile pointing at it; polls don't wait."""
    monkeypatch.setattr(remote, "POLL_FIRST", 0.0)
    with BatchServer() as server:
        make_config(base_url=server.url)
        yield server


@pytest.fixture
def submitted(cli, fake: BatchServer, isolated: Path) -> dict[str, Any]:
    """The manifest imagegate wrote after submitting one job and not waiting (one running batch)."""
    (isolated / "jobs.jsonl").write_text("a red kite\n", encoding="utf-8")
    run = cli("batch", isolated / "jobs.jsonl", "--out-dir", isolated / "out", "--remote", "--no-wait")
    assert run.code == 0, run.err
    return json.loads((isolated / "out" / MANIFEST_NAME).read_text(encoding="utf-8"))


def _batch(document: dict[str, Any]) -> dict[str, Any]:
    return document["remote"]["batches"][0]


def _job(document: dict[str, Any]) -> dict[str, Any]:
    return next(iter(_batch(document)["jobs"].values()))


def _set(where: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Change:
    return lambda document: where(document).__setitem__(key, value)


def _drop(where: Callable[[dict[str, Any]], dict[str, Any]], key: str) -> Change:
    return lambda document: where(document).pop(key)


def _remote(document: dict[str, Any]) -> dict[str, Any]:
    return document["remote"]


def _source(document: dict[str, Any]) -> dict[str, Any]:
    return _batch(document)["source"]


CHANGES: dict[str, Change] = {
    "remote is a number": _set(lambda d: d, "remote", 5),
    "batches is a number": _set(_remote, "batches", 5),
    "batches is a string": _set(_remote, "batches", "["),
    "batches is an object": _set(_remote, "batches", {}),
    "a batch is a number": _set(_remote, "batches", [5]),
    "a batch is empty": _set(_remote, "batches", [{}]),
    "a batch is null": _set(_remote, "batches", [None]),
    "uploads is a number": _set(_remote, "uploads", 5),
    "an upload id is a number": _set(_remote, "uploads", {"x": 5}),
    "no state": _drop(_batch, "state"),
    "an unknown state": _set(_batch, "state", "paused"),
    "no id while running": _set(_batch, "id", None),
    "a numeric id": _set(_batch, "id", 5),
    "no input file id": _drop(_batch, "input_file_id"),
    "a numeric group": _set(_batch, "group", 5),
    "counts is a list": _set(_batch, "counts", [1]),
    "status is an object": _set(_batch, "status", {}),
    "no jobs": _drop(_batch, "jobs"),
    "jobs is a number": _set(_batch, "jobs", 5),
    "jobs is a list": _set(_batch, "jobs", ["x"]),
    "a job is a number": _set(_batch, "jobs", {"x": 5}),
    "a job is empty": _set(_batch, "jobs", {"x": {}}),
    "source is a number": _set(_batch, "source", 5),
    "source is empty": _set(_batch, "source", {}),
    "source has another key": _set(_source, "extra", None),
    "a numeric provider": _set(_source, "provider", 5),
    "a config with a NUL": _set(_source, "config", "a\0b.json"),
    "a config no file system takes": _set(_source, "config", "a\ud800.json"),
    "no key": _drop(_job, "key"),
    "a key that is a list": _set(_job, "key", ["k"]),
    "a job number that is text": _set(_job, "job", "1"),
    "a job number that is true": _set(_job, "job", True),
    "a line of 0": _set(_job, "line", 0),
    "no out": _drop(_job, "out"),
    "a numeric out": _set(_job, "out", 5),
    "an out outside the folder": _set(_job, "out", "../x.png"),
    "an absolute out": _set(_job, "out", "/tmp/x.png"),
    "an out naming the manifest": _set(_job, "out", MANIFEST_NAME),
    "an out with a NUL": _set(_job, "out", "a\0.png"),
    "an out no file system takes": _set(_job, "out", "a\ud800.png"),
    "a count of 0": _set(_job, "count", 0),
    "a huge count": _set(_job, "count", 10**400),
    "force is text": _set(_job, "force", "yes"),
    "a null prompt": _set(_job, "prompt", None),
    "a numeric source": _set(_job, "source", 5),
    "a numeric model": _set(_job, "model", 5),
    "n of 11": _set(_job, "n", 11),
    "n that is a float": _set(_job, "n", 2.0),
}


def _rerun(cli, fake: BatchServer, isolated: Path, document: dict[str, Any], change: str, *flags: str):
    """Write the manifest with one change, run the batch again; nothing may have been asked of the fake."""
    document = copy.deepcopy(document)
    CHANGES[change](document)
    (isolated / "out" / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")
    asked = len(fake.requests)
    run = cli("batch", isolated / "jobs.jsonl", "--out-dir", isolated / "out", *flags)
    assert len(fake.requests) == asked  # nothing polled, cancelled or submitted
    return run


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_remote_part_not_of_the_written_shape_is_refused_with_exit_2_before_anything_is_sent(
    cli, fake: BatchServer, isolated: Path, submitted: dict[str, Any], change: str
) -> None:
    run = _rerun(cli, fake, isolated, submitted, change, "--cancel")
    manifest = isolated / "out" / MANIFEST_NAME
    assert run.code == 2, run.err
    assert f"cannot read the batch manifest {manifest}" in run.err
    assert "internal error" not in run.err and "Traceback" not in run.err
    assert run.err.count("error:") == 1
    assert "pay for" in run.err  # the hint: moving it aside would submit the jobs again


@pytest.mark.parametrize("flags", [("--remote",), ("--remote", "--no-wait"), ()])
@pytest.mark.parametrize("change", ["a batch is a number", "a job is empty", "an out outside the folder"])
def test_every_kind_of_batch_refuses_such_a_manifest(
    cli, fake: BatchServer, isolated: Path, submitted: dict[str, Any], change: str, flags: tuple[str, ...]
) -> None:
    run = _rerun(cli, fake, isolated, submitted, change, *flags)
    assert run.code == 2, run.err
    assert "cannot read the batch manifest" in run.err and "internal error" not in run.err


def test_the_manifest_imagegate_writes_is_read_back_and_collected(
    cli, fake: BatchServer, isolated: Path, submitted: dict[str, Any]
) -> None:
    run = cli("batch", isolated / "jobs.jsonl", "--out-dir", isolated / "out", "--remote")
    assert run.code == 0, run.err
    assert json.loads(run.out)["counts"]["ok"] == 1


# -- the files a done record may name ------------------------------------------------------------


def _local(
    cli, isolated: Path, paths: list[str] | None = None, prepare: Callable[[Path], None] | None = None
):
    """Run one job once, point its done record at ``paths``, run it again; returns the second run."""
    folder = isolated / "out"
    (isolated / "jobs.jsonl").write_text("a red kite\n", encoding="utf-8")
    first = cli("batch", isolated / "jobs.jsonl", "--out-dir", folder)
    assert first.code == 0, first.err
    document = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    (image,) = (folder / name for record in document["done"].values() for name in record["paths"])
    image.unlink()
    if paths is not None:
        for record in document["done"].values():
            record["paths"] = paths
    (folder / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")
    if prepare is not None:
        prepare(folder)
    return cli("batch", isolated / "jobs.jsonl", "--out-dir", folder)


@pytest.mark.parametrize(
    "name", [MANIFEST_NAME, JOURNAL_NAME, LOCK_NAME, "./" + MANIFEST_NAME, MANIFEST_NAME.upper()]
)
def test_a_done_record_naming_the_folders_own_files_is_refused(
    cli, server: FaultServer, isolated: Path, name: str
) -> None:
    server.generations(image_reply(png(4, 4)))
    run = _local(cli, isolated, [name])
    assert run.code == 2, run.err
    assert "cannot read the batch manifest" in run.err and "not an image" in run.err
    assert len(server.seen) == 1  # only the first run's job


def test_a_done_record_naming_what_is_now_a_folder_is_not_done_so_the_job_is_made_again(
    cli, server: FaultServer, isolated: Path
) -> None:
    server.generations(image_reply(png(4, 4)))
    run = _local(cli, isolated, ["sub"], prepare=lambda folder: (folder / "sub").mkdir())
    assert run.code == 0, run.err
    (job,) = json.loads(run.out)["jobs"]
    assert job["status"] == "ok"
    assert [Path(p).name for p in job["paths"]] == ["001-a-red-kite.png"]
    assert len(server.seen) == 2


def test_a_done_image_replaced_by_a_link_to_the_manifest_is_not_taken_for_the_image(
    cli, server: FaultServer, isolated: Path
) -> None:
    server.generations(image_reply(png(4, 4)))

    def link(folder: Path) -> None:
        (folder / "001-a-red-kite.png").symlink_to(folder / MANIFEST_NAME)

    run = _local(cli, isolated, prepare=link)
    # not skipped with the manifest as its image: the job is redone, and its name is taken
    assert run.code == 2, run.err
    assert "already exists" in run.err
    assert len(server.seen) == 1


@pytest.mark.parametrize("name", [MANIFEST_NAME, LOCK_NAME, JOURNAL_NAME, MANIFEST_NAME.upper()])
def test_a_job_may_not_write_over_the_folders_own_files(
    cli, server: FaultServer, isolated: Path, name: str
) -> None:
    server.generations(image_reply(png(4, 4)))
    (isolated / "jobs.jsonl").write_text(json.dumps({"prompt": "p", "out": name}) + "\n", encoding="utf-8")
    run = cli("batch", isolated / "jobs.jsonl", "--out-dir", isolated / "out", "--force")
    assert run.code == 2, run.err
    assert "jobs.jsonl line 1" in run.err and "the batch's own" in run.err
    assert server.seen == []


def test_a_batch_id_from_the_manifest_is_shown_inert(
    cli, fake: BatchServer, isolated: Path, submitted: dict[str, Any]
) -> None:
    document = copy.deepcopy(submitted)
    _batch(document)["id"] = "batch-0002\x1b]52;c;aGk=\x07\x1b[2J"
    (isolated / "out" / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")
    run = cli("batch", isolated / "jobs.jsonl", "--out-dir", isolated / "out", "--cancel")
    assert "cancelling batch batch-0002\\x1b]52" in run.err  # the fake knows no such batch: said, escaped
    assert "\x1b" not in run.err and "\x07" not in run.err
