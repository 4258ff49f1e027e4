"""``imagegate mcp``: an MCP server on stdio, built on the official MCP Python SDK (``imagegate[mcp]``).

The agent's MCP config names only the command; the key stays in imagegate's private config file.
Results are the CLI's JSON as text, a ``resource_link`` per saved image and, only when it is small,
the image inline (never ``structuredContent``, which clients show instead of the images). Nothing
but the protocol reaches stdout: the wire gets its own copy of the descriptor, and fd 1 and
``sys.stdout`` point at stderr while the server runs.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import mcp.types as types
from mcp.server.lowlevel import Server

from . import __version__
from .errors import UsageError
from .mcp_schema import tools
from .mcp_tools import Outcome, Settings, Tool, error_text, json_text
from .progress import Progress, Ticker
from .schema import first_error
from .secret import redact

log = logging.getLogger("imagegate.mcp")
#: The paid calls running now (a SIGTERM while one waits for the provider is reported with them).
IN_FLIGHT: list[str] = []

#: Largest image sent inline with ``--inline-images small``: bytes, and pixels a side.
INLINE_MAX_BYTES = 1024 * 1024
INLINE_MAX_SIDE = 2000
INSTRUCTIONS = (
    "imagegate makes and edits images through the image provider configured by the user; the API key "
    "stays in imagegate's private config and is never needed here. generate_image and edit_image can "
    "cost money (dry_run is free; list_providers shows which providers need no key). Images are saved as "
    "files in the server's output folder and returned as absolute paths and resource links. "
    "On an error, follow its hint; do not retry a content-policy refusal unchanged."
)


def build_server(settings: Settings) -> Server[Any]:
    """The low-level SDK server with imagegate's tools (schemas published and enforced as stated)."""
    table = tools()

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_described(tool) for tool in table.values()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = table.get(params.name)
        try:
            if tool is None:
                raise UsageError(f"unknown tool {params.name!r}", hints=(f"Tools: {', '.join(table)}",))
            outcome = await _call(settings, tool, dict(params.arguments or {}), ctx.session)
            return types.CallToolResult(content=_content(outcome, settings.inline))
        except Exception as exc:  # a bad argument or a failed call is the agent's to read, never a crash
            log.info("tool %s failed: %s", params.name, redact(str(exc)))
            return types.CallToolResult(content=[_text(error_text(exc))], is_error=True)

    return Server(
        "imagegate",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _described(tool: Tool) -> types.Tool:
    annotations = types.ToolAnnotations(
        title=tool.title,
        read_only_hint=not tool.paid,
        destructive_hint=False,  # nothing is ever overwritten or deleted
        idempotent_hint=not tool.paid,
        open_world_hint=tool.paid,  # only the paid tools reach the provider
    )
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.schema,
        annotations=annotations,
        _meta={"imagegate/costs_money": tool.paid},
    )


async def _call(settings: Settings, tool: Tool, arguments: dict[str, Any], session: Any) -> Outcome:
    """Check the arguments, then run the tool on a worker thread, reporting progress meanwhile."""
    problem = first_error(arguments, tool.schema)
    if problem is not None:
        raise UsageError(f"argument {problem}", hints=("See the tool's input schema for the choices.",))
    reporter = _Reporter(session)

    running = [tool.name] if tool.paid else []

    def work() -> tuple[Outcome | None, BaseException | None]:
        IN_FLIGHT.extend(running)
        try:
            return tool.run(settings, arguments, reporter.progress), None
        except BaseException as exc:  # raised below, outside the task group (which would wrap it)
            return None, exc
        finally:
            for name in running:
                IN_FLIGHT.remove(name)

    async with anyio.create_task_group() as group:
        if tool.paid:
            group.start_soon(reporter.tick, settings.progress_interval)
        outcome, error = await anyio.to_thread.run_sync(work)
        group.cancel_scope.cancel()
    if error is not None:
        raise error
    assert outcome is not None
    return outcome


