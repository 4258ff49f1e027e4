"""A paid image is never lost, never overwrites another, and never leaves a partial file behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import imagegate
from imagegate import exchange, output, spool
from imagegate.spool import rescue_dir

from .support.faultserver import Reply, image_reply
from .support.helpers import FullDisk, png


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


# -- concurrent writers ------------------------------------------------------------------------


def test_concurrent_calls_to_one_out_never_clobber_each_other(isolated, monkeypatch) -> None:
    """Every call passes the preflight, then all commit at once: each gets its own file."""
    callers = 4
    barrier = threading.Barrier(callers, timeout=10)
    commit = output.OutputPlan.commit

    def commit_together(self, spool, index, info=None):
        barrier.wait()
        return commit(self, spool, index, info)

    monkeypatch.setattr(output.OutputPlan, "commit", commit_together)
    results: dict[int, object] = {}

    def call(number: int) -> None:
        results[number] = imagegate.generate(
            f"picture {number}", provider="placeholder", size="32x32", out="same.png"
        )

    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paths = [results[n].output_paths[0] for n in range(callers)]
    assert len(set(paths)) == callers
    assert sorted(p.name for p in isolated.iterdir()) == sorted(p.name for p in paths)
    for number, path in enumerate(paths):
        expected = imagegate.generate(f"picture {number}", provider="placeholder", size="32x32")
        assert path.read_bytes() == expected.images[0].data  # each file holds its own caller's image
    warned = [w for n in range(callers) for w in results[n].warnings if "appeared meanwhile" in w]
    assert len(warned) == callers - 1


@pytest.mark.slow
def test_concurrent_processes_each_report_the_file_they_wrote(isolated) -> None:
    command = [sys.executable, "-m", "imagegate", "--provider", "placeholder", "--size", "48x48"]
    processes = [
        subprocess.Popen(
            [*command, "--prompt", f"process {n}", "--out", "shared.png"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    written = []
    for number, process in enumerate(processes):
        out, err = process.communicate(timeout=60)
        if process.returncode == 0:
            path = Path(json.loads(out)["output_paths"][0])
            expected = imagegate.generate(f"process {number}", provider="placeholder", size="48x48")
            assert path.read_bytes() == expected.images[0].data
            written.append(path)
        else:  # it started after another had finished: refused before sending, nothing written
            assert process.returncode == 2 and "already exists" in err
    assert written and len(set(written)) == len(written)
    assert sorted(p.name for p in isolated.iterdir()) == sorted(p.name for p in written)


# -- rescue ------------------------------------------------------------------------------------


def remove_folder_once_answered(monkeypatch, folder: Path) -> None:
    send = exchange.send

    def send_then_remove(*args, **kwargs):
        response = send(*args, **kwargs)
        shutil.rmtree(folder)
        return response

    monkeypatch.setattr(exchange, "send", send_then_remove)


def assert_rescued(run, image: bytes) -> Path:
    assert run.code == 7, run.err
    assert run.out == ""
    rescued = [p for p in rescue_dir().iterdir() if not p.name.endswith(".part")]
    assert len(rescued) == 1
    assert str(rescued[0]) in run.err
    assert rescued[0].read_bytes() == image
    assert leftovers(rescue_dir()) == []
    return rescued[0]


def test_an_image_whose_folder_vanished_is_rescued_and_named(cli, server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(7, 7)))
    remove_folder_once_answered(monkeypatch, isolated / "out")
    run = cli("--prompt", "p", "--out", "out/kite.png")
    assert_rescued(run, png(7, 7))


def test_an_image_whose_folder_vanished_while_writing_is_rescued(cli, server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(7, 7)))
    opened = spool.FileSpool._open

    def open_then_remove(directory, stem):
        result = opened(directory, stem)
        if directory == isolated / "out":
            shutil.rmtree(directory)  # the spool's handle stays open; its name is gone
        return result

    monkeypatch.setattr(spool.FileSpool, "_open", staticmethod(open_then_remove))
    run = cli("--prompt", "p", "--out", "out/kite.png")
    assert_rescued(run, png(7, 7))


def test_an_image_on_a_full_disk_is_rescued(cli, server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(9, 9)))
    opened = spool.FileSpool._open

    def open_full(directory, stem):
        path, handle = opened(directory, stem)
        return (path, FullDisk(handle)) if directory == isolated else (path, handle)

    monkeypatch.setattr(spool.FileSpool, "_open", staticmethod(open_full))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert_rescued(run, png(9, 9))
    assert list(isolated.iterdir()) == []


def test_an_image_that_cannot_be_linked_into_place_is_rescued(cli, server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(5, 5)))

    def refuse(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(output, "_link_exclusive", refuse)
    run = cli("--prompt", "p", "--out", "kite.png")
    assert "could not write" in run.err
    assert_rescued(run, png(5, 5))
    assert list(isolated.iterdir()) == []


def test_a_failed_rescue_is_still_one_clear_message(cli, server, isolated, monkeypatch, tmp_path) -> None:
    server.generations(image_reply(png(5, 5)))
    (tmp_path / "not-a-folder").write_text("x")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "not-a-folder"))

    def refuse(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(output, "_link_exclusive", refuse)
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 7
    assert "it is lost" in run.err and "Traceback" not in run.err
    assert list(isolated.iterdir()) == []


def test_the_library_raises_image_not_saved_with_the_rescue_path(server, isolated, monkeypatch) -> None:
    server.generations(image_reply(png(4, 4)))
    remove_folder_once_answered(monkeypatch, isolated / "gone")
    with pytest.raises(imagegate.ImageNotSaved) as caught:
        imagegate.generate("p", out="gone/x.png")
    assert caught.value.exit_code == 7
    assert str(rescue_dir()) in caught.value.message


# -- no partial files --------------------------------------------------------------------------


def test_an_interrupted_call_leaves_no_partial_file(cli, server, isolated, monkeypatch) -> None:
    body = json.dumps({"data": [{"b64_json": "A" * 4000}]})
    server.generations(Reply(body=body, content_type="application/json", drip=0.001))
    iter_body = exchange.iter_body

    def interrupted(*args, **kwargs):
        for number, chunk in enumerate(iter_body(*args, **kwargs)):
            if number == 3:
                raise KeyboardInterrupt
            yield chunk

    monkeypatch.setattr(exchange, "iter_body", interrupted)
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 130
    assert list(isolated.iterdir()) == []


def test_a_failed_call_with_several_images_leaves_none(cli, server, isolated) -> None:
    server.generations(Reply(body={"data": [{"b64_json": "iVBORw0KGgo="}, {"b64_json": "not base64"}]}))
    run = cli("--prompt", "p", "--out", "kite.png", "--n", "2")
    assert run.code == 6
    assert list(isolated.iterdir()) == []
    assert not rescue_dir().exists() or list(rescue_dir().iterdir()) == []


def test_rescue_folder_follows_xdg_state_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert rescue_dir() == tmp_path / "state" / "imagegate" / "rescued"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert rescue_dir() == Path.home() / ".local" / "state" / "imagegate" / "rescued"
    assert os.fspath(rescue_dir()).startswith(os.fspath(Path.home()))
