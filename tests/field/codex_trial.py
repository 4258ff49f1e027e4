"""Field trial: the real Codex CLI runs the skill, driven by a scripted model that follows SKILL.md.

Not part of the test suite (no ``test_`` prefix, never collected): it needs the Codex CLI from npm
(``npm install -g @openai/codex``), tmux for the TUI scenarios, about a minute per scenario, and the
Python package index for the install steps. Run it from the repository root with the dev venv:

    python tests/field/codex_trial.py                  # every scenario
    python tests/field/codex_trial.py exec-read-only   # some of them
    python tests/field/codex_trial.py --list

Each scenario gets a fresh folder under ``$IMAGEGATE_TRIAL_ROOT`` (default
``/var/tmp/imagegate-codex-trial``: not under ``/tmp``, which Codex's sandbox may always write):
a HOME holding the skill, copied from this checkout into ``~/.agents/skills/gpt-image-2-apikey``
the way the README installs it, an imagegate config pointing at a fake image provider, a
CODEX_HOME whose custom model provider is the scripted model, and a workspace. Both servers listen
on 127.0.0.1 only.

The scripted model (``follow_skill``) reads what Codex tells every model: the skills list and its
roots table, the sandbox mode, the approval policy, the network rule and the writable roots. It
then does what SKILL.md says for that situation, step by step, one ``exec_command`` per model
turn, and reads each command's exit code and output from Codex's tool output. It is stateless: on
every request it replays the conversation so far and answers with the next step. The results
table (what the model saw at each step) is printed and written to ``results.md`` in the root.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SKILL = "gpt-image-2-apikey"
TRIAL_ROOT = Path(os.environ.get("IMAGEGATE_TRIAL_ROOT", "/var/tmp/imagegate-codex-trial"))
PROMPT = f"Use ${SKILL} to make me an image of a red kite"
FAKE_KEY = "sk-trial-0000000000000000000000000000"


# ---------------------------------------------------------------- the fake image provider


def tiny_png(width: int = 64, height: int = 64) -> bytes:
    """A plain RGB PNG (red kite colours), built with zlib only."""
    row = b"\x00" + bytes((200, 40, 40)) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class ImageProvider(ThreadingHTTPServer):
    """POST /v1/images/generations answered as OpenAI documents it: ``data[].b64_json``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _ImageHandler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ImageHandler(BaseHTTPRequestHandler):
    server: ImageProvider

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.server.calls.append({"path": self.path, "body": body})
        image = base64.b64encode(tiny_png()).decode()
        answer = {"created": int(time.time()), "data": [{"b64_json": image}] * int(body.get("n", 1))}
        data = json.dumps(answer).encode()
        self.send_response(200 if self.path.endswith("/images/generations") else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------- what Codex tells the model


@dataclass
class Situation:
    """What Codex's first request says about the skill, the sandbox and the approvals."""

    skill_md: str
    cwd: str
    sandbox: str
    approvals: bool
    network: bool
    writable_roots: list[str]

    @property
    def skill_dir(self) -> str:
        return str(Path(self.skill_md).parent)

    def may_write(self, path: str) -> bool:
        if self.sandbox == "danger-full-access":
            return True
        if self.sandbox == "read-only":
            return False
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.writable_roots)


def texts(items: list[dict[str, Any]], role: str) -> list[str]:
    found = []
    for item in items:
        if item.get("type") == "message" and item.get("role") == role:
            found += [part.get("text", "") for part in item.get("content", []) if isinstance(part, dict)]
    return found


