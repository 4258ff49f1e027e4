"""SKILL.md and agents/openai.yaml load cleanly in Codex and Claude Code; each command SKILL.md shows runs.

The rules are those of Codex's loader and OpenAI's skill-creator validator, the Agent Skills
reference validator (agentskills/agentskills, skills-ref/src/skills_ref/validator.py and
parser.py) and Anthropic's (anthropics/skills, skills/skill-creator/scripts/quick_validate.py),
as tests/support/skill.py restates them with their sources.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from .support.helpers import API_KEY, png
from .support.skill import (
    WRAPPER,
    agent_skills_violations,
    anthropic_violations,
    code_blocks,
    imagegate_commands,
    openai_yaml_violations,
    shell_lines,
    skill_files_codex_would_load,
    skill_violations,
    split_front_matter,
)

ROOT = Path(__file__).resolve().parents[1]
SKILL_NAME = "gpt-image-2-apikey"
SKILL_TEXT = (ROOT / "SKILL.md").read_text(encoding="utf-8")
OPENAI_YAML = (ROOT / "agents" / "openai.yaml").read_text(encoding="utf-8")
COMMANDS = imagegate_commands(SKILL_TEXT)

GOOD_FRONT = "---\nname: demo-skill\ndescription: Makes demos. Use when a demo is needed.\n---\n# Body\n"
GOOD_YAML = (
    'interface:\n  display_name: "Demo"\n  short_description: "A demo skill that makes demos"\n'
    '  default_prompt: "Use $demo-skill now."\n'
)


def test_skill_md_follows_codex_rules() -> None:
    assert skill_violations(SKILL_TEXT) == []


def test_skill_md_passes_the_agent_skills_reference_rules_in_its_documented_folder() -> None:
    assert agent_skills_violations(SKILL_TEXT, SKILL_NAME) == []


def test_skill_md_passes_anthropics_validator() -> None:
    assert anthropic_violations(SKILL_TEXT) == []


def test_a_folder_not_named_after_the_skill_fails_the_reference_rules() -> None:
    assert agent_skills_violations(SKILL_TEXT, "imagegate") == [
        f"folder name 'imagegate' must match skill name '{SKILL_NAME}'"
    ]


def test_readme_installs_the_skill_only_into_folders_named_after_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    folders = set(re.findall(r"~/\.(?:agents|claude|codex)/skills/([A-Za-z0-9_.-]+)", readme))
    assert folders == {SKILL_NAME}
    for root in ("~/.agents/skills/", "~/.claude/skills/"):
        assert root + SKILL_NAME in readme


def test_description_says_when_to_choose_this_skill_over_built_in_image_generation() -> None:
    import yaml

    front, _body = split_front_matter(SKILL_TEXT)
    description = yaml.safe_load(front or "")["description"]
    assert "over built-in image generation" in description
    for reason in (f"${SKILL_NAME}", "separate key", "another account", "gateway"):
        assert reason in description, reason


def test_skill_md_says_how_to_find_its_folder_from_each_install_location() -> None:
    for location in ("~/.agents/skills", "~/.codex/skills", "~/.claude/skills/gpt-image-2-apikey"):
        assert f"`{location}" in SKILL_TEXT, location
    assert "Skill roots" in SKILL_TEXT


def test_skill_md_has_a_section_for_each_sandbox_situation() -> None:
    headings = re.findall(r"^### (.+)$", SKILL_TEXT, re.MULTILINE)
    for situation in (
        "No sandbox",
        "Approvals available",
        "Workspace-write, no approvals",
        "Read-only, no approvals",
    ):
        assert any(heading.startswith(situation) for heading in headings), situation
    assert 'sandbox_permissions: "require_escalated"' in SKILL_TEXT
    assert "-c sandbox_workspace_write.network_access=true" in SKILL_TEXT


def test_every_skill_command_runs_a_script_of_the_skill_folder() -> None:
    for words in shell_lines(SKILL_TEXT):
        script = words[1] if words[0] == "sh" else words[0]
        assert script.startswith("SKILL_DIR/scripts/"), words
        assert (ROOT / script.removeprefix("SKILL_DIR/")).is_file(), script
    assert sum(1 for words in shell_lines(SKILL_TEXT) if words[0] == WRAPPER) == len(COMMANDS)


def test_skill_keeps_the_seed_name() -> None:
    import yaml

    front, _body = split_front_matter(SKILL_TEXT)
    assert yaml.safe_load(front or "")["name"] == SKILL_NAME


def test_openai_yaml_follows_codex_rules() -> None:
    assert openai_yaml_violations(OPENAI_YAML, ROOT, SKILL_NAME) == []


def test_openai_yaml_names_the_skill_for_people() -> None:
    import yaml

    interface = yaml.safe_load(OPENAI_YAML)["interface"]
    assert interface["display_name"] == "GPT Image 2 API Key"
    assert f"${SKILL_NAME}" in interface["default_prompt"]


def test_a_skills_folder_holding_this_repository_finds_exactly_one_skill() -> None:
    assert skill_files_codex_would_load(ROOT) == [ROOT / "SKILL.md"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_FRONT.replace("name: demo", "title: x\nname: demo"), "'title' is not allowed"),
        (GOOD_FRONT.replace("demo-skill", "Demo_Skill"), "lowercase letters"),
        (GOOD_FRONT.replace("demo-skill", "demo--skill"), "single hyphens"),
        (GOOD_FRONT.replace("demo-skill", "d" * 65), "at most 64"),
        (GOOD_FRONT.replace("Makes demos.", "Makes <b>demos</b>."), "< or >"),
        (GOOD_FRONT.replace("Makes demos.", "x" * 1020 + "."), "over 1024"),
        (GOOD_FRONT.replace(" Use when a demo is needed.", ""), "when to use"),
        (GOOD_FRONT + "line\n" * 500, "under 500"),
        ("# no front matter\n", "no YAML front matter"),
        (GOOD_FRONT.replace("description: ", "description: [unclosed "), "not valid YAML"),
    ],
)
def test_skill_checker_catches_each_broken_rule(text: str, expected: str) -> None:
    assert skill_violations(GOOD_FRONT) == []
    assert any(expected in problem for problem in skill_violations(text)), skill_violations(text)


@pytest.mark.parametrize(
    ("text", "folder", "expected"),
    [
        (GOOD_FRONT, "demo", "must match skill name"),
        (GOOD_FRONT.replace("name: demo", "when_to_use: x\nname: demo"), "demo-skill", "'when_to_use'"),
        (GOOD_FRONT.replace("demo-skill", "Demo-Skill"), "Demo-Skill", "lowercase"),
        (GOOD_FRONT.replace("demo-skill", "-demo"), "-demo", "start or end with a hyphen"),
        (GOOD_FRONT.replace("demo-skill", "demo_skill"), "demo_skill", "letters, digits and hyphens"),
        (GOOD_FRONT.replace("demo-skill", "d" * 65), "d" * 65, "exceeds 64"),
        (GOOD_FRONT.replace("Makes demos.", "x" * 1025), "demo-skill", "exceeds 1024"),
        (GOOD_FRONT.replace("---\n#", "compatibility: " + "c" * 501 + "\n---\n#"), "demo-skill", "500"),
        (GOOD_FRONT.replace("---\n#", "allowed-tools: [Read, Grep]\n---\n#"), "demo-skill", "flow style"),
        (GOOD_FRONT.replace("---\n#", "metadata: &m {a: b}\n---\n#"), "demo-skill", "anchors"),
        (GOOD_FRONT.replace("---\n#", "allowed-tools: 3\n---\n#"), "demo-skill", "string or a list"),
        ("# no front matter\n", "demo-skill", "must start with YAML front matter"),
    ],
)
def test_agent_skills_checker_catches_each_broken_rule(text: str, folder: str, expected: str) -> None:
    assert agent_skills_violations(GOOD_FRONT, "demo-skill") == []
    problems = agent_skills_violations(text, folder)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_FRONT.replace("name: demo", "model: x\nname: demo"), "'model' is not allowed"),
        (GOOD_FRONT.replace("demo-skill", "demo.skill"), "kebab-case"),
        (GOOD_FRONT.replace("demo-skill", "demo-"), "start or end with a hyphen"),
        (GOOD_FRONT.replace("demo-skill", "claude-demo"), "reserved word"),
        (GOOD_FRONT.replace("Makes demos.", "Makes <b>demos</b>."), "angle brackets"),
        (GOOD_FRONT.replace("Makes demos.", "x" * 1025), "longer than 1024"),
        (GOOD_FRONT.replace("---\n#", "compatibility: ''\n---\n#"), "non-empty string"),
        (GOOD_FRONT.replace("name: demo-skill\n", ""), "must both be present"),
        (GOOD_FRONT.replace("\n", "\r\n"), "no front matter"),
    ],
)
def test_anthropic_checker_catches_each_broken_rule(text: str, expected: str) -> None:
    assert anthropic_violations(GOOD_FRONT) == []
    problems = anthropic_violations(text)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_YAML + 'extra:\n  a: "b"\n', "'extra' is not read"),
        (GOOD_YAML.replace('"Demo"', "Demo"), "is not quoted"),
        (GOOD_YAML.replace("A demo skill that makes demos", "Too short"), "25-64"),
        (GOOD_YAML.replace("$demo-skill", "the skill"), "must mention"),
        (GOOD_YAML + '  icon_small: "/abs/icon.png"\n', "relative path under assets/"),
        (GOOD_YAML + '  icon_small: "./icons/icon.png"\n', "relative path under assets/"),
        (GOOD_YAML + '  icon_small: "./assets/../x.png"\n', "relative path under assets/"),
        (GOOD_YAML + '  icon_small: "./assets/missing.png"\n', "not a PNG file"),
        (GOOD_YAML + '  brand_color: "blue"\n', "#RRGGBB"),
        (GOOD_YAML + '  colour: "#112233"\n', "'colour' is unknown"),
    ],
)
def test_openai_yaml_checker_catches_each_broken_rule(text: str, expected: str, tmp_path: Path) -> None:
    assert openai_yaml_violations(GOOD_YAML, tmp_path, "demo-skill") == []
    problems = openai_yaml_violations(text, tmp_path, "demo-skill")
    assert any(expected in problem for problem in problems), problems


def test_skill_md_shows_every_workflow_the_issue_asks_for() -> None:
    flat = [" ".join(args) for args in COMMANDS]
    assert "--version" in flat
    assert {"config init", "config check"} <= {" ".join(args[:2]) for args in COMMANDS}
    assert any(args[:1] == ["batch"] for args in COMMANDS)
    assert any("--mask" in args for args in COMMANDS)
    assert any(args.count("--edit-image") >= 2 for args in COMMANDS)
    for flag in ("--dry-run", "--profile", "--provider"):
        assert any(flag in args for args in COMMANDS), flag


def test_skill_md_says_what_to_do_for_every_exit_code() -> None:
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", SKILL_TEXT, re.MULTILINE)}
    assert set(range(8)) | {127, 130, 143} <= rows


def test_the_exit_code_table_says_what_changes_in_a_sandbox() -> None:
    rows = dict(re.findall(r"^\| (\d+) \|(.*)\|$", SKILL_TEXT, re.MULTILINE))
    assert all(row.count(" | ") == 2 for row in rows.values()), "every row has a sandbox column"
    assert "the file system is read-only" in rows["2"] and "stop after this one attempt" in rows["2"]
    assert "network access is blocked here" in rows["5"] and "never retry sandboxed" in rows["5"]


def test_skill_md_never_shows_a_key_on_a_command_line() -> None:
    for args in COMMANDS:
        assert not any(re.match(r"^(sk-|--api-key|--key)", word) for word in args), args


@pytest.fixture
def skill_world(make_config, isolated: Path) -> Path:
    """A config with every profile SKILL.md names, and every input image it edits, in the work folder."""
    profiles = {"main": {"api_key": API_KEY}}
    for args in COMMANDS:
        for flag, value in itertools.pairwise(args):
            if flag == "--profile":
                profiles.setdefault(value, {"api_key": API_KEY})
            elif flag in ("--edit-image", "--mask"):
                (isolated / value).write_bytes(png(16, 16, alpha=flag == "--mask"))
    make_config({"default_profile": "main", "profiles": profiles})
    return isolated


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a)[:60] for a in COMMANDS])
def test_every_command_in_skill_md_runs_with_the_real_cli(args: list[str], cli, skill_world: Path) -> None:
    from imagegate.cli.config import config_parser

    if args[:2] == ["config", "init"]:
        config_parser().parse_args(args[1:])  # parsing only: init would wait for a key
        return
    if args[:1] == ["batch"]:
        (skill_world / args[1]).write_text(code_blocks(SKILL_TEXT, "jsonl")[0], encoding="utf-8")
        args = [*args, "--provider", "placeholder"]
    elif args[:1] not in (["config"], ["providers"], ["--version"]) and "--dry-run" not in args:
        args = [*args, "--dry-run"]
    run = cli(*args)
    assert run.code == 0, run.err
    assert API_KEY not in run.out + run.err
