"""The README's examples run as written, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_the_library_example_runs(isolated: Path) -> None:
    (example,) = code_blocks(section("Library"), "python")
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md#library", "exec"), namespace)
    assert (isolated / "lighthouse.png").exists()
    assert namespace["png_bytes"][:8] == b"\x89PNG\r\n\x1a\n"


def test_ci_runs_the_readme_test_command() -> None:
    two_commands = code_blocks(section("Two commands"), "sh")
    test_command = two_commands[1].strip().split("&&")[-1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command == "python -m pytest -n 2 -q"
    assert ci_lines[-1] == test_command