def situation(request: dict[str, Any]) -> Situation:
    """Read the skills list (expanding rN with the roots table) and the permissions block."""
    developer = "\n".join(texts(request["input"], "developer"))
    user = "\n".join(texts(request["input"], "user"))
    roots = dict(re.findall(r"- `(r\d+)` = `([^`]+)`", developer))
    short = re.search(rf"- {SKILL}: .*\(file: (r\d+)/([^)]+)\)", developer)
    if short is None:
        raise RuntimeError("the skill is not in Codex's skills list")
    skill_md = f"{roots[short.group(1)]}/{short.group(2)}".replace("~", os.environ.get("HOME", "~"), 1)
    permissions = developer[developer.find("<permissions instructions>") :]
    mode = re.search(r"`sandbox_mode` is `([^`]+)`", permissions)
    roots_line = re.search(r"writable roots are (.+?)\.(?:\s|$)", permissions)
    return Situation(
        skill_md=skill_md,
        cwd=re.search(r"<cwd>([^<]+)</cwd>", user).group(1),  # type: ignore[union-attr]
        sandbox=mode.group(1) if mode else "danger-full-access",
        approvals="Approval policy is currently never" not in permissions
        and "require_escalated" in permissions,
        network="Network access is restricted" not in permissions,
        writable_roots=re.findall(r"`([^`]+)`", roots_line.group(1)) if roots_line else [],
    )


# ---------------------------------------------------------------- the scripted model


@dataclass
class Result:
    code: int | None
    output: str

    @property
    def last_line(self) -> str:
        """The ``error:`` line if there is one (imagegate's, then its hints), else the last line."""
        lines = [line for line in self.output.strip().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("error:", "install failed:"))]
        return (errors or lines or [""])[-1]


class NextCall(Exception):
    """The script needs a command that has not run yet: send it to Codex as the next step."""

    def __init__(self, arguments: dict[str, Any], tool: str = "exec_command") -> None:
        super().__init__(arguments)
        self.arguments, self.tool = arguments, tool


@dataclass
class Replay:
    """Runs the script against the tool outputs recorded so far in the conversation."""

    history: list[tuple[str, dict[str, Any], str]]
    steps: list[str] = field(default_factory=list)
    position: int = 0

    def call(self, tool: str, arguments: dict[str, Any]) -> str:
        if self.position < len(self.history):
            name, recorded, output = self.history[self.position]
            self.position += 1
            if (name, recorded) != (tool, arguments):
                raise RuntimeError(f"the conversation went another way: {recorded} is not {arguments}")
            return output
        raise NextCall(arguments, tool)

    def run(self, label: str, cmd: str, justification: str | None = None) -> Result:
        """One exec_command (escalated when a justification is given), polled until it exits."""
        arguments: dict[str, Any] = {"cmd": cmd, "yield_time_ms": 30000}
        if justification:
            arguments |= {"sandbox_permissions": "require_escalated", "justification": justification}
        output = chunk = self.call("exec_command", arguments)
        while (session := re.search(r"Process running with session ID (\d+)", chunk)) is not None:
            poll = {"session_id": int(session.group(1)), "chars": "", "yield_time_ms": 30000}
            chunk = self.call("write_stdin", poll)
            output += chunk
        code = re.findall(r"(?:Process exited with code|exit code:?) (-?\d+)", output)
        result = Result(int(code[-1]) if code else None, output)
        self.steps.append(f"{label}{' (esc)' if justification else ''} {result.code}")
        return result


def follow_skill(seen: Situation, replay: Replay) -> str:
    """SKILL.md, followed literally; returns the final message to the user."""
    skill_dir = seen.skill_dir
    tool = f"{skill_dir}/scripts/imagegate"
    replay.run("read_skill", f"cat {shlex.quote(seen.skill_md)}")
    version = replay.run("version", f"{tool} --version")
    if version.code != 0:
        if "imagegate is not installed" not in version.output and "incomplete" not in version.output:
            return f"`{tool} --version` failed: {version.last_line}"
        refusal = install(seen, replay, skill_dir)
        if refusal:
            return refusal
    check_png = f"{seen.cwd}/imagegate-check.png"
    placeholder = f'{tool} --provider placeholder --prompt "install check" --out {check_png} --size 256x256'
    made = replay.run("placeholder", placeholder)
    if made.code == 2 and ("read-only" in made.output or "permission denied" in made.output):
        if not seen.approvals:
            return cannot_go_on(seen, "nothing can be saved in this sandbox", made)
        made = replay.run("placeholder", placeholder, f"Save a free placeholder image as {check_png}?")
    if made.code != 0:
        return f"The self-test failed: {made.last_line}"
    return real_image(seen, replay, tool)


