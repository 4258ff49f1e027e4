"""The MCP server's tools, free of the MCP SDK: what each one runs, where its files go, and the
text of a tool error (their schemas are in ``mcp_schema``).

Every tool calls the library path the CLI uses (``dispatch.run``, the config and provider
descriptions), so an agent gets the same checks, the same files and the same JSON as a person at a
shell.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import EXIT_CODES, ImagegateError, Interrupted, UsageError
from .options import Asked
from .progress import Progress
from .secret import redact
from .untrusted import HINT_LIMIT, untrusted

#: Seconds between progress notifications while a call waits for the provider.
PROGRESS_INTERVAL = 5.0
INLINE_MODES = ("never", "small", "always")
#: The longest filename an agent may give (file systems allow 255 bytes; numbered copies add a few).
MAX_NAME_BYTES = 200


@dataclass(frozen=True)
class Settings:
    """What the server was started with, fixed for its whole life (clients may drop the environment)."""

    config: Path
    out_dir: Path
    start_dir: Path
    profile: str | None = None
    inline: str = "small"
    progress_interval: float = PROGRESS_INTERVAL
    config_given: bool = False  # --config was given: the file must exist, as with the CLI

    def config_for_call(self) -> Path | None:
        """The config a call uses: None while the default file is absent, so keyless providers still work."""
        return self.config if self.config_given or self.config.exists() else None


@dataclass
class Outcome:
    """What a tool answers: the CLI's JSON document and the images it saved (for links and previews)."""

    document: dict[str, Any]
    images: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Tool:
    """One tool: its name, what an agent reads about it, its input schema and what it runs."""

    name: str
    title: str
    description: str
    schema: dict[str, Any]
    run: Callable[[Settings, dict[str, Any], Progress], Outcome]
    paid: bool = False  # a call may cost money (with a paid provider)


def output_target(out_dir: Path, filename: str | None) -> str:
    """Where the images go: ``filename`` inside ``out_dir``, or a new timestamped name there.

    The name is one plain file name, so it cannot reach outside the folder.
    """
    if filename is None:
        return str(out_dir) + os.sep
    plain = Path(filename).name == filename and "\\" not in filename and filename.isprintable()
    hidden = filename in (".", "..") or filename.startswith(".") or filename != filename.strip()
    if not plain or hidden or len(os.fsencode(filename)) > MAX_NAME_BYTES:
        raise UsageError(
            "filename must be a plain file name such as lighthouse.png "
            "(no folder, not hidden, no control or direction characters, at most 200 bytes)",
            hints=(f"Images are written in {out_dir}; leave filename out for a new timestamped name.",),
        )
    if (out_dir / filename).is_dir():
        raise UsageError(f"filename {filename}: {out_dir / filename} is a folder")
    return str(out_dir / filename)


def input_path(settings: Settings, text: str) -> Path:
    """An input image's path: absolute as given, else taken from the folder the server started in."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else settings.start_dir / path


# -- what a tool error says ---------------------------------------------------------------------

#: What an agent should do after each exit code (the CLI's meaning, then the next step).
ADVICE = {
    2: "Fix the arguments (or the config, in the user's own terminal) and call again.",
    3: "Nothing was made. Fix what the message names (for a rate limit, wait before calling again).",
    4: "Rephrase the prompt (or use another image); do not retry the same request.",
    5: "If the hint says the request was sent, it may be billed: look in the output folder first.",
    6: "The request was sent and may be billed; retrying may fail the same way.",
    7: "Do not call again: the image was paid for and saved where the hint says.",
}
_OUTPUT_EXISTS_HINT = "Choose another --out, or add --force to overwrite it."
_MCP_OUTPUT_HINT = (
    "Give another filename, or leave it out for a new timestamped name (nothing is overwritten)."
)


def error_text(error: BaseException) -> str:
    """The CLI's one-line message, its hints and what the exit code means, as a tool error's text."""
    if isinstance(error, (ImagegateError, Interrupted)):
        message, hints, code = error.message, error.hints, error.exit_code
    else:
        message = f"internal error: {type(error).__name__}: {error}"
        hints, code = ("this is a bug in imagegate; please report it (not your key)",), 1
    lines = [f"error: {untrusted(message)}"]
    lines += [
        f"hint: {untrusted(_MCP_OUTPUT_HINT if hint == _OUTPUT_EXISTS_HINT else hint, HINT_LIMIT)}"
        for hint in hints
    ]
    meaning = EXIT_CODES.get(code, "failed")
    lines.append(f"exit code {code} (as the imagegate command would exit): {meaning}. {ADVICE.get(code, '')}")
    return redact("\n".join(lines).rstrip())


def json_text(document: dict[str, Any]) -> str:
    """The document as the CLI prints it: indented JSON, NaN and infinities as null, key scrubbed."""
    from .cli.console import render

    return render(document)


# -- what the tools run -------------------------------------------------------------------------


def option_field(argument: str) -> str:
    """The option table row a tool argument stands for (``format`` is the row ``output_format``)."""
    from .options import TABLE

    return next((option.name for option in TABLE if argument in option.aliases), argument)


def options_from(settings: Settings, arguments: dict[str, Any]) -> Asked:
    """What one call asks for, from arguments already checked against the tool's schema."""
    asked = {item.name for item in fields(Asked)} - {"prompt", "images", "mask"}
    chosen = {option_field(name): value for name, value in arguments.items()}
    mask = arguments.get("mask")
    return Asked(
        prompt=arguments["prompt"],
        images=[input_path(settings, path) for path in arguments.get("images", [])],
        mask=input_path(settings, mask) if mask is not None else None,
        **{name: value for name, value in chosen.items() if name in asked},
    )


def make_images(settings: Settings, arguments: dict[str, Any], progress: Progress) -> Outcome:
    """generate_image and edit_image: one paid call, its images saved under the output folder."""
    result = _run(settings, arguments, progress, dry_run=False)
    return Outcome(result.to_json(), list(result.images))


def dry_run(settings: Settings, arguments: dict[str, Any], progress: Progress) -> Outcome:
    """The request a call would send (key redacted), with every check a real call makes; nothing is sent."""
    return Outcome(_run(settings, arguments, progress, dry_run=True).to_json())


def _run(settings: Settings, arguments: dict[str, Any], progress: Progress, *, dry_run: bool) -> Any:
    from .dispatch import run

    return run(
        options_from(settings, arguments),
        config=settings.config_for_call(),
        profile=arguments.get("profile", settings.profile),
        provider=arguments.get("provider"),
        out=output_target(settings.out_dir, arguments.get("filename")),
        force=False,  # this server never overwrites a file
        dry_run_only=dry_run,
        notify=progress.note,
        progress=progress,
    )


def list_providers(settings: Settings, arguments: dict[str, Any], progress: Progress) -> Outcome:
    """The installed providers, as ``imagegate providers --json`` shows them."""
    from .cli.providers import json_listing

    return Outcome(json_listing()[0])


def check_config(settings: Settings, arguments: dict[str, Any], progress: Progress) -> Outcome:
    """The redacted summary ``imagegate config check`` prints: providers, endpoints, key fingerprints."""
    from .cli.config import describe_config

    described, problems = describe_config(settings.config)
    document = {"ok": not problems, "path": str(settings.config), **described}
    if problems:
        document["problems"] = [problem.message for problem in problems]
    return Outcome(document)
