"""The MCP tools' descriptions and input schemas.

Choices and ranges are taken from where the code states them (the config schema's option keys,
the size pattern, the input image limit, the installed providers), so the schema an agent sees is
the rule every call is checked against.
"""

from __future__ import annotations

from typing import Any

from . import mcp_tools
from .mcp_tools import Tool

#: Tool argument -> the config profile key that states its domain.
_PROFILE_DOMAINS = {
    "quality": "quality",
    "n": "n",
    "format": "format",
    "background": "background",
    "output_compression": "output_compression",
    "moderation": "moderation",
    "input_fidelity": "input_fidelity",
    "style": "style",
    "timeout": "timeout",
}
_HELP = {
    "prompt": "What to draw, or for an edit what to change. Plain language; be specific.",
    "size": "WIDTHxHEIGHT such as 1024x1024, 1536x1024 (landscape), 1024x1536 (portrait), or auto. "
    "Default 1024x1024; the model decides which sizes it accepts.",
    "quality": "Rendering quality; higher is slower and costs more. Default auto.",
    "n": "How many images to make (each one is paid for). Default 1.",
    "format": "File format. Default png.",
    "background": "transparent needs format png or webp.",
    "output_compression": "Compression of jpeg or webp output, 0-100.",
    "moderation": "Moderation level of generations.",
    "input_fidelity": "How closely the edit keeps the input images.",
    "style": "Image style, for models that have one.",
    "timeout": "Seconds allowed for the whole call. Default 600.",
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
    """Every argument's JSON Schema (type and choices or range), from the code's own tables."""
    from . import plugins
    from .inputs import MAX_INPUT_IMAGES, SIZE_PATTERN
    from .schema import load_schema

    profile = load_schema("config.schema.json")["$defs"]["profile"]["properties"]
    text = {"type": "string", "minLength": 1}
    found: dict[str, dict[str, Any]] = {name: dict(profile[key]) for name, key in _PROFILE_DOMAINS.items()}
    found |= {
        "prompt": text,
        "model": text,
        "profile": text,
        "filename": {**text, "pattern": r"^[^/\\]+$"},
        "size": {"type": "string", "pattern": f"^(?:{SIZE_PATTERN.pattern})$"},
        "provider": {"type": "string", "enum": sorted(plugins.providers())},
        "stream": {"type": "boolean"},
        "partial_images": {"type": "integer", "minimum": 0, "maximum": 3},
        "images": {"type": "array", "items": text, "minItems": 1, "maxItems": MAX_INPUT_IMAGES},
        "mask": text,
    }
    return found


def _keyless() -> str:
    """A sentence naming the installed providers that need no key (a way to try the tools)."""
    from . import plugins

    names = sorted(name for name, record in plugins.providers().items() if not record.adapter.needs_key)
    return f" Installed providers that need no key: {', '.join(names)}." if names else ""


def _schema(names: tuple[str, ...], required: tuple[str, ...], known: dict[str, dict[str, Any]]) -> dict:
    properties = {name: {"description": _HELP[name], **known[name]} for name in names}
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
    keyless = _keyless()
    known["provider"] = {**known["provider"], "description": _HELP["provider"] + keyless}
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