def install(seen: Situation, replay: Replay, skill_dir: str) -> str | None:
    """The install as SKILL.md says for the situation; a message when the agent must stop."""
    command = f"sh {skill_dir}/scripts/install"
    if seen.sandbox == "danger-full-access" or (seen.network and seen.may_write(skill_dir)):
        done = replay.run("install", command)
    elif seen.approvals:
        why = f"Install imagegate into {skill_dir}/.venv (downloads Python packages from PyPI)?"
        done = replay.run("install", command, why)
    else:
        return cannot_go_on(seen, "imagegate is not installed, and the install cannot run in this sandbox")
    return None if done.code == 0 else f"The install failed: {done.last_line}"


def real_image(seen: Situation, replay: Replay, tool: str) -> str:
    """config check, one real call (escalated where SKILL.md says), then the JSON read back."""
    checked = replay.run("config_check", f"{tool} config check")
    if checked.code != 0:
        return f"No key is configured: please run `{tool} config init` in your own terminal."
    base_url = (re.findall(r'"base_url": "([^"]+)"', checked.output) or ["the configured provider"])[0]
    out = f"{seen.cwd}/red-kite.png"
    command = f'{tool} --prompt "A red kite over a grey sea, watercolour" --out {out} --quality low'
    why = f"Send one paid image request (1 image, quality low) to {base_url}?"
    made = replay.run("real", command, why if seen.approvals else None)
    if made.code == 5 and "network access is blocked here" in made.output:
        if not seen.approvals:
            return cannot_go_on(seen, "the network is blocked here; nothing was sent or billed", made)
        made = replay.run("real", command, why)
    if made.code != 0:
        return f"The image request failed (exit {made.code}): {made.last_line}"
    document = json.loads(made.output[made.output.index("{") : made.output.rindex("}") + 1])
    paths = document["output_paths"]
    replay.run("read_result", "ls -l " + " ".join(shlex.quote(p) for p in paths))
    facts = ", ".join(f"{i['format']} {i['width']}x{i['height']}" for i in document["images"])
    return f"Saved {', '.join(paths)} ({facts})."


