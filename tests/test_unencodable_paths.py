"""A path no file can have is refused with exit 2 and one line, before anything is sent.

A NUL, or a character the file system cannot encode (a lone surrogate, which JSON allows), in any
path a batch job, a flag or the library gives used to end in "internal error: ValueError:
embedded null byte" or a UnicodeEncodeError (RED-TEAM #20). A name of undecodable bytes (read
from argv as surrogate escapes) is a real file name, and still works.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import imagegate
from imagegate.inputs import path_problem

from .support.faultserver import FaultServer, image_reply
from .support.helpers import png

BAD = {"a NUL": "a\0b", "a lone surrogate": "a\ud800b"}


def _refused(run: Any, *words: str) -> None:
    assert run.code == 2, run.err
    assert "internal error" not in run.err and "Traceback" not in run.err
    assert run.err.count("error:") == 1
    for word in words:
        assert word in run.err


@pytest.mark.parametrize("bad", list(BAD.values()), ids=list(BAD))
@pytest.mark.parametrize(
    "job",
    [
        {"out": "{}.png"},
        {"edit_images": ["{}.png"]},
        {"edit_images": "{}.png"},
        {"edit_images": ["in.png"], "mask": "{}.png"},
        {"config": "{}.json"},
    ],
    ids=["out", "edit_images", "one edit image", "mask", "config"],
)
def test_a_job_path_no_file_can_have_fails_its_line_with_exit_2(
    cli, server: FaultServer, isolated: Path, job: dict[str, Any], bad: str
) -> None:
    server.generations(image_reply(png(4, 4)))
    (isolated / "in.png").write_bytes(png(4, 4))
    fields = {
        key: json.loads(json.dumps(value).replace("{}", json.dumps(bad)[1:-1])) for key, value in job.items()
    }
    jobs = isolated / "jobs.jsonl"
    jobs.write_text('"a good job first"\n' + json.dumps({"prompt": "p", **fields}) + "\n", encoding="utf-8")
    run = cli("batch", jobs, "--out-dir", isolated / "out")
    _refused(run, "jobs.jsonl line 2", list(job)[-1], "nothing was sent")
    assert server.seen == []  # every job is checked before the first is sent


def _args(flag: str, value: str, isolated: Path) -> list[str]:
    (isolated / "in.png").write_bytes(png(4, 4))
    jobs = isolated / "jobs.jsonl"
    jobs.write_text("a red kite\n", encoding="utf-8")
    image = ["--prompt", "p", "--out", str(isolated / "x.png")]
    batch = ["batch", str(jobs), "--out-dir", str(isolated / "out")]
    return {
        "--out": ["--prompt", "p", "--out", value],
        "--edit-image": ["--prompt", "p", "--edit-image", value],
        "--mask": ["--prompt", "p", "--edit-image", str(isolated / "in.png"), "--mask", value],
        "--prompt-file": ["--prompt-file", value, "--out", str(isolated / "x.png")],
        "--config": [*image, "--config", value],
        "batch --config": [*batch, "--config", value],
        "--out-dir": ["batch", str(jobs), "--out-dir", value],
        "the jobs file": ["batch", value, "--out-dir", str(isolated / "out")],
    }[flag]


@pytest.mark.parametrize("bad", list(BAD.values()), ids=list(BAD))
@pytest.mark.parametrize(
    "flag",
    [
        "--out",
        "--edit-image",
        "--mask",
        "--prompt-file",
        "--config",
        "batch --config",
        "--out-dir",
        "the jobs file",
    ],
)
def test_a_path_flag_no_file_can_have_is_refused_with_exit_2(
    cli, server: FaultServer, isolated: Path, flag: str, bad: str
) -> None:
    server.generations(image_reply(png(4, 4)))
    run = cli(*_args(flag, bad, isolated))
    _refused(run, flag.split()[-1] if flag.startswith("batch") else flag, "nothing was sent")
    assert server.seen == []


@pytest.mark.parametrize("bad", list(BAD.values()), ids=list(BAD))
def test_the_library_batch_refuses_such_a_path_before_sending(
    server: FaultServer, isolated: Path, bad: str
) -> None:
    server.generations(image_reply(png(4, 4)))
    with pytest.raises(imagegate.UsageError, match="edit_images"):
        list(imagegate.run_batch([{"prompt": "p", "edit_images": [f"in{bad}.png"]}], isolated / "out"))
    assert server.seen == []


@pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding() != "utf-8", reason="byte file names"
)
def test_a_file_name_of_undecodable_bytes_is_still_a_file_name(
    cli, server: FaultServer, isolated: Path
) -> None:
    server.generations(image_reply(png(4, 4)))
    name = os.fsdecode(b"caf\xe9.png")  # as argv gives it: 'caf\udce9.png'
    assert path_problem(name) is None
    run = cli("--prompt", "p", "--out", str(isolated / name))
    assert run.code == 0, run.err
    assert (os.fsencode(isolated) + b"/caf\xe9.png") in [os.fsencode(p) for p in isolated.iterdir()]


@pytest.mark.parametrize(
    ("keywords", "named"),
    [
        ({"out": "a\ud800.png"}, "--out"),
        ({"out": "a\0.png"}, "--out"),
        ({"config": "c\ud800"}, "--config"),
        ({"config": "c\0"}, "--config"),
    ],
)
def test_a_single_library_call_refuses_such_a_path_before_sending(keywords, named) -> None:
    import imagegate
    from imagegate.errors import UsageError

    with pytest.raises(UsageError) as refused:
        imagegate.generate("p", provider="placeholder", **keywords)
    assert refused.value.message.startswith(named) and "nothing was sent" in refused.value.message
