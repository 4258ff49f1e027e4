"""The skill's scripts find their own folder: install builds .venv beside SKILL.md, imagegate runs it.

Run as real POSIX shell scripts in a copy of the skill folder; a stub Python stands in for the
real one so that no test installs anything from the network.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("install", "imagegate")

#: A stand-in for python3: the version check, `-m venv DIR` and, as DIR/bin/python, `-m pip install`.
FAKE_PYTHON = r"""#!/bin/sh
log=${FAKE_LOG:?}
case "$1" in
    -c) [ -z "${FAKE_OLD:-}" ]; exit $? ;;
    --version) echo "Python 3.9.1"; exit 0 ;;
esac
echo "$0 $*" >>"$log"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0
fi
if [ "$1 $2 $3" = "-m pip install" ]; then
    [ -n "${FAKE_PIP_FAIL:-}" ] && { echo "ERROR: No matching distribution found for requests" >&2; exit 1; }
    bin=$(dirname "$0")
    printf '#!/bin/sh\necho "imagegate 0.0.test"\n' >"$bin/imagegate" && chmod +x "$bin/imagegate"
    exit 0
fi
exit 3
"""

STUB_IMAGEGATE = '#!/bin/sh\necho "{label} $*"\nexit {code}\n'


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    """A skill folder as installed for Codex: the scripts and the sources the install copies."""
    folder = tmp_path / "skills" / "gpt-image-2-apikey"
    (folder / "scripts").mkdir(parents=True)
    for name in SCRIPTS:
        shutil.copy2(ROOT / "scripts" / name, folder / "scripts" / name)
    for name in ("pyproject.toml", "README.md", "LICENSE", "SKILL.md"):
        (folder / name).write_text(name, encoding="utf-8")
    for name in ("core", "providers", "schemas"):
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text("", encoding="utf-8")
    return folder


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A PATH with only the basic tools (no imagegate), and the stub Python with its call log."""
    bin_dir = tmp_path / "bin"
    python = executable(bin_dir / "python3", FAKE_PYTHON)
    system = os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir())
    return {
        "PATH": f"{bin_dir}{os.pathsep}{system}",
        "HOME": str(tmp_path / "home"),
        "IMAGEGATE_PYTHON": str(python),
        "FAKE_LOG": str(tmp_path / "python-calls.log"),
    }


