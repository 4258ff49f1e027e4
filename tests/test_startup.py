"""Start-up stays fast: --help and --version import no heavy dependency, and the command runs as a module."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["batch", "--help"]])
def test_help_and_version_import_neither_requests_nor_jsonschema(argv: list[str]) -> None:
    script = (
        "import sys\n"
        "from imagegate.cli import main\n"
        f"code = main({argv!r})\n"
        "heavy = sorted(m for m in ('requests', 'jsonschema', 'urllib3') if m in sys.modules)\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "0 []"


def test_python_dash_m_imagegate_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "imagegate", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith("imagegate ")


@pytest.mark.parametrize("word", ["batch", "config", "providers"])
def test_each_command_word_has_its_own_help(word: str, capsys: pytest.CaptureFixture[str]) -> None:
    from imagegate.cli import COMMANDS, main

    assert word in COMMANDS
    assert main([word, "--help"]) == 0
    assert f"imagegate {word}" in capsys.readouterr().out
