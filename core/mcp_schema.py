"""The MCP tools' descriptions and input schemas.

Choices, patterns and ranges come from the option table (``imagegate.options.TABLE``, the rows
every call is checked against) and the installed providers, so the schema an agent sees is the
rule the command applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import mcp_tools
from .mcp_tools import Tool, option_field
from .options import Option, row

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "string"}
_HELP = {
    "prompt": "What to draw, or for an edit what to change. Plain language; be specific.",
    "size": "WIDTHxHEIGHT such as 1536x1024 (landscape) or 1024x1536 (portrait), or auto; "
    "the model decides which sizes it accepts.",
    "quality": "Rendering quality; higher is slower and costs more.",
    "n": "How many images to make (each one is paid for).",
    "format": "File format.",
    "background": "transparent needs format png or webp.",
    "output_compression": "Compression of jpeg or webp output.",
    "moderation": "Moderation level of generations.",
    "input_fidelity": "How closely the edit keeps the input images.",
    "style": "Image style, for models that have one.",
    "timeout": "Seconds allowed for the whole call.",
    "model": "Model name, overriding the config's (usually leave out).",
    "profile": "Config profile to use (see check_config); default: the server's.",
    "provider": "Provider adapter, overriding the profile's (see list_providers).",
    "filename": "File name in the server's output folder, such as lighthouse.png. "
    "Leave out for a timestamped name; an existing file is never overwritten.",
    "stream": "Stream the call: partial previews are saved beside the image and reported as progress.",
    "partial_images": "How many partial previews to ask for when streaming.",
    "images": "Input image files (absolute paths; relative ones are taken from the folder the "
    "server started in). The first one is the main image.",
    "mask": "PNG mask the size of the first image: its transparent pixels mark the area to edit.",
}
_COMMON = ("size", "quality", "n", "format", "background", "output_compression", "timeout", "model")
_CHOICE = ("profile", "provider", "filename", "stream", "partial_images")
GENERATE_ARGUMENTS = ("prompt", *_COMMON, "moderation", "style", *_CHOICE)
EDIT_ARGUMENTS = ("prompt", "images", "mask", *_COMMON, "input_fidelity", *_CHOICE)
DRY_RUN_ARGUMENTS = ("prompt", "images", "mask", *_COMMON, "moderation", "input_fidelity", "style", *_CHOICE)


def domains() -> dict[str, dict[str, Any]]:
    """Every argument's JSON Schema (type and choices or range), from the option table and the registry."""
    from . import plugins

    names = {*GENERATE_ARGUMENTS, *EDIT_ARGUMENTS, *DRY_RUN_ARGUMENTS} - {"filename", "provider"}
    found = {name: {**row_schema(row(option_field(name))), **_described(name)} for name in names}
    found["filename"] = {"type": "string", "minLength": 1, "pattern": r"^[^/\\]+$"}
    found["filename"]["description"] = _HELP["filename"]
    found["provider"] = {"type": "string", "enum": sorted(plugins.providers())}
    found["provider"]["description"] = _HELP["provider"] + _keyless()
    return found


def _described(name: str) -> dict[str, str]:
    """The argument's description, with the built-in default a profile may change."""
    option = row(option_field(name))
    value = option.default
    shown = f"{value:g}" if isinstance(value, float) else value
    default = f" Default: the profile's, else {shown}." if option.fill and value is not None else ""
    return {"description": _HELP[name] + default}


def row_schema(option: Option) -> dict[str, Any]:
    """The JSON Schema of one option table row: its choices, pattern or range; strings never empty."""
    if option.type is list:  # input image paths
        items = {"type": "string", "minLength": 1}
        return {"type": "array", "items": items, "minItems": 1, "maxItems": int(option.high or 1)}
    if option.choices:
        return {"type": "string", "enum": list(option.choices)}
    schema: dict[str, Any] = {"type": _JSON_TYPES[option.type]}
    if option.pattern is not None:
        schema["pattern"] = f"^(?:{option.pattern})$"
    elif schema["type"] == "string":
        schema["minLength"] = 1
    if option.low is not None:
        schema["exclusiveMinimum" if option.above else "minimum"] = option.low
    if option.high is not None:
        schema["maximum"] = option.high
    return schema


def _keyless() -> str:
    """A sentence naming the installed providers that need no key (a way to try the tools)."""
    from . import plugins

    names = sorted(name for name, record in plugins.providers().items() if not record.adapter.needs_key)
    return f" Installed providers that need no key: {', '.join(names)}." if names else ""


def _schema(names: tuple[str, ...], required: tuple[str, ...], known: dict[str, dict[str, Any]]) -> dict:
    properties = {name: known[name] for name in names}
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_GENERATE = (
    "Generate images from a text prompt and save them as files in the server's output folder. "
    "Costs money with a paid provider (each of the n images is billed). "
    "Returns JSON with the absolute paths and real facts of the images, a link per file and, "
    "when small, the image itself. Slow (up to minutes at high quality): progress is reported."
)
_EDIT = (
    "Edit existing images following a prompt (optionally only where a PNG mask is transparent) and "
    "save the results as new files in the server's output folder; the inputs are never changed. "
    "Costs money with a paid provider. Returns JSON with the absolute paths, a link per file and, "
    "when small, the image itself."
)
_DRY_RUN = (
    "Show the exact request generate_image (or, with images, edit_image) would send, with the key "
    "redacted, after every check a real call makes. Sends nothing, costs nothing, writes nothing."
)
_PROVIDERS = (
    "List the installed image providers: name, operations (generate, edit, mask, stream), whether "
    "each needs a key, and which is the default."
)
_CONFIG = (
    "Check imagegate's private config file and summarise it: profiles, providers, endpoints, models "
    "and a key fingerprint (never the key). Use it when a call fails with a config error."
)


def tools() -> dict[str, Tool]:
    """The server's tools by name."""
    known = domains()
    make, free = mcp_tools.make_images, _schema((), (), known)
    table = (
        Tool(
            "generate_image",
            "Generate an image (paid)",
            _GENERATE,
            _schema(GENERATE_ARGUMENTS, ("prompt",), known),
            make,
            paid=True,
        ),
        Tool(
            "edit_image",
            "Edit images (paid)",
            _EDIT,
            _schema(EDIT_ARGUMENTS, ("prompt", "images"), known),
            make,
            paid=True,
        ),
        Tool(
            "dry_run",
            "Show a request, send nothing (free)",
            _DRY_RUN,
            _schema(DRY_RUN_ARGUMENTS, ("prompt",), known),
            mcp_tools.dry_run,
        ),
        Tool("list_providers", "List image providers (free)", _PROVIDERS, free, mcp_tools.list_providers),
        Tool("check_config", "Check the config (free)", _CONFIG, free, mcp_tools.check_config),
    )
    return {tool.name: tool for tool in table}
