"""A batch folder is one batch's at a time, and its manifest is untrusted input.

A second run on a folder while a first one is running refuses before sending anything (RED-TEAM
#5); a manifest of any shape or file type (a FIFO, a link, records naming files outside the
folder) ends with exit 2 and its message, never a hang or an internal error (RED-TEAM #19).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import imagegate
from imagegate import manifest as manifest_module
from imagegate.manifest import LOCK_NAME, MANIFEST_NAME, Manifest

from .support.faultserver import FaultServer, Seen, image_reply
from .support.helpers import png


def _wait_for(condition, seconds: float = 60.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_second_batch_on_a_busy_folder_refuses_and_pays_for_nothing(
    cli, server: FaultServer, isolated
) -> None:
    release = threading.Event()

    def slow(seen: Seen):
        release.wait(60)
        return image_reply(png(4, 4))

    server.generations(slow)
    jobs = isolated / "jobs.jsonl"
    jobs.write_text("one\ntwo\n", encoding="utf-8")
    first = subprocess.Popen(
        [sys.executable, "-m", "imagegate", "batch", str(jobs), "--out-dir", "out", "--concurrency", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(lambda: len(server.seen) == 1), "the first batch never sent its first job"
        second = cli("batch", jobs, "--out-dir", "out")
        assert second.code == 2
        assert "another imagegate batch" in second.err and "nothing was sent" in second.err
        assert len(server.seen) == 1  # the second run paid for nothing
    finally:
        release.set()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert len(server.seen) == 2
    assert json.loads(out)["counts"]["ok"] == 2
    again = cli("batch", jobs, "--out-dir", "out")  # the lock went with the first process
    assert again.code == 0 and again.json["counts"]["skipped"] == 2


def test_the_library_batch_holds_the_folder_until_its_results_are_read(server: FaultServer, isolated) -> None:
    server.generations(image_reply(png(4, 4)))
    results = imagegate.run_batch(["a red kite"], isolated / "out")
    with pytest.raises(imagegate.UsageError, match="another imagegate batch"):
        imagegate.run_batch(["a blue kite"], isolated / "out")
    assert [result.status for result in results] == ["ok"]
    assert [r.status for r in imagegate.run_batch(["a blue kite"], isolated / "out")] == ["ok"]


# -- the manifest: any shape, any file type --------------------------------------------------------


def _batch(cli, isolated: Path, manifest_text: str | None = None):
    folder = isolated / "out"
    folder.mkdir(exist_ok=True)
    if manifest_text is not None:
        (folder / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    jobs = isolated / "jobs.jsonl"
    jobs.write_text("a red kite\n", encoding="utf-8")
    return cli("batch", jobs, "--out-dir", folder)


@pytest.mark.parametrize(
    "text",
    [
        '{"done": 5}',
        '{"done": {"k": {"line": 1}}}',
        '{"done": {"k": {"paths": null}}}',
        '{"done": {"k": {"paths": [5]}}}',
        '{"done": {"k": "x"}}',
        "[1, 2]",
        "[" * 100_000,
        '{"done": {"k": {"paths": ["../private.txt"]}}}',
        '{"done": {"k": {"paths": ["/etc/passwd"]}}}',
        '{"done": {"k": {"paths": ["sub/../../x.png"]}}}',
        '{"done": {"k": {"paths": ["C:\\\\x.png"]}}}',
        "\xff not text",
    ],
)
def test_a_manifest_of_any_shape_is_refused_with_exit_2(cli, server, isolated, text: str) -> None:
    server.generations(image_reply(png(4, 4)))
    run = _batch(cli, isolated, text)
    assert run.code == 2, run.err
    assert "cannot read the batch manifest" in run.err
    assert "internal error" not in run.err
    assert server.seen == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_manifest_is_refused_without_hanging(cli, server, isolated) -> None:
    (isolated / "out").mkdir()
    os.mkfifo(isolated / "out" / MANIFEST_NAME)
    run = _batch(cli, isolated)
    assert run.code == 2
    assert "not a regular file" in run.err


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_linked_manifest_is_refused(cli, server, isolated) -> None:
    (isolated / "out").mkdir()
    elsewhere = isolated / "elsewhere.json"
    elsewhere.write_text('{"version": 1, "done": {}}', encoding="utf-8")
    (isolated / "out" / MANIFEST_NAME).symlink_to(elsewhere)
    run = _batch(cli, isolated)
    assert run.code == 2
    assert "symbolic link" in run.err


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_the_manifest_rewrite_never_follows_a_planted_link(isolated, monkeypatch) -> None:
    folder = isolated / "out"
    folder.mkdir()
    victim = isolated / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    monkeypatch.setattr(manifest_module.secrets, "token_hex", lambda n: "planted")
    (folder / f"{MANIFEST_NAME}.planted.tmp").symlink_to(victim)
    manifest = Manifest(folder / MANIFEST_NAME)
    try:
        job = type("J", (), {"line": 1, "options": type("O", (), {"prompt": "p"})()})()
        problem = manifest.record("k", job, [str(folder / "a.png")])
    finally:
        manifest.close()
    assert problem is not None  # reported as a warning by the caller; the link was not followed
    assert victim.read_text(encoding="utf-8") == "precious"


def test_the_lock_file_is_left_and_reused(isolated) -> None:
    folder = isolated / "out"
    Manifest(folder / MANIFEST_NAME).close()
    assert (folder / LOCK_NAME).exists()
    Manifest(folder / MANIFEST_NAME).close()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_recorded_file_that_links_out_of_the_folder_is_not_done(cli, server, isolated) -> None:
    server.generations(image_reply(png(4, 4)))
    jobs = isolated / "jobs.jsonl"
    jobs.write_text("a red kite\n", encoding="utf-8")
    first = cli("batch", jobs, "--out-dir", "out")
    assert first.code == 0, first.err
    made = Path(first.json["jobs"][0]["paths"][0])
    outside = isolated / "private.txt"
    outside.write_text("secret", encoding="utf-8")
    made.unlink()
    made.symlink_to(outside)
    again = cli("batch", jobs, "--out-dir", "out")
    assert again.code == 2, (
        again.out
    )  # not "skipped" with a path outside: the job is redone, and the link is refused
    assert "already exists" in again.err
    assert str(outside) not in again.out + again.err


def test_a_job_recorded_done_with_no_image_is_made_again(cli, server, isolated) -> None:
    server.generations(image_reply(png(4, 4)))
    jobs = isolated / "jobs.jsonl"
    jobs.write_text("a red kite\n", encoding="utf-8")
    first = cli("batch", jobs, "--out-dir", "out")
    manifest = isolated / "out" / MANIFEST_NAME
    document = json.loads(manifest.read_text(encoding="utf-8"))
    for record in document["done"].values():
        record["paths"] = []  # what an answer without a usable image used to leave
    manifest.write_text(json.dumps(document), encoding="utf-8")
    for path in first.json["jobs"][0]["paths"]:
        Path(path).unlink()
    again = cli("batch", jobs, "--out-dir", "out")
    assert again.code == 0, again.err
    assert again.json["counts"]["ok"] == 1 and len(server.seen) == 2