def run(script: Path, *args: str, env: dict[str, str], prefix: tuple[str, ...] = ()):
    return subprocess.run(
        [*prefix, str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def calls(env: dict[str, str]) -> str:
    log = Path(env["FAKE_LOG"])
    return log.read_text(encoding="utf-8") if log.exists() else ""


def test_install_makes_the_venv_beside_skill_md_without_pip_cache(skill: Path, env) -> None:
    done = run(skill / "scripts" / "install", env=env)
    assert done.returncode == 0, done.stderr
    assert f"installed imagegate 0.0.test in {skill}/.venv" in done.stdout
    assert f"{skill}/scripts/imagegate" in done.stdout
    pip = next(line for line in calls(env).splitlines() if "-m pip install" in line)
    assert "--no-cache-dir" in pip.split()
    assert pip.split()[-1] == f"{skill}/.venv/.source"
    assert sorted(p.name for p in skill.iterdir()) == sorted(
        [
            ".venv",
            "LICENSE",
            "README.md",
            "SKILL.md",
            "core",
            "providers",
            "pyproject.toml",
            "schemas",
            "scripts",
        ]
    )
    assert not (skill / ".venv" / ".source").exists()


def test_install_that_pip_cannot_finish_fails_and_leaves_no_half_made_venv(skill: Path, env) -> None:
    failed = run(skill / "scripts" / "install", env={**env, "FAKE_PIP_FAIL": "1"})
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"install failed: pip could not install imagegate into {skill}/.venv")
    assert "network access to the Python package index" in last
    assert "No matching distribution" in failed.stderr
    assert not (skill / ".venv").exists()


def test_install_refuses_a_python_older_than_3_10_before_touching_anything(skill: Path, env) -> None:
    failed = run(skill / "scripts" / "install", env={**env, "FAKE_OLD": "1"})
    assert failed.returncode == 1
    assert "install failed: Python 3.9.1 is too old; imagegate needs Python 3.10 or newer" in failed.stderr
    assert not (skill / ".venv").exists()


def test_install_without_python_names_the_missing_interpreter(skill: Path, env) -> None:
    failed = run(skill / "scripts" / "install", env={**env, "IMAGEGATE_PYTHON": "python-missing"})
    assert failed.returncode == 1
    assert "install failed: no Python: 'python-missing' is not on PATH" in failed.stderr


def test_a_second_install_finds_the_first_and_installs_nothing(skill: Path, env) -> None:
    assert run(skill / "scripts" / "install", env=env).returncode == 0
    Path(env["FAKE_LOG"]).unlink()
    again = run(skill / "scripts" / "install", env=env)
    assert again.returncode == 0, again.stderr
    assert "already installed" in again.stdout
    assert calls(env) == ""


def test_install_force_replaces_a_working_install(skill: Path, env) -> None:
    assert run(skill / "scripts" / "install", env=env).returncode == 0
    Path(env["FAKE_LOG"]).unlink()
    again = run(skill / "scripts" / "install", "--force", env=env)
    assert again.returncode == 0, again.stderr
    assert "-m pip install" in calls(env)


def test_install_rejects_an_unknown_argument(skill: Path, env) -> None:
    wrong = run(skill / "scripts" / "install", "--upgrade", env=env)
    assert wrong.returncode == 2
    assert f"usage: sh '{skill}/scripts/install' [--force]" in wrong.stderr


def read_only(folder: Path) -> tuple[str, ...]:
    """A command prefix that runs the rest with ``folder`` mounted read-only, as a sandbox does."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available to make a read-only mount")
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount --bind -o ro '{folder}' '{folder}'"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("this machine does not allow a private read-only mount")
    return ("unshare", "-rm", "sh", "-c", f"mount --bind -o ro '{folder}' '{folder}' && exec \"$0\" \"$@\"")


def test_install_into_a_read_only_skill_folder_says_where_to_run_it(skill: Path, env) -> None:
    failed = run(skill / "scripts" / "install", env=env, prefix=read_only(skill))
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        f"install failed: cannot write into {skill} (a read-only file system or no permission, as inside "
        f"a sandbox); run sh '{skill}/scripts/install' outside the sandbox: with approval, or in your "
        "own terminal"
    )
    assert calls(env) == ""


def test_wrapper_runs_the_skills_own_install_with_every_argument(skill: Path, env) -> None:
    executable(skill / ".venv" / "bin" / "python", "#!/bin/sh\n")
    executable(skill / ".venv" / "bin" / "imagegate", STUB_IMAGEGATE.format(label="venv", code=7))
    executable(
        Path(env["PATH"].split(os.pathsep)[0]) / "imagegate", STUB_IMAGEGATE.format(label="path", code=0)
    )
    ran = run(skill / "scripts" / "imagegate", "--prompt", "a red kite", "--out", "k.png", env=env)
    assert (ran.returncode, ran.stdout) == (7, "venv --prompt a red kite --out k.png\n")


def test_wrapper_falls_back_to_imagegate_on_path(skill: Path, env) -> None:
    executable(
        Path(env["PATH"].split(os.pathsep)[0]) / "imagegate", STUB_IMAGEGATE.format(label="path", code=3)
    )
    ran = run(skill / "scripts" / "imagegate", "--version", env=env)
    assert (ran.returncode, ran.stdout) == (3, "path --version\n")


def test_wrapper_without_any_install_says_exactly_how_to_install(skill: Path, env) -> None:
    ran = run(skill / "scripts" / "imagegate", "--version", env=env)
    assert ran.returncode == 2
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert lines[0].startswith("error: imagegate is not installed") and lines[0].endswith("nothing was sent")
    assert lines[1] == f"hint: install it once: sh '{skill}/scripts/install'"


def test_wrapper_with_a_half_made_venv_asks_for_a_forced_reinstall(skill: Path, env) -> None:
    (skill / ".venv").mkdir()
    ran = run(skill / "scripts" / "imagegate", "--version", env=env)
    assert ran.returncode == 2
    assert f"hint: reinstall it: sh '{skill}/scripts/install' --force" in ran.stderr


def test_wrapper_linked_onto_path_finds_its_skill_and_never_calls_itself(skill: Path, env) -> None:
    link = Path(env["PATH"].split(os.pathsep)[0]) / "imagegate"
    link.symlink_to(skill / "scripts" / "imagegate")
    ran = run(link, "--version", env=env)
    assert ran.returncode == 2
    assert f"sh '{skill}/scripts/install'" in ran.stderr
    executable(skill / ".venv" / "bin" / "python", "#!/bin/sh\n")
    executable(skill / ".venv" / "bin" / "imagegate", STUB_IMAGEGATE.format(label="venv", code=0))
    assert run(link, "--version", env=env).stdout == "venv --version\n"


def test_the_install_and_the_wrapper_work_through_sh_without_the_executable_bit(skill: Path, env) -> None:
    for name in SCRIPTS:
        (skill / "scripts" / name).chmod(0o644)
    assert run(skill / "scripts" / "install", env=env, prefix=("sh",)).returncode == 0
    assert run(skill / "scripts" / "imagegate", env=env, prefix=("sh",)).stdout == "imagegate 0.0.test\n"


def test_scripts_are_executable_posix_sh() -> None:
    for name in SCRIPTS:
        script = ROOT / "scripts" / name
        assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
        assert script.stat().st_mode & stat.S_IXUSR, name


def test_scripts_are_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    checked = subprocess.run(
        ["shellcheck", "--shell=sh", *(str(ROOT / "scripts" / name) for name in SCRIPTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
