"""The rules Codex applies to a skill's SKILL.md and agents/openai.yaml, as checks that list violations.

Sources: Codex's skill loader (openai/codex, codex-rs skills loader: front matter between `---`
lines, name <= 64 and description <= 1024 characters, agents/openai.yaml with `interface`,
`dependencies` and `policy`, icons relative and under `assets/`, brand_color `#RRGGBB`) and the
skill-creator's validator and openai.yaml reference (openai/skills: allowed front matter keys,
hyphen-case name, no angle brackets in the description, short_description of 25-64 characters,
string values quoted, body under 500 lines).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ALLOWED_FRONT_MATTER = frozenset({"name", "description", "license", "allowed-tools", "metadata"})
NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_BODY_LINES = 500
OPENAI_YAML_KEYS = frozenset({"interface", "dependencies", "policy"})
INTERFACE_KEYS = frozenset(
    {"display_name", "short_description", "icon_small", "icon_large", "brand_color", "default_prompt"}
)
COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(front matter, body) the way Codex reads them: a first line `---`, then up to the next `---`."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None, text
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    return None, text


def skill_violations(text: str) -> list[str]:
    """Every way SKILL.md breaks Codex's rules; empty when it loads cleanly."""
    front, body = split_front_matter(text)
    if not front:
        return ["no YAML front matter delimited by --- lines"]
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        return [f"front matter is not valid YAML: {exc}"]
    if not isinstance(data, dict):
        return ["front matter is not a mapping"]
    problems = [
        f"front matter key {key!r} is not allowed" for key in sorted(set(data) - ALLOWED_FRONT_MATTER)
    ]
    problems += _name_violations(data.get("name"))
    problems += _description_violations(data.get("description"))
    if len(body.splitlines()) >= MAX_BODY_LINES:
        problems.append(f"body has {len(body.splitlines())} lines; keep it under {MAX_BODY_LINES}")
    return problems


def _name_violations(name: Any) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        return ["name is missing or not a string"]
    problems = []
    if not NAME_PATTERN.match(name):
        problems.append(f"name {name!r} must be lowercase letters, digits and single hyphens")
    if len(name) > MAX_NAME:
        problems.append(f"name is {len(name)} characters; at most {MAX_NAME}")
    return problems


def _description_violations(description: Any) -> list[str]:
    if not isinstance(description, str) or not description.strip():
        return ["description is missing or not a string"]
    problems = []
    if len(" ".join(description.split())) > MAX_DESCRIPTION:
        problems.append(f"description is over {MAX_DESCRIPTION} characters")
    if "<" in description or ">" in description:
        problems.append("description contains < or >")
    if "use when" not in description.lower():
        problems.append("description does not say when to use the skill ('Use when ...')")
    return problems


def openai_yaml_violations(text: str, skill_dir: Path, skill_name: str) -> list[str]:
    """Every way agents/openai.yaml breaks the rules; empty when it is clean."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {exc}"]
    if not isinstance(data, dict):
        return ["top level is not a mapping"]
    problems = [f"top-level key {key!r} is not read by Codex" for key in sorted(set(data) - OPENAI_YAML_KEYS)]
    problems += unquoted_strings(text)
    interface = data.get("interface")
    if not isinstance(interface, dict):
        return [*problems, "interface is missing or not a mapping"]
    problems += [f"interface key {key!r} is unknown" for key in sorted(set(interface) - INTERFACE_KEYS)]
    problems += _interface_violations(interface, skill_dir, skill_name)
    return problems


def _interface_violations(interface: dict[str, Any], skill_dir: Path, skill_name: str) -> list[str]:
    problems = []
    display = interface.get("display_name")
    if not isinstance(display, str) or not 0 < len(display) <= MAX_NAME:
        problems.append("display_name must be a string of 1-64 characters")
    short = interface.get("short_description")
    if not isinstance(short, str) or not 25 <= len(short) <= 64:
        problems.append("short_description must be a string of 25-64 characters")
    prompt = interface.get("default_prompt")
    if not isinstance(prompt, str) or f"${skill_name}" not in prompt or len(prompt) > MAX_DESCRIPTION:
        problems.append(f"default_prompt must mention ${skill_name}")
    colour = interface.get("brand_color")
    if colour is not None and not (isinstance(colour, str) and COLOUR.match(colour)):
        problems.append("brand_color must be #RRGGBB")
    for key in ("icon_small", "icon_large"):
        if key in interface:
            problems += _icon_violations(key, interface[key], skill_dir)
    return problems


def _icon_violations(key: str, value: Any, skill_dir: Path) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{key} must be a path string"]
    path = PurePosixPath(value)
    parts = [part for part in path.parts if part != "."]
    if path.is_absolute() or ".." in parts or not parts or parts[0] != "assets":
        return [f"{key} {value!r} must be a relative path under assets/"]
    file = skill_dir.joinpath(*parts)
    if not file.is_file() or not file.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"):
        return [f"{key} {value!r} is not a PNG file in the skill"]
    return []


def unquoted_strings(text: str) -> list[str]:
    """Every string value written without quotes (keys stay unquoted, as the reference asks)."""
    problems: list[str] = []

    def walk(node: yaml.Node, is_key: bool = False) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(key, is_key=True)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
        elif node.tag == "tag:yaml.org,2002:str" and not is_key and node.style not in ('"', "'"):
            problems.append(f"line {node.start_mark.line + 1}: string {node.value!r} is not quoted")

    root = yaml.compose(text)
    if root is not None:
        walk(root)
    return problems


def code_blocks(markdown: str, language: str) -> list[str]:
    """The contents of the fenced code blocks of one language."""
    pattern = re.compile(rf"^```{re.escape(language)}\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return [match.group(1) for match in pattern.finditer(markdown)]


def imagegate_commands(markdown: str) -> list[list[str]]:
    """The arguments of every ``imagegate ...`` line in the sh code blocks (after the word imagegate)."""
    commands = []
    for block in code_blocks(markdown, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "imagegate":
                commands.append(words[1:])
    return commands


def skill_files_codex_would_load(root: Path, max_depth: int = 6) -> list[Path]:
    """Every SKILL.md Codex would find under ``root``: it skips hidden entries and goes 6 levels deep."""
    found = []
    folders = [(root, 0)]
    while folders:
        folder, depth = folders.pop()
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and depth < max_depth:
                folders.append((entry, depth + 1))
            elif entry.is_file() and entry.name == "SKILL.md":
                found.append(entry)
    return found
