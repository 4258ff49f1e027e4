"""The rules Codex applies to a skill's SKILL.md and agents/openai.yaml, as checks that list violations.

Sources: Codex's skill loader (openai/codex, codex-rs skills loader: front matter between `---`
lines, name <= 64 and description <= 1024 characters, agents/openai.yaml with `interface`,
`dependencies` and `policy`, icons relative and under `assets/`, brand_color `#RRGGBB`) and the
skill-creator's validator and openai.yaml reference (openai/skills: allowed front matter keys,
hyphen-case name, no angle brackets in the description, short_description of 25-64 characters,
string values quoted, body under 500 lines).

Two more rule sets, for Claude Code and any Agent Skills client (read from their public sources):
- the Agent Skills reference validator, agentskills/agentskills ``skills-ref/src/skills_ref/
  validator.py`` and ``parser.py``: the file starts with ``---`` and is split on the first two
  ``---``; strictyaml parses the front matter (no flow style, anchors or tags); allowed fields
  name, description, license, allowed-tools, metadata, compatibility; the NFKC-normalised name is
  at most 64 characters, lowercase, letters, digits and hyphens, no hyphen at either end, no
  ``--``, and equals the skill's folder name; description 1-1024 characters; compatibility at most
  500; allowed-tools a string or a list of strings;
- Anthropic's validator, anthropics/skills ``skills/skill-creator/scripts/quick_validate.py``:
  front matter matched by ``^---\n(.*?)\n---``, the same allowed fields, name ``^[a-z0-9-]+$``
  with no hyphen at either end and no ``--``, at most 64; description without ``<`` or ``>``, at
  most 1024 after stripping; compatibility a non-empty string of at most 500; and the Agent
  Skills overview's platform rules: no XML tags, and no "anthropic" or "claude" in the name.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
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


#: How SKILL.md spells the skill's own imagegate: the wrapper in the skill folder it stands in.
WRAPPER = "SKILL_DIR/scripts/imagegate"


def shell_lines(markdown: str) -> list[list[str]]:
    """The words of every command line in the sh code blocks (continuation lines joined)."""
    lines = []
    for block in code_blocks(markdown, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(words)
    return lines


def imagegate_commands(markdown: str) -> list[list[str]]:
    """The arguments of every imagegate line in the sh code blocks (after the wrapper's path)."""
    return [words[1:] for words in shell_lines(markdown) if words[0] in (WRAPPER, "imagegate")]


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


AGENT_SKILLS_FIELDS = ALLOWED_FRONT_MATTER | {"compatibility"}
MAX_COMPATIBILITY = 500


def _mapping(front: str) -> dict[str, Any] | str:
    """The front matter as a mapping, or the reason it is not one."""
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        return f"front matter is not valid YAML: {exc}"
    return data if isinstance(data, dict) else "front matter is not a mapping"


def agent_skills_violations(text: str, folder_name: str) -> list[str]:
    """Every way SKILL.md in a folder named ``folder_name`` fails the Agent Skills reference validator."""
    if not text.startswith("---"):
        return ["SKILL.md must start with YAML front matter (---)"]
    parts = text.split("---", 2)
    if len(parts) < 3:
        return ["front matter is not closed with ---"]
    data = _mapping(parts[1])
    if isinstance(data, str):
        return [data]
    problems = strictyaml_violations(parts[1])
    problems += [f"field {key!r} is not allowed" for key in sorted(set(data) - AGENT_SKILLS_FIELDS)]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a non-empty string")
    else:
        name = unicodedata.normalize("NFKC", name.strip())
        problems += _agent_skills_name(name)
        if unicodedata.normalize("NFKC", folder_name) != name:
            problems.append(f"folder name {folder_name!r} must match skill name {name!r}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("description must be a non-empty string")
    elif len(description) > MAX_DESCRIPTION:
        problems.append(f"description exceeds {MAX_DESCRIPTION} characters")
    problems += _compatibility_violations(data)
    tools = data.get("allowed-tools", "")
    if not isinstance(tools, str) and not (
        isinstance(tools, list) and all(isinstance(t, str) for t in tools)
    ):
        problems.append("allowed-tools must be a string or a list of strings")
    return problems


def _agent_skills_name(name: str) -> list[str]:
    problems = []
    if len(name) > MAX_NAME:
        problems.append(f"name exceeds {MAX_NAME} characters")
    if name != name.lower():
        problems.append("name must be lowercase")
    if name.startswith("-") or name.endswith("-") or "--" in name:
        problems.append("name cannot start or end with a hyphen or contain consecutive hyphens")
    if not all(char.isalnum() or char == "-" for char in name):
        problems.append("name may hold only letters, digits and hyphens")
    return problems


def _compatibility_violations(data: dict[str, Any]) -> list[str]:
    if "compatibility" not in data:
        return []
    value = data["compatibility"]
    if not isinstance(value, str) or not value:
        return ["compatibility must be a non-empty string"]
    return [f"compatibility exceeds {MAX_COMPATIBILITY} characters"] if len(value) > MAX_COMPATIBILITY else []


def strictyaml_violations(front: str) -> list[str]:
    """YAML that strictyaml (the reference validator's parser) refuses: flow style, anchors, tags."""
    problems = []
    for token in yaml.scan(front):
        if isinstance(token, (yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)):
            problems.append(
                f"line {token.start_mark.line + 1}: flow style ({{}} or []) is refused by strictyaml"
            )
        elif isinstance(token, (yaml.AnchorToken, yaml.AliasToken, yaml.TagToken)):
            problems.append(
                f"line {token.start_mark.line + 1}: anchors, aliases and tags are refused by strictyaml"
            )
    return problems


def anthropic_violations(text: str) -> list[str]:
    """Every way SKILL.md fails Anthropic's skill validator and the Agent Skills platform rules."""
    match = re.match(r"^---\n(.*?)\n---", text, re.DOTALL)
    if not match:
        return ["no front matter in the form ---, YAML, ---"]
    data = _mapping(match.group(1))
    if isinstance(data, str):
        return [data]
    problems = [f"key {key!r} is not allowed" for key in sorted(set(data) - AGENT_SKILLS_FIELDS)]
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not isinstance(description, str):
        return [*problems, "name and description must both be present, as strings"]
    name, description = name.strip(), description.strip()
    if name and not re.match(r"^[a-z0-9-]+$", name):
        problems.append("name must be kebab-case: lowercase letters, digits and hyphens")
    if name.startswith("-") or name.endswith("-") or "--" in name:
        problems.append("name cannot start or end with a hyphen or contain consecutive hyphens")
    if len(name) > MAX_NAME:
        problems.append(f"name is longer than {MAX_NAME} characters")
    if any(word in name for word in ("anthropic", "claude")):
        problems.append("name contains a reserved word (anthropic, claude)")
    if "<" in description or ">" in description:  # no XML tags either, then
        problems.append("description cannot contain angle brackets (< or >)")
    if len(description) > MAX_DESCRIPTION:
        problems.append(f"description is longer than {MAX_DESCRIPTION} characters")
    return problems + _compatibility_violations(data)
