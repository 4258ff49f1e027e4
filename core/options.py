"""The options of one image call: THE option table, what the user asked (Asked), what adapters get (Options).

Each fact about an option (its type, values or range, built-in default, profile key, CLI flags,
help, keyword aliases, body field) is written once, in :data:`TABLE`. The CLI flags
(``imagegate.cli.image``), the library and batch keywords and the neutral checks
(``imagegate.option_values``) and the profile keys of ``schemas/config.schema.json``
(:func:`profile_properties`, kept in sync by a test) all come from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypedDict

__all__ = [
    "BATCH",
    "EDIT",
    "GENERATE",
    "MASK",
    "OPERATIONS",
    "POLL",
    "STREAM",
    "TABLE",
    "Asked",
    "ImageOptions",
    "Option",
    "Options",
    "option_names",
    "profile_properties",
    "row",
]

#: The operations an adapter may support (``Adapter.operations``); a call is a generate or an edit.
GENERATE = "generate"
EDIT = "edit"
MASK = "mask"
STREAM = "stream"
POLL = "poll"  # the provider answers later: the core polls until the image is ready
BATCH = "batch"  # the provider runs many jobs on its own batch engine (imagegate batch --remote)
OPERATIONS = (GENERATE, EDIT, MASK, STREAM, POLL, BATCH)

#: Where a row lives: an Asked/Options field, a keyword of the call itself, or a profile key only.
Role = Literal["option", "call", "profile"]


@dataclass(frozen=True)
class Option:
    """One row of the table: every fact about one option, call keyword or profile key."""

    name: str  # the Asked/Options field, call keyword or profile key
    type: type = str  # str, int, float, bool, dict, list (of paths) or Path
    role: Role = "option"
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    above: bool = False  # low is excluded (a number above ``low``)
    pattern: str | None = None  # the whole value must match (neutral check)
    nonempty: bool = False  # a profile string must not be empty
    default: Any = None  # the built-in default of the resolved Options
    profile: str | None = None  # the profile key giving this option's default
    fill: bool = False  # unset: taken from the profile key, then the built-in default
    flags: tuple[str, ...] = ()  # CLI flags; the first names the option in messages
    aliases: tuple[str, ...] = ()  # keyword spellings besides ``name``
    help: str = ""
    metavar: str | None = None
    body: bool = False  # sent as the Images API body field of the same name, when set
    parse_range: bool = False  # the CLI refuses an out-of-range value while parsing
    batch: bool = True  # the flag is also a batch-wide default of ``imagegate batch``
    schema: Mapping[str, Any] | None = None  # the profile schema, when type and range do not say it

    @property
    def flag(self) -> str:
        """How messages name the option: its first flag, else its name."""
        return self.flags[0] if self.flags else self.name


SIZE = r"auto|[1-9][0-9]{0,5}x[1-9][0-9]{0,5}"
#: A profile's known rate limit: requests per period (``5/min``, ``50/min``, ``2/s``).
RATE = r"\s*[0-9]+(\.[0-9]+)?\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*"
#: A profile's spend caps in USD (either or both), checked before each paid call.
BUDGET: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "daily_usd": {"type": "number", "minimum": 0},
        "monthly_usd": {"type": "number", "minimum": 0},
        "ledger": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
    "minProperties": 1,
}
SIZE_HELP = "WIDTHxHEIGHT or auto"
RETRIES_HELP = (
    "retries of 503s and unsent connections, never of a sent request (default 2); "
    "rate limits (429) wait as the provider asks, within --timeout"
)
TABLE: tuple[Option, ...] = (
    Option("prompt", flags=("--prompt",), batch=False,
           help="the image prompt or edit instruction (required)"),
    Option("out", Path, "call", flags=("--out",), metavar="PATH", batch=False,
           help="output file; more images get -2, -3 before the extension"),
    Option("images", list, high=16, flags=("--edit-image",), aliases=("edit_images", "edit_image"),
           metavar="PATH", batch=False, help="input image to edit (repeatable); present means edit"),
    Option("mask", Path, flags=("--mask",), metavar="PATH", batch=False,
           help="PNG mask: transparent pixels mark the area to edit"),
    Option("config", Path, "call", flags=("--config",), metavar="PATH",
           help="private config file (default: $XDG_CONFIG_HOME/gpt-image-2-apikey/config.json)"),
    Option("profile", str, "call", flags=("--profile",), metavar="NAME", help="profile of the config to use"),
    Option("provider", str, "call", nonempty=True, profile="provider", flags=("--provider",), metavar="NAME",
           help="provider adapter, overriding the config's (see: imagegate providers)"),
    Option("api_key", str, "profile", nonempty=True, profile="api_key"),
    Option("base_url", str, "profile", profile="base_url",
           schema={"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9+.-]*://[^\\s/]+"}),
    Option("model", nonempty=True, profile="model", flags=("--model",),
           help="model, overriding the config's"),
    Option("extra_body", dict, profile="extra_body"),
    Option("timeout", float, low=0, above=True, high=86400, default=600.0, profile="timeout", fill=True,
           flags=("--timeout",), metavar="SECONDS", help="total time allowed for the call"),
    Option("retries", int, low=0, high=10, profile="retries", fill=True, flags=("--retries",), metavar="N",
           help=RETRIES_HELP),
    Option("max_retry_wait", float, "profile", low=0, default=60.0, profile="max_retry_wait"),
    Option("download_max_bytes", int, "profile", low=1, default=64 * 1024 * 1024,
           profile="download_max_bytes"),
    Option("image_max_bytes", int, "profile", low=1, default=64 * 1024 * 1024, profile="image_max_bytes"),
    Option("answer_max_bytes", int, "profile", low=1, default=1024 * 1024 * 1024, profile="answer_max_bytes"),
    Option("rate_limit", str, "profile", pattern=RATE, profile="rate_limit",
           schema={"type": "string", "pattern": f"^(?:{RATE})$"}),
    Option("budget", dict, "profile", profile="budget", schema=BUDGET),
    Option("budget_unknown_models", choices=("refuse", "allow"), role="profile",
           profile="budget_unknown_models"),
    Option("size", pattern=SIZE, default="1024x1024", profile="size", fill=True, flags=("--size",),
           help=SIZE_HELP, body=True),
    Option("quality", choices=("low", "medium", "high", "auto", "standard", "hd"), default="auto",
           profile="quality", fill=True, flags=("--quality",), body=True),
    Option("output_format", choices=("png", "jpeg", "webp"), default="png", profile="format", fill=True,
           flags=("--format",), aliases=("format",), help="png, jpeg or webp"),
    Option("n", int, low=1, high=10, default=1, profile="n", fill=True, flags=("--n",), metavar="N",
           help="number of images, 1-10"),
    Option("background", choices=("transparent", "opaque", "auto"), profile="background", fill=True,
           flags=("--background",), help="transparent needs --format png or webp", body=True),
    Option("output_compression", int, low=0, high=100, profile="output_compression", fill=True,
           flags=("--output-compression",), metavar="0-100", help="compression of jpeg or webp output",
           body=True, parse_range=True),
    Option("moderation", choices=("low", "auto"), profile="moderation", fill=True, flags=("--moderation",),
           help="moderation level of generations", body=True),
    Option("input_fidelity", choices=("high", "low"), profile="input_fidelity", fill=True,
           flags=("--input-fidelity",), help="how closely edits keep the input images (edits)", body=True),
    Option("user", profile="user", fill=True, flags=("--user",), metavar="ID",
           help="an end-user id passed to the provider", body=True),
    Option("style", choices=("vivid", "natural"), profile="style", fill=True, flags=("--style",),
           help="image style, for models that have it", body=True),
    Option("stream", bool, flags=("--stream",),
           help="stream: save partial previews beside the output as they arrive"),
    Option("partial_images", int, low=0, high=3, flags=("--partial-images",), metavar="0-3",
           help="partial previews to ask for with --stream", parse_range=True),
    Option("force", bool, "call", flags=("--force",), help="overwrite existing output files"),
    Option("dry_run", bool, "call", flags=("--dry-run",),
           help="show the request (key redacted) and send nothing"),
)  # fmt: skip
_ROWS = {option.name: option for option in TABLE}


def row(name: str) -> Option:
    """The table row of ``name`` (KeyError for a name the table does not have)."""
    return _ROWS[name]


def _default(name: str) -> Any:
    return _ROWS[name].default


@dataclass
class Asked:
    """What the user asked for, from flags, keywords or a batch job. ``None`` means "not set"."""

    prompt: str
    images: list[Path] = field(default_factory=list)
    mask: Path | None = None
    model: str | None = None
    size: str | None = None
    quality: str | None = None
    n: int | None = None
    output_format: str | None = None
    background: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    input_fidelity: str | None = None
    user: str | None = None
    style: str | None = None
    stream: bool = False
    partial_images: int | None = None
    timeout: float | None = None
    retries: int | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    def resolved(self, settings: Mapping[str, Any]) -> Options:
        """The Options of the call: unset options from the profile's keys, then the built-in defaults.

        Explicit values (flags, keywords) win over the profile, which wins over the defaults.
        """
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        for option in TABLE:
            if option.fill and values[option.name] is None:
                values[option.name] = settings.get(option.profile or option.name, option.default)
        return Options(**values)


@dataclass
class Options:
    """Everything one call needs besides the config profile, defaults applied: what adapters receive."""

    prompt: str
    images: list[Path] = field(default_factory=list)
    mask: Path | None = None
    model: str | None = None  # None: the profile's, else the adapter's default
    size: str = _default("size")
    quality: str = _default("quality")
    n: int = _default("n")
    output_format: str = _default("output_format")
    background: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    input_fidelity: str | None = None
    user: str | None = None
    style: str | None = None
    stream: bool = False
    partial_images: int | None = None
    timeout: float = _default("timeout")
    retries: int | None = None  # None: the retry policy's default
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def operation(self) -> str:
        """``edit`` when input images are given, else ``generate``.

        As the ``gpt-image-2-apikey`` script this tool replaces decided it.
        """
        return EDIT if self.images else GENERATE

    def body_fields(self) -> dict[str, Any]:
        """The set, provider-neutral body fields (size, quality, ...) in API spelling."""
        names = (option.name for option in TABLE if option.body)
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def with_changes(self, **changes: Any) -> Options:
        """A copy with some fields replaced."""
        return replace(self, **changes)


class ImageOptions(TypedDict, total=False):
    """The image options as library keywords (``imagegate.generate(prompt, **options)``); a test
    keeps it equal to the table: every option row and alias, with its choices as Literal values."""

    model: str
    size: str
    quality: Literal["low", "medium", "high", "auto", "standard", "hd"]
    n: int
    output_format: Literal["png", "jpeg", "webp"]
    format: Literal["png", "jpeg", "webp"]  # the CLI's spelling of output_format
    background: Literal["transparent", "opaque", "auto"]
    output_compression: int
    moderation: Literal["low", "auto"]
    input_fidelity: Literal["high", "low"]
    user: str
    style: Literal["vivid", "natural"]
    stream: bool
    partial_images: int
    timeout: float
    retries: int
    extra_body: dict[str, Any]
    config: str | os.PathLike[str]
    profile: str
    provider: str


def option_names() -> list[str]:
    """Every option name, for batch files and library keyword checks."""
    return [item.name for item in fields(Asked)]


# -- the profile keys of config.schema.json ------------------------------------------------------


def profile_properties() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every profile key, as ``schemas/config.schema.json`` must state it."""
    return {option.profile: _profile_schema(option) for option in TABLE if option.profile}


def _profile_schema(option: Option) -> dict[str, Any]:
    if option.schema is not None:
        return dict(option.schema)
    if option.choices:
        return {"enum": list(option.choices)}
    kind = {str: "string", int: "integer", float: "number", dict: "object", bool: "boolean"}[option.type]
    schema: dict[str, Any] = {"type": kind}
    if option.nonempty:
        schema["minLength"] = 1
    if option.low is not None:
        schema["exclusiveMinimum" if option.above else "minimum"] = option.low
    if option.high is not None:
        schema["maximum"] = option.high
    return schema