def cannot_go_on(seen: Situation, why: str, failed: Result | None = None) -> str:
    """SKILL.md's 'When you cannot go on': the exact commands for the user, then stop."""
    lines = [f"I stopped: {why}." + (f" ({failed.last_line})" if failed else "")]
    lines.append(f"1. If imagegate is not installed: sh {seen.skill_dir}/scripts/install")
    lines.append(f"2. If no key is configured: {seen.skill_dir}/scripts/imagegate config init")
    lines.append(
        "3. Rerun with: codex exec --sandbox workspace-write "
        f'-c sandbox_workspace_write.network_access=true --add-dir {seen.skill_dir} "..."'
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- the Responses API server


def conversation(request: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(tool, arguments, output) of every finished tool call in the request's input, in order."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    finished = []
    for item in request["input"]:
        if item.get("type") == "function_call":
            calls[item["call_id"]] = (item["name"], json.loads(item.get("arguments") or "{}"))
        elif item.get("type") == "function_call_output" and item.get("call_id") in calls:
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(part.get("text", "") for part in output if isinstance(part, dict))
            elif isinstance(output, dict):
                output = output.get("content") or json.dumps(output)
            name, arguments = calls[item["call_id"]]
            finished.append((name, arguments, str(output)))
    return finished


class ModelServer(ThreadingHTTPServer):
    """POST /v1/responses: one scripted step per request, streamed as Responses API events."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.steps: list[str] = []
        self.final = ""
        self.counter = 0
        self.approvals = 0  # approval prompts answered yes (TUI)
        self.listed: list[str] = []  # the skills Codex listed to the model
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ModelHandler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.counter += 1
            number = self.counter
        if not request.get("tools"):  # a side request, such as the TUI's thread title
            title = [{"type": "output_text", "text": json.dumps({"title": "Make a red kite image"})}]
            return {"type": "message", "role": "assistant", "id": f"msg_{number}", "content": title}
        developer = "\n".join(texts(request["input"], "developer"))
        skills = developer[developer.find("### Available skills") :]
        self.listed = re.findall(r"^- ([\w.:-]+): ", skills, re.MULTILINE)
        replay = Replay(conversation(request))
        try:
            text = follow_skill(situation(request), replay)
        except NextCall as step:
            return {
                "type": "function_call",
                "id": f"fc_{number}",
                "call_id": f"call_{number}",
                "name": step.tool,
                "arguments": json.dumps(step.arguments),
            }
        self.steps, self.final = replay.steps, text
        content = [{"type": "output_text", "text": text, "annotations": []}]
        return {"type": "message", "role": "assistant", "id": f"msg_{number}", "content": content}


class _ModelHandler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        with self.server.log.open("a", encoding="utf-8") as log:
            log.write(json.dumps({"path": self.path, "body": request}) + "\n")
        try:
            item = self.server.answer(request)
        except Exception as exc:  # the script's own failure becomes the model's last word
            item = {
                "type": "message",
                "role": "assistant",
                "id": "msg_error",
                "content": [{"type": "output_text", "text": f"SCRIPT ERROR: {exc!r}"}],
            }
            self.server.final = f"SCRIPT ERROR: {exc!r}"
        response_id = f"resp_{self.server.counter}"
        events = [
            {"type": "response.created", "response": {"id": response_id}},
            {"type": "response.output_item.done", "item": item},
            {
                "type": "response.completed",
                "response": {
                    "id": response_id,
                    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
                },
            },
        ]
        data = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------- one scenario


@dataclass
class World:
    """The folders of one scenario: HOME with the skill and config, CODEX_HOME, the workspace."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def skill(self) -> Path:
        return self.home / ".agents" / "skills" / SKILL

    @property
    def codex_home(self) -> Path:
        return self.home / ".codex"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self) -> dict[str, str]:
        python_bin = Path(sys.base_prefix) / "bin"
        path = os.pathsep.join([str(python_bin), "/usr/local/bin", "/usr/bin", "/bin"])
        return {
            "HOME": str(self.home),
            "CODEX_HOME": str(self.codex_home),
            "PATH": path,
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "USER": "trial",
        }


def make_world(name: str, model: ModelServer, images: ImageProvider, trusted: bool, extra: str = "") -> World:
    world = World(TRIAL_ROOT / name)
    shutil.rmtree(world.root, ignore_errors=True)
    world.work.mkdir(parents=True)
    copy_skill(world.skill)
    config = world.home / ".config" / SKILL / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"api_key": FAKE_KEY, "base_url": images.base_url}), encoding="utf-8")
    config.chmod(0o600)
    world.codex_home.mkdir(parents=True, exist_ok=True)
    (world.codex_home / "config.toml").write_text(
        codex_config(model, world, trusted, extra), encoding="utf-8"
    )
    return world


def copy_skill(target: Path) -> None:
    """The checkout's files as a fresh clone has them (tracked and new files; no .venv, no build)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def codex_config(model: ModelServer, world: World, trusted: bool, extra: str = "") -> str:
    """A custom model provider on loopback; the workspace trusted only where the user trusts it (TUI).

    ``extra``: the user's own settings (root keys first, then tables), as the README shows them.
    """
    trust = f'\n[projects."{world.work}"]\ntrust_level = "trusted"\n' if trusted else ""
    return f"""model = "fake-model"