class _Reporter:
    """Progress notifications for one call: elapsed seconds while waiting, one per note (partial previews)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.started = time.monotonic()
        self.last = 0.0
        self.ticker: Ticker | None = None  # the call's clock label, once it waits (a job's status)
        self.lock = anyio.Lock()
        self.progress = _Forwarding(self)

    async def send(self, message: str) -> None:
        async with self.lock:  # one at a time, so the values reach the client in increasing order
            elapsed = time.monotonic() - self.started
            self.last = max(round(elapsed, 1), self.last + 0.1)  # progress must always increase
            with contextlib.suppress(Exception):  # a client gone away is not the call's failure
                await self.session.report_progress(self.last, None, redact(message))

    async def tick(self, interval: float) -> None:
        while True:
            what = self.ticker.what if self.ticker is not None else "working"
            await self.send(f"{what}: {time.monotonic() - self.started:.0f} s elapsed")
            await anyio.sleep(interval)


class _Forwarding(Progress):
    """The library's progress sink: notes (retries, partial previews) become progress notifications."""

    def __init__(self, reporter: _Reporter) -> None:
        super().__init__(quiet=True)
        self.reporter = reporter

    def note(self, message: str) -> None:
        try:
            anyio.from_thread.run(self.reporter.send, message)
        except RuntimeError:  # not on the server's worker thread: say it on stderr instead
            log.info("%s", redact(message))

    @contextlib.contextmanager
    def waiting(self, what: str = "waiting for the provider") -> Iterator[Ticker]:
        """The call's clock: its label (a polled job's status) shows in the elapsed-seconds notifications."""
        self.reporter.ticker = Ticker(what)
        try:
            yield self.reporter.ticker
        finally:
            self.reporter.ticker = None


def _content(outcome: Outcome, inline: str) -> list[Any]:
    """The CLI's JSON as text, a resource_link per image, and the image itself when allowed."""
    blocks: list[Any] = [_text(json_text(outcome.document))]
    budget = INLINE_MAX_BYTES
    for image in outcome.images:
        if image.path is None:
            continue
        blocks.append(
            types.ResourceLink(
                type="resource_link",
                uri=image.path.as_uri(),
                name=image.path.name,
                mime_type=image.mime,
                size=image.size,
            )
        )
        if _inline(image, inline, budget):
            budget -= image.size
            data = base64.b64encode(image.path.read_bytes()).decode("ascii")
            blocks.append(types.ImageContent(type="image", data=data, mime_type=image.mime))
    return blocks


def _inline(image: Any, mode: str, budget: int) -> bool:
    """Whether to send an image inline: ``always``, or ``small`` and within the size and pixel limits."""
    if mode == "always":
        return True
    sides = [side for side in (image.width, image.height) if side is not None]
    return mode == "small" and image.size <= budget and len(sides) == 2 and max(sides) <= INLINE_MAX_SIDE


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


# -- stdio ---------------------------------------------------------------------------------------


def serve(settings: Settings) -> int:
    """Serve MCP on this process's stdin and stdout until the client closes stdin."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="imagegate mcp: %(message)s")
    server = build_server(settings)  # loads the plugins before the first call
    sys.stderr.write(f"imagegate mcp {__version__}: config {settings.config}, images in {settings.out_dir}\n")
    sys.stderr.flush()
    with _claimed_stdio() as (wire_in, wire_out):

        async def run() -> None:
            from mcp.server.stdio import stdio_server

            async with stdio_server(anyio.wrap_file(wire_in), anyio.wrap_file(wire_out)) as (read, write):
                await server.run(read, write, server.create_initialization_options())

        try:
            anyio.run(run)
        except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM (Interrupted): name what was cut short
            _note_in_flight(stop)
            raise
    return 0


def _note_in_flight(stop: KeyboardInterrupt) -> None:
    """Add a hint naming the calls the stop cut short: a sent request may be billed without a file."""
    if IN_FLIGHT and hasattr(stop, "hints"):
        stop.hints = (
            *stop.hints,
            f"{len(IN_FLIGHT)} call(s) were running ({', '.join(IN_FLIGHT)}): a request already sent may be "
            "billed by the provider although its image was not saved.",
        )


class _RedactingWire(io.TextIOWrapper):
    """The protocol's stdout: every message is scrubbed of known secrets before it is written."""

    def write(self, text: str) -> int:
        return super().write(redact(text))


@contextlib.contextmanager
def _claimed_stdio() -> Iterator[tuple[io.TextIOWrapper, io.TextIOWrapper]]:
    """Private copies of fd 0 and 1 for the protocol; fd 1 and ``sys.stdout`` go to stderr meanwhile.

    So nothing else (a print, a library, a child process) can write into the protocol or read from it.
    """
    sys.stdout.flush()
    wire_in_fd, wire_out_fd = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr
    wire_in = io.TextIOWrapper(os.fdopen(wire_in_fd, "rb"), encoding="utf-8", errors="replace")
    wire_out = _RedactingWire(os.fdopen(wire_out_fd, "wb"), encoding="utf-8", line_buffering=True)
    try:
        yield wire_in, wire_out
    finally:
        sys.stdout = saved_stdout
        for wire in (wire_out, wire_in):
            with contextlib.suppress(Exception):
                wire.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
