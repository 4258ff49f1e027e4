"""`imagegate mcp`, driven by the MCP SDK's own client over stdio, as an agent's client drives it.

One server process serves most tests of this module; it talks to the placeholder provider and to
a fake provider on 127.0.0.1 (the suite's FaultServer) holding the only copy of the test key.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is not installed (pip install -e '.[mcp]')")

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from imagegate.mcp_tools import error_text, output_target

from .support.faultserver import FaultServer, Reply, Seen, error_reply, image_reply, stream_reply
from .support.helpers import API_KEY, KEY_TAIL, png, write_config
from .support.sse import standard_stream

#: Starts `imagegate mcp` with one extra provider that writes to stdout the ways code does by accident.
LAUNCHER = """
import os, sys
from imagegate import plugins
from imagegate.cli import main
from imagegate.providers.placeholder import PlaceholderAdapter

class Noisy(PlaceholderAdapter):
    name = "noisy"
    description = "placeholder that prints to stdout"

    def build_request(self, options):
        print("noise from print, never flushed")
        os.write(1, b"noise written to fd 1\\n")
        return super().build_request(options)

plugins.register_adapter(Noisy)
sys.exit(main(["mcp", *sys.argv[1:]]))
"""
#: Copies the server's stdout, byte for byte, to $WIRE_LOG: the test reads what went over the wire.
TEE = '"$@" | tee "$WIRE_LOG"'


@dataclass
class Connection:
    """A running server and the client session talking to it (through a blocking portal)."""

    portal: BlockingPortal
    session: ClientSession
    folder: Path
    out_dir: Path
    wire_log: Path
    stderr_log: Path
    progress: list[tuple[float, str | None]] = field(default_factory=list)

    def call(self, tool: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        async def callback(value: float, total: float | None, message: str | None) -> None:
            self.progress.append((value, message))
            on_progress = kwargs.get("on_progress")
            if on_progress is not None:
                on_progress(value, message)

        return self.portal.call(
            lambda: self.session.call_tool(tool, arguments or {}, progress_callback=callback)
        )

    def list_tools(self) -> Any:
        return self.portal.call(self.session.list_tools)


@asynccontextmanager
async def _session(params: StdioServerParameters, errlog: Any) -> AsyncIterator[ClientSession]:
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextmanager
def serving(folder: Path, *args: str) -> Iterator[Connection]:
    """Start `imagegate mcp --out-dir folder/out ARGS` in ``folder`` with the environment a client gives."""
    out_dir = folder / "out"
    wire_log, stderr_log = folder / "wire.log", folder / "stderr.log"
    env = {
        "HOME": str(folder / "home"),
        "XDG_CONFIG_HOME": str(folder / "xdg"),
        "WIRE_LOG": str(wire_log),
        "OPENAI_API_KEY": "sk-env-canary-must-never-be-read-0123456789",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    command = [sys.executable, "-c", LAUNCHER, "--out-dir", str(out_dir), *args]
    params = StdioServerParameters(command="sh", args=["-c", TEE, "sh", *command], env=env, cwd=str(folder))
    with (
        stderr_log.open("w") as errlog,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(_session(params, errlog)) as session,
    ):
        yield Connection(portal, session, folder, out_dir, wire_log, stderr_log)


def slow_or_refused(request: Seen) -> Reply:
    """The fake provider: refuses 'forbidden' prompts, echoes the key for 'echo', waits for 'slow'."""
    body = request.body
    if b"forbidden" in body:
        return error_reply(400, "Your request was rejected by the safety system.", code="moderation_blocked")
    if b"echo" in body:
        return error_reply(400, f"bad header {request.headers.get('Authorization')}")
    if b"slow" in body:
        PROGRESS_SEEN.wait(30)  # answers once the client has seen progress (not timed: a bounded wait)
    if b'"stream": true' in body:
        return stream_reply(standard_stream(2)[0])
    return image_reply(png(32, 24))


PROGRESS_SEEN = threading.Event()


@pytest.fixture(scope="module")
def provider() -> Iterator[FaultServer]:
    with FaultServer() as fake:
        fake.generations(slow_or_refused)
        fake.edits(slow_or_refused)
        yield fake


@pytest.fixture(scope="module")
def running(provider: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    folder = tmp_path_factory.mktemp("mcp")
    config = write_config(
        folder / "private" / "config.json", {"api_key": API_KEY, "base_url": provider.base_url}
    )
    with serving(folder, "--config", str(config)) as connection:
        yield connection


def text_of(result: Any) -> str:
    return result.content[0].text


def links(result: Any) -> list[Any]:
    return [block for block in result.content if block.type == "resource_link"]


def path_of(link: Any) -> Path:
    return Path(unquote(urlparse(str(link.uri)).path))


# -- tools and schemas ---------------------------------------------------------------------------


def test_tools_are_listed_with_typed_schemas_and_cost_annotations(running: Connection) -> None:
    tools = {tool.name: tool for tool in running.list_tools().tools}
    assert set(tools) == {"generate_image", "edit_image", "dry_run", "list_providers", "check_config"}
    generate = tools["generate_image"].input_schema
    assert generate["required"] == ["prompt"] and generate["additionalProperties"] is False
    assert generate["properties"]["n"]["minimum"] == 1 and generate["properties"]["n"]["maximum"] == 10
    assert generate["properties"]["format"]["enum"] == ["png", "jpeg", "webp"]
    assert "placeholder" in generate["properties"]["provider"]["enum"]
    assert tools["edit_image"].input_schema["required"] == ["prompt", "images"]
    for name, tool in tools.items():
        paid = name in ("generate_image", "edit_image")
        assert tool.annotations.read_only_hint is not paid
        assert tool.annotations.open_world_hint is paid
        assert tool.meta == {"imagegate/costs_money": paid}
        assert ("money" in tool.description) is paid or name == "dry_run"


def test_schema_choices_and_ranges_come_from_the_option_table(running: Connection) -> None:
    from imagegate.options import row

    tools = {tool.name: tool for tool in running.list_tools().tools}
    properties = tools["generate_image"].input_schema["properties"]
    for name in ("quality", "background", "moderation", "style"):
        assert properties[name]["enum"] == list(row(name).choices)
    assert properties["format"]["enum"] == list(row("output_format").choices)
    for name in ("n", "output_compression", "partial_images"):
        assert (properties[name]["minimum"], properties[name]["maximum"]) == (row(name).low, row(name).high)
    assert properties["timeout"]["exclusiveMinimum"] == row("timeout").low
    assert tools["edit_image"].input_schema["properties"]["images"]["maxItems"] == row("images").high


# -- images ------------------------------------------------------------------------------------


def test_a_placeholder_image_is_saved_and_linked_as_a_real_file(running: Connection) -> None:
    result = running.call(
        "generate_image", {"prompt": "a lighthouse", "provider": "placeholder", "size": "256x256"}
    )
    assert not result.is_error, text_of(result)
    document = json.loads(text_of(result))
    [link] = links(result)
    saved = path_of(link)
    assert saved.is_file() and saved.parent == running.out_dir and saved.is_absolute()
    assert document["output_paths"] == [str(saved)]
    assert link.mime_type == "image/png" and link.size == saved.stat().st_size
    assert [block.type for block in result.content] == ["text", "resource_link", "image"]  # small: inline too
    assert result.structured_content is None


def test_an_image_from_the_provider_is_saved_under_its_file_name(
    running: Connection, provider: FaultServer
) -> None:
    result = running.call("generate_image", {"prompt": "a kite", "filename": "kite.png"})
    assert not result.is_error, text_of(result)
    assert path_of(links(result)[0]) == running.out_dir / "kite.png"
    assert provider.requests_to("/v1/images/generations")[-1].headers["Authorization"] == f"Bearer {API_KEY}"


def test_an_existing_file_is_never_overwritten(running: Connection) -> None:
    first = running.call(
        "generate_image", {"prompt": "one", "provider": "placeholder", "filename": "same.png"}
    )
    before = (running.out_dir / "same.png").read_bytes()
    again = running.call(
        "generate_image", {"prompt": "two", "provider": "placeholder", "filename": "same.png"}
    )
    assert not first.is_error and again.is_error
    assert "already exists" in text_of(again) and "--force" not in text_of(again)
    assert (running.out_dir / "same.png").read_bytes() == before


@pytest.mark.parametrize("name", ["../escape.png", "/tmp/escape.png", "sub/escape.png", ".hidden.png", ".."])
def test_a_file_name_cannot_leave_the_output_folder(name: str, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="plain file name"):
        output_target(tmp_path, name)


def test_an_edit_saves_a_new_file_and_sends_the_input_image(
    running: Connection, provider: FaultServer
) -> None:
    source = running.folder / "input.png"
    source.write_bytes(png(16, 16))
    result = running.call(
        "edit_image", {"prompt": "add a hat", "images": [str(source)], "filename": "hat.png"}
    )
    assert not result.is_error, text_of(result)
    assert path_of(links(result)[0]) == running.out_dir / "hat.png"
    assert png(16, 16) in provider.requests_to("/v1/images/edits")[-1].body
    assert source.read_bytes() == png(16, 16)


def test_a_relative_input_path_is_taken_from_the_server_start_folder(running: Connection) -> None:
    (running.folder / "relative.png").write_bytes(png(16, 16))
    result = running.call(
        "edit_image", {"prompt": "x", "images": ["relative.png"], "provider": "placeholder"}
    )
    assert not result.is_error, text_of(result)


# -- errors --------------------------------------------------------------------------------------


def test_a_size_the_model_refuses_is_a_tool_error_and_nothing_is_sent(
    running: Connection, provider: FaultServer
) -> None:
    sent = len(provider.seen)
    result = running.call("generate_image", {"prompt": "a kite", "size": "1000x1000"})
    assert result.is_error
    text = text_of(result)
    assert (
        text.startswith("error: --size 1000x1000:") and "exit code 2" in text and "nothing was sent" in text
    )
    assert len(provider.seen) == sent


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"prompt": "x", "size": "big"}, "size"), ({"prompt": "x", "n": 99}, "n"), ({"n": 1}, "prompt")],
)
def test_an_argument_outside_the_schema_is_a_tool_error(
    running: Connection, arguments: dict, named: str
) -> None:
    result = running.call("generate_image", arguments)
    assert result.is_error and named in text_of(result) and "exit code 2" in text_of(result)


def test_a_moderation_refusal_is_a_tool_error_saying_rephrase_do_not_retry(running: Connection) -> None:
    result = running.call("generate_image", {"prompt": "something forbidden"})
    assert result.is_error
    text = text_of(result)
    assert "safety system" in text.splitlines()[0] and "exit code 4" in text
    assert "Rephrase" in text and "do not retry" in text


def test_an_unknown_tool_is_a_tool_error(running: Connection) -> None:
    result = running.call("delete_everything", {})
    assert result.is_error and "unknown tool" in text_of(result)


# -- progress ------------------------------------------------------------------------------------


def test_progress_is_reported_while_a_slow_call_waits(running: Connection) -> None:
    PROGRESS_SEEN.clear()
    running.progress.clear()
    result = running.call("generate_image", {"prompt": "slow"}, on_progress=lambda *_: PROGRESS_SEEN.set())
    assert not result.is_error, text_of(result)
    assert running.progress and all("s elapsed" in (message or "") for _, message in running.progress)


def test_each_partial_preview_is_reported_as_progress(running: Connection) -> None:
    running.progress.clear()
    arguments = {"prompt": "a stream", "stream": True, "partial_images": 2, "filename": "streamed.png"}
    result = running.call("generate_image", arguments)
    assert not result.is_error, text_of(result)
    previews = [message for _, message in running.progress if "partial image" in (message or "")]
    assert len(previews) == 2
    assert len(json.loads(text_of(result))["partial_paths"]) == 2
    values = [value for value, _ in running.progress]
    assert values == sorted(set(values))  # always increasing


# -- the free tools ------------------------------------------------------------------------------


def test_dry_run_shows_the_request_with_the_key_redacted_and_sends_nothing(
    running: Connection, provider: FaultServer
) -> None:
    sent = len(provider.seen)
    arguments = {"prompt": "a kite", "size": "1536x1024", "format": "webp", "quality": "high", "n": 2}
    result = running.call("dry_run", arguments)
    document = json.loads(text_of(result))
    assert document["dry_run"] is True
    body = document["body"]
    assert (body["size"], body["output_format"], body["quality"], body["n"]) == (
        "1536x1024",
        "webp",
        "high",
        2,
    )
    assert [Path(path).suffix for path in document["output_paths"]] == [".webp", ".webp"]
    assert API_KEY not in text_of(result) and len(provider.seen) == sent


def test_check_config_and_list_providers_answer_the_cli_json(running: Connection) -> None:
    config = json.loads(text_of(running.call("check_config")))
    assert config["ok"] is True and config["profiles"][0]["key"].endswith(API_KEY[-4:])
    providers = json.loads(text_of(running.call("list_providers")))
    assert "placeholder" in [row["name"] for row in providers["providers"]]


# -- protocol hygiene and the key ----------------------------------------------------------------


def test_only_the_protocol_reaches_stdout_and_the_key_reaches_no_message(
    provider: FaultServer, tmp_path: Path
) -> None:
    write_config(tmp_path / "private" / "config.json", {"api_key": API_KEY, "base_url": provider.base_url})
    with serving(tmp_path, "--config", "private/config.json") as connection:  # relative: fixed at start-up
        noisy = connection.call("generate_image", {"prompt": "loud", "provider": "noisy", "size": "64x64"})
        echoed = connection.call("generate_image", {"prompt": "echo my key"})
        config = connection.call("check_config")
        answers = [noisy, echoed, config, connection.call("dry_run", {"prompt": "x"})]
    assert not noisy.is_error and echoed.is_error
    assert json.loads(text_of(config))["path"] == str(tmp_path / "private" / "config.json")
    wire = connection.wire_log.read_text(encoding="utf-8")
    for line in wire.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"
    stderr = connection.stderr_log.read_text(encoding="utf-8")
    assert "noise from print" in stderr and "noise written to fd 1" in stderr
    for text in [wire, stderr, *(answer.model_dump_json() for answer in answers)]:
        assert API_KEY not in text and KEY_TAIL not in text


def test_a_tool_error_names_the_exit_code_and_what_to_do() -> None:
    from imagegate.errors import ContentRefused

    text = error_text(ContentRefused("refused", hints=("Rephrase the prompt.",)))
    assert text.splitlines() == [
        "error: refused",
        "hint: Rephrase the prompt.",
        "exit code 4 (as the imagegate command would exit): refused by the provider's content policy or "
        "moderation. Rephrase the prompt (or use another image); do not retry the same request.",
    ]


def test_progress_ticks_with_elapsed_seconds_while_the_provider_is_slow(
    server: FaultServer, tmp_path: Path
) -> None:
    from mcp import Client

    from imagegate.config import default_path
    from imagegate.mcp_server import build_server
    from imagegate.mcp_tools import Settings

    ticks: list[tuple[float, str | None]] = []
    enough = threading.Event()
    server.generations(lambda request: (enough.wait(30), image_reply(png()))[1])
    settings = Settings(default_path(), tmp_path, tmp_path, progress_interval=0.01)

    async def callback(value: float, total: float | None, message: str | None) -> None:
        ticks.append((value, message))
        if len(ticks) >= 3:
            enough.set()

    async def scenario() -> Any:
        async with Client(build_server(settings), mode="legacy") as client:
            return await client.call_tool("generate_image", {"prompt": "slow"}, progress_callback=callback)

    result = anyio.run(scenario)
    assert not result.is_error, text_of(result)
    assert len(ticks) >= 3 and all(message and message.endswith("s elapsed") for _, message in ticks)
    assert [value for value, _ in ticks] == sorted({value for value, _ in ticks})


def test_without_the_sdk_imagegate_mcp_exits_2_saying_how_to_install_it(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mcp" else real(name, *a)
    )
    done = cli("mcp")
    assert done.code == 2 and "pip install 'imagegate[mcp]'" in done.err and done.out == ""


def test_the_readme_shows_each_client_config_without_a_key() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## MCP server\n")
    section = readme[start : readme.index("\n## ", start + 1)]
    blocks = "".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))
    shell = "\n".join(line for line in blocks.splitlines() if line.startswith(("codex", "claude")))
    assert "codex mcp add imagegate -- imagegate mcp" in shell
    assert "claude mcp add --scope user imagegate -- imagegate mcp" in shell  # options before the name
    [table] = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    tomllib = pytest.importorskip("tomllib")
    entry = tomllib.loads(table)["mcp_servers"]["imagegate"]
    assert entry["args"][0] == "mcp" and entry["tool_timeout_sec"] >= 600
    [generic] = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    assert json.loads(generic)["mcpServers"]["imagegate"]["args"][0] == "mcp"
    for block in (shell, table, generic):
        assert not re.search(r"key|token|--env|-e |env\b", block, flags=re.I)


@dataclass
class Stub:
    """An image as a Result holds it: where it is, what it is, how big."""

    path: Path
    size: int
    width: int | None
    height: int | None
    mime: str = "image/png"


@pytest.mark.parametrize(
    ("mode", "size", "side", "inline"),
    [
        ("small", 100, 1024, True),
        ("small", 100, 2048, False),  # over 2000 px a side
        ("small", 2 * 1024 * 1024, 1024, False),  # over 1 MB
        ("never", 100, 64, False),
        ("always", 2 * 1024 * 1024, 4096, True),
    ],
)
def test_an_image_is_inlined_only_when_the_mode_allows_it(
    tmp_path: Path, mode: str, size: int, side: int, inline: bool
) -> None:
    from imagegate.mcp_server import _content
    from imagegate.mcp_tools import Outcome

    path = tmp_path / "a.png"
    path.write_bytes(png())
    blocks = _content(Outcome({"ok": True}, [Stub(path, size, side, side)]), mode)
    assert [block.type for block in blocks] == ["text", "resource_link", *(["image"] if inline else [])]


def test_small_images_share_one_inline_budget(tmp_path: Path) -> None:
    from imagegate.mcp_server import INLINE_MAX_BYTES, _content
    from imagegate.mcp_tools import Outcome

    path = tmp_path / "a.png"
    path.write_bytes(png())
    images = [Stub(path, INLINE_MAX_BYTES // 2 + 1, 64, 64) for _ in range(3)]
    blocks = _content(Outcome({"ok": True}, images), "small")
    assert [block.type for block in blocks].count("image") == 1
    assert [block.type for block in blocks].count("resource_link") == 3


def test_a_stop_while_a_paid_call_runs_says_it_may_be_billed(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagegate import mcp_server
    from imagegate.errors import Interrupted

    monkeypatch.setattr(mcp_server, "IN_FLIGHT", ["generate_image"])
    stop = Interrupted("terminated", exit_code=143)
    mcp_server._note_in_flight(stop)
    assert "generate_image" in stop.hints[-1] and "billed" in stop.hints[-1]


def test_a_polled_job_s_status_is_reported_as_progress(make_config: Any, tmp_path: Path) -> None:
    from mcp import Client

    from imagegate.config import default_path
    from imagegate.mcp_server import build_server
    from imagegate.mcp_tools import Settings
    from imagegate.testing import registered

    from .support.jobs import JobsAdapter

    messages: list[str | None] = []

    async def callback(value: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    with registered(JobsAdapter), FaultServer() as jobs:
        make_config(
            {"provider": "jobs", "api_key": API_KEY, "base_url": jobs.base_url, "poll_interval": 0.01}
        )
        jobs.script("/v1/jobs", Reply(body={"id": "job-7", "polling_url": jobs.root + "/v1/poll"}))
        ready = {"b64": base64.b64encode(png()).decode()}
        jobs.script(
            "/v1/poll", Reply(body={"status": "Queued"}), Reply(body={"status": "Ready", "result": ready})
        )
        settings = Settings(default_path(), tmp_path, tmp_path)

        async def scenario() -> Any:
            async with Client(build_server(settings), mode="legacy") as client:
                return await client.call_tool(
                    "generate_image", {"prompt": "later"}, progress_callback=callback
                )

        result = anyio.run(scenario)
    assert not result.is_error, text_of(result)
    assert any(message and message.startswith("job job-7 at jobs: Queued") for message in messages)