model_provider = "scripted"
check_for_update_on_startup = false
{extra}
[model_providers.scripted]
name = "scripted"
base_url = "{model.base_url}"
wire_api = "responses"
{trust}"""


@dataclass
class Scenario:
    name: str
    args: list[str]
    preinstalled: bool = False
    tui: bool = False
    after: str | None = None  # run in the world another scenario left behind (a second session)
    note: str = ""
    config: str = ""  # the user's own config.toml lines


def codex_exec(world: World, args: list[str], log: Path) -> int:
    command = ["codex", "exec", "--skip-git-repo-check", "--json", *args, PROMPT]
    with log.open("w") as out:
        return subprocess.run(
            command,
            cwd=world.work,
            env=world.env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        ).returncode


def codex_tui(world: World, args: list[str], log: Path, model: ModelServer) -> int:
    """The interactive TUI in tmux: every approval prompt is answered yes, then the session quits."""
    session = f"imagegate-trial-{os.getpid()}"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in world.env().items())
    codex = " ".join(["codex", "--no-alt-screen", "--no-daemon", *args, shlex.quote(PROMPT)])
    inner = f"cd {shlex.quote(str(world.work))} && env -i {env} {codex}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "60", inner], check=True)
    screens, deadline, approvals = [], time.monotonic() + 300, 0
    try:
        while time.monotonic() < deadline and not model.final:
            time.sleep(1)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session, "-S", "-200"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "Would you like to run the following command?" in screen.split("›")[-1] or re.search(
                r"Yes, proceed \(y\)", screen[-3000:]
            ):
                approvals += 1
                screens.append(screen)
                subprocess.run(["tmux", "send-keys", "-t", session, "y"], check=False)
                time.sleep(2)
        time.sleep(2)
        screens.append(
            subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session, "-S", "-400"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        )
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
        log.write_text("\n\n=====\n\n".join(screens), encoding="utf-8")
    model.approvals = approvals
    return 0 if model.final else 124


def venv_stamp(world: World) -> float | None:
    cfg = world.skill / ".venv" / "pyvenv.cfg"
    return cfg.stat().st_mtime if cfg.exists() else None


def run_scenario(scenario: Scenario) -> dict[str, Any]:
    images = ImageProvider()
    threading.Thread(target=images.serve_forever, daemon=True).start()
    log_dir = TRIAL_ROOT / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    model = ModelServer(log_dir / f"{scenario.name}.requests.jsonl")
    threading.Thread(target=model.serve_forever, daemon=True).start()
    try:
        if scenario.after:
            world = reuse_world(scenario, model, images)
        else:
            world = make_world(scenario.name, model, images, scenario.tui, scenario.config)
        if scenario.preinstalled:
            subprocess.run(
                ["sh", str(world.skill / "scripts" / "install")],
                env=world.env(),
                check=True,
                capture_output=True,
            )
        before = venv_stamp(world)
        log = log_dir / f"{scenario.name}.codex.log"
        runner = codex_tui if scenario.tui else None
        code = runner(world, scenario.args, log, model) if runner else codex_exec(world, scenario.args, log)
        return {
            "name": scenario.name,
            "args": scenario.args,
            "codex_exit": code,
            "steps": model.steps,
            "final": model.final,
            "paid_calls": len(images.calls),
            "approvals": model.approvals,
            "imagegen_listed": "imagegen" in model.listed,
            "note": scenario.note,
            "reinstalled": before is not None and venv_stamp(world) != before,
            "images": sorted(p.name for p in world.work.glob("*.png")),
        }
    finally:
        model.shutdown()
        images.shutdown()


def reuse_world(scenario: Scenario, model: ModelServer, images: ImageProvider) -> World:
    """The world an earlier scenario left, with the servers of this run and a clean workspace."""
    world = World(TRIAL_ROOT / str(scenario.after))
    if not world.root.exists():
        raise SystemExit(f"run {scenario.after} first")
    for png in world.work.glob("*.png"):
        png.unlink()
    config = world.home / ".config" / SKILL / "config.json"
    config.write_text(json.dumps({"api_key": FAKE_KEY, "base_url": images.base_url}), encoding="utf-8")
    (world.codex_home / "config.toml").write_text(codex_config(model, world, scenario.tui), encoding="utf-8")
    return world


NETWORK = ["-c", "sandbox_workspace_write.network_access=true"]
SCENARIOS = [
    Scenario("exec-read-only", [], note="codex exec default: read-only, approvals never"),
    Scenario("exec-read-only-preinstalled", [], preinstalled=True, note="the user ran scripts/install"),
    Scenario("exec-ws", ["--sandbox", "workspace-write"], preinstalled=True, note="network off"),
    Scenario("exec-ws-net", ["--sandbox", "workspace-write", *NETWORK], note="not installed"),
    Scenario(
        "exec-ws-net-add-dir",
        ["--sandbox", "workspace-write", *NETWORK, "--add-dir", "SKILL_DIR"],
        note="skill folder writable too",
    ),
    Scenario(
        "exec-ws-net-second",
        ["--sandbox", "workspace-write", *NETWORK],
        after="exec-ws-net-add-dir",
        note="a second session",
    ),
    Scenario("exec-full-access", ["--sandbox", "danger-full-access"]),
    Scenario(
        "exec-ws-net-preinstalled-no-imagegen",
        ["--sandbox", "workspace-write", *NETWORK, "-c", 'skills.config=[{name="imagegen", enabled=false}]'],
        preinstalled=True,
        note="README set-up: installed once, network on, imagegen disabled",
    ),
    Scenario(
        "exec-readme-config",
        [],
        preinstalled=True,
        note="no flags: the README's config.toml set-up",
        config='sandbox_mode = "workspace-write"\n\n[sandbox_workspace_write]\nnetwork_access = true\n',
    ),
    Scenario(
        "tui-approvals", [], tui=True, note="trusted folder: workspace-write, on-request; user says yes"
    ),
    Scenario("tui-second", [], tui=True, after="tui-approvals", note="a second TUI session"),
]


def expand(scenario: Scenario) -> Scenario:
    world = World(TRIAL_ROOT / (scenario.after or scenario.name))
    args = [str(world.skill) if arg == "SKILL_DIR" else arg for arg in scenario.args]
    return dataclasses.replace(scenario, args=args)


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| scenario | Codex flags | steps (exit code the model saw) | paid calls | images | reinstalled "
        "| imagegen listed | last message |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        flags = " ".join(r["args"]).replace(str(TRIAL_ROOT), "…") or "(none)"
        final = r["final"].replace("\n", " ").replace("|", "/")[:300]
        rows.append(
            f"| {r['name']} ({r['note']}) | `{flags}` | {', '.join(r['steps'])} | {r['paid_calls']} | "
            f"{', '.join(r['images']) or '-'} | {'yes' if r['reinstalled'] else 'no'} | "
            f"{'yes' if r['imagegen_listed'] else 'no'} | {final} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--list", action="store_true")
    options = parser.parse_args(argv)
    if options.list:
        print("\n".join(f"{s.name}: {s.note}" for s in SCENARIOS))
        return 0
    if shutil.which("codex") is None:
        print("the Codex CLI is not installed: npm install -g @openai/codex", file=sys.stderr)
        return 2
    chosen = [s for s in SCENARIOS if not options.names or s.name in options.names]
    results = []
    for scenario in chosen:
        print(f"== {scenario.name}", file=sys.stderr, flush=True)
        results.append(run_scenario(expand(scenario)))
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    report = table(results)
    (TRIAL_ROOT / "results.md").write_text(report, encoding="utf-8")
    (TRIAL_ROOT / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
