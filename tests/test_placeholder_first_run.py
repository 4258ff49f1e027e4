"""The first-run path: the offline placeholder provider needs no key, no config and no network."""

from __future__ import annotations

from pathlib import Path

from imagegate.sniff import sniff_file


def test_placeholder_makes_a_real_png_without_config(cli, isolated: Path) -> None:
    run = cli("--provider", "placeholder", "--prompt", "a lighthouse at dusk", "--out", "first.png")
    assert run.code == 0, run.err
    document = run.json
    assert document["ok"] is True
    path = Path(document["output_paths"][0])
    assert path == isolated / "first.png"
    info = sniff_file(path)
    assert (info.format, info.width, info.height) == ("png", 1024, 1024)


def test_placeholder_honours_size_and_n(cli) -> None:
    run = cli("--provider", "placeholder", "--prompt", "p", "--out", "x.png", "--size", "320x200", "--n", "2")
    assert run.code == 0, run.err
    paths = [Path(p) for p in run.json["output_paths"]]
    assert [p.name for p in paths] == ["x.png", "x-2.png"]
    assert all((sniff_file(p).width, sniff_file(p).height) == (320, 200) for p in paths)
    assert paths[0].read_bytes() != paths[1].read_bytes()


def test_same_prompt_gives_same_placeholder(cli) -> None:
    first = cli("--provider", "placeholder", "--prompt", "same", "--out", "a.png", "--size", "64x64")
    second = cli("--provider", "placeholder", "--prompt", "same", "--out", "b.png", "--size", "64x64")
    assert first.code == second.code == 0
    assert Path("a.png").read_bytes() == Path("b.png").read_bytes()
