"""Exactly what was asked is written: at most --n images and --partial-images previews, --force
replaces only the names the call declared, and every name the call may write fits its folder
before anything is paid for (RED-TEAM #4, #8, #9).

The providers are misbehaving servers on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

from imagegate.output import RESCUE_NAME_BYTES, rescue_name

from .support.faultserver import FaultServer, Reply, image_reply, stream_reply
from .support.helpers import API_KEY, png
from .support.sse import completed_event, partial_event


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_more_images_than_n_are_read_but_not_written(cli, server, isolated: Path) -> None:
    server.generations(image_reply(png(4, 4), png(5, 5), png(6, 6)))
    run = cli("--prompt", "p", "--out", "a.png", "--n", "1")
    assert run.code == 0, run.err
    assert names(isolated) == ["a.png"]
    assert run.json["output_paths"] == [str(isolated / "a.png")]
    assert "more images than the 1 asked for; 2 more were not saved" in run.err


def test_force_never_replaces_a_name_the_call_did_not_declare(cli, server, isolated: Path) -> None:
    (isolated / "a-2.png").write_bytes(b"the user's own file")
    (isolated / "a.png").write_bytes(b"old")
    server.generations(image_reply(png(4, 4), png(5, 5), png(6, 6)))
    run = cli("--prompt", "p", "--out", "a.png", "--n", "1", "--force")
    assert run.code == 0, run.err
    assert (isolated / "a-2.png").read_bytes() == b"the user's own file"
    assert (isolated / "a.png").read_bytes() == png(4, 4)
    assert names(isolated) == ["a-2.png", "a.png"]


def test_thousands_of_images_for_one_write_one_file_and_no_temp_file(cli, server, isolated: Path) -> None:
    server.generations(image_reply(*([png(2, 2)] * 3000)))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 0, run.err
    assert names(isolated) == ["a.png"]


def test_url_images_beyond_n_are_not_fetched(cli, server, isolated: Path) -> None:
    first = server.script("/img/1.png", Reply(body=png(4, 4), content_type="image/png"))
    second = server.script("/img/2.png", Reply(body=png(5, 5), content_type="image/png"))
    server.generations(Reply(body={"data": [{"url": first}, {"url": second}]}))
    run = cli("--prompt", "p", "--out", "a.png", "--n", "1")
    assert run.code == 0, run.err
    assert names(isolated) == ["a.png"]
    assert server.requests_to("/img/2.png") == []


def test_a_batch_jobs_surplus_never_touches_another_jobs_image(cli, server, isolated: Path) -> None:
    def answer(seen):
        if "first" in seen.json()["prompt"]:
            return image_reply(png(4, 4), png(9, 9))  # one image too many
        return image_reply(png(5, 5))

    server.generations(answer)
    jobs = isolated / "jobs.jsonl"
    jobs.write_text(
        '{"prompt": "first", "out": "a.png"}\n{"prompt": "second", "out": "a-2.png"}\n', encoding="utf-8"
    )
    run = cli("batch", jobs, "--out-dir", "out", "--force", "--concurrency", "1")
    assert run.code == 0, run.err
    out = isolated / "out"
    assert (out / "a-2.png").read_bytes() == png(5, 5)  # the second job's own image
    listed = [path for job in run.json["jobs"] for path in job["paths"]]
    assert sorted(listed) == sorted({str(out / "a.png"), str(out / "a-2.png")})


def _previews(server: FaultServer, count: int) -> None:
    events = b"".join(partial_event(png(3, 3), index) for index in range(count)) + completed_event(png(4, 4))
    server.generations(stream_reply([events]))


def test_at_most_the_asked_previews_are_written(cli, server, isolated: Path) -> None:
    _previews(server, 200)
    run = cli("--prompt", "p", "--out", "a.png", "--stream", "--partial-images", "1")
    assert run.code == 0, run.err
    assert names(isolated) == ["a.partial-1.png", "a.png"]
    assert "199 not saved" in run.err


def test_force_replaces_only_the_declared_previews(cli, server, isolated: Path) -> None:
    (isolated / "a.partial-7.png").write_bytes(b"the user's own file")
    _previews(server, 10)
    run = cli("--prompt", "p", "--out", "a.png", "--stream", "--partial-images", "2", "--force")
    assert run.code == 0, run.err
    assert (isolated / "a.partial-7.png").read_bytes() == b"the user's own file"
    assert names(isolated) == ["a.partial-1.png", "a.partial-2.png", "a.partial-7.png", "a.png"]


# -- names that fit (RED-TEAM #4) ----------------------------------------------------------------


def test_a_long_but_legal_out_name_is_saved(cli, server, isolated: Path) -> None:
    server.generations(image_reply(png(4, 4)))
    name = "x" * 240 + ".png"  # 244 bytes: the old temp name (259 bytes) could not be made
    run = cli("--prompt", "p", "--out", name)
    assert run.code == 0, run.err
    assert names(isolated) == [name]


def test_a_name_with_no_room_to_grow_is_refused_before_paying(cli, server, isolated: Path) -> None:
    server.generations(image_reply(png(4, 4)))
    run = cli("--prompt", "p", "--out", "x" * 248 + ".png")
    assert run.code == 2, run.err
    assert "too long" in run.err and "nothing was sent" in run.err
    assert server.seen == []


def test_a_name_too_long_for_any_folder_is_a_usage_error_not_a_crash(cli, server, isolated: Path) -> None:
    server.generations(image_reply(png(4, 4)))
    run = cli("--prompt", "p", "--out", "y" * 255)
    assert run.code == 2, run.err
    assert "internal error" not in run.err
    assert server.seen == []


def test_numbered_and_preview_names_are_checked_too(cli, server, isolated: Path) -> None:
    server.generations(image_reply(png(4, 4)))
    stem = "z" * 246  # z...z.png fits with room to grow; z...z-10.png or .partial-1.png would not
    assert cli("--prompt", "p", "--out", stem + ".png", "--n", "10").code == 2
    assert cli("--prompt", "p", "--out", stem + ".png", "--stream", "--partial-images", "1").code == 2
    assert server.seen == []


def test_a_batch_job_with_a_name_that_cannot_fit_is_refused_before_any_job_runs(
    cli, server, isolated: Path
) -> None:
    server.generations(image_reply(png(4, 4)))
    jobs = isolated / "jobs.jsonl"
    jobs.write_text('"fine"\n{"prompt": "long", "out": "' + "q" * 252 + '.png"}\n', encoding="utf-8")
    run = cli("batch", jobs, "--out-dir", "out")
    assert run.code == 2, run.err
    assert "too long" in run.err
    assert server.seen == []


def test_a_rescued_name_always_fits() -> None:
    for name in ("a.png", "x" * 250 + ".png", "\u00e9" * 120 + ".webp", "n" * 255):
        rescued = rescue_name(name)
        assert len(os.fsencode(rescued)) <= RESCUE_NAME_BYTES
        assert rescued == name or rescued.endswith(Path(name).suffix)
    assert rescue_name("x" * 250 + ".png") != rescue_name("x" * 249 + "y.png")


def test_an_unwritable_long_name_is_rescued_under_a_name_that_fits(
    cli, make_config, isolated: Path, monkeypatch
) -> None:
    from imagegate import output

    with FaultServer() as provider:
        make_config({"api_key": API_KEY, "base_url": provider.base_url})
        provider.generations(image_reply(png(4, 4)))

        def fail(*args, **kwargs):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(output, "_link_exclusive", fail)
        run = cli("--prompt", "p", "--out", "w" * 240 + ".png")
    assert run.code == 7, run.err
    assert "it is lost" not in run.err
    rescued = list((isolated.parent / "home" / ".local" / "state" / "imagegate" / "rescued").iterdir())
    assert len(rescued) == 1 and rescued[0].read_bytes() == png(4, 4)


def test_a_nul_in_an_out_name_is_refused_before_paying(cli, server, isolated: Path) -> None:
    import imagegate

    server.generations(image_reply(png(4, 4)))
    jobs = isolated / "jobs.jsonl"
    jobs.write_text('{"prompt": "p", "out": "a\\u0000b.png"}\n', encoding="utf-8")
    run = cli("batch", jobs, "--out-dir", "out")
    assert run.code == 2, run.err
    try:
        imagegate.generate("p", out="a\0b.png")
    except imagegate.UsageError as exc:
        assert "NUL" in str(exc)
    else:
        raise AssertionError("a NUL in out was accepted")
    assert server.seen == []
