"""The options of one image call: THE option table, what the user asked (Asked), what adapters get (Options).

Each fact about an option (its type, values or range, built-in default, profile key, CLI flags,
help, keyword aliases, body field) is written once, in :data:`TABLE`. The CLI flags
(``imagegate.cli.image``), the library and batch keywords (:func:`from_keywords`), the neutral
checks (:func:`check`) and the profile keys of ``schemas/config.schema.json``
(:func:`profile_properties`, kept in sync by a test) all come from it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypedDict

from .errors import UsageError

__all__ = [
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
    "check",
    "from_keywords",
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
OPERATIONS = (GENERATE, EDIT, MASK, STREAM, POLL)

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
SIZE_HELP = "WIDTHxHEIGHT or auto"
RETRIES_HELP = "retries of rate limits (429), 503 and unsent connections; never of a sent request (default 2)"
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


# -- the neutral checks --------------------------------------------------------------------------


def check(options: Options) -> None:
    """Provider-neutral checks of the resolved options, each value against its row of the table."""
    if not options.prompt or not options.prompt.strip():
        raise UsageError("the prompt is empty; give --prompt or --prompt-file")
    if not is_utf8(options.prompt):
        raise UsageError("the prompt is not valid UTF-8 text (check the terminal's or file's encoding)")
    for option in TABLE:
        if option.role == "option" and option.name != "prompt":
            problem = value_problem(option, getattr(options, option.name))
            if problem:
                raise UsageError(problem)
    if options.mask is not None and not options.images:
        raise UsageError("--mask needs at least one --edit-image to apply to")


def value_problem(option: Option, value: Any) -> str | None:
    """What is wrong with ``value`` for ``option`` (one message), or None; None values are unset."""
    if value is None:
        return None
    if option.type is list:
        return (
            f"{len(value)} input images: at most {option.high:g} are accepted"
            if _over(option, value)
            else None
        )
    if option.choices:
        return None if value in option.choices else f"{option.flag} {value}: must be one of {_listed(option)}"
    if option.pattern is not None:
        return None if _matches(option.pattern, value) else _pattern_problem(option, value)
    if option.type is int and not _whole_in_range(option, value):
        return f"{option.flag} {value}: must be a whole number from {option.low:g} to {option.high:g}"
    if option.type is float and not _number_in_range(option, value):
        unit = f" of {option.metavar.lower()}" if option.metavar else ""
        return f"{option.flag} {value}: must be a number{unit} {_range_words(option)}"
    return None


def _listed(option: Option) -> str:
    return ", ".join(option.choices)


def _over(option: Option, value: list[Any]) -> bool:
    return option.high is not None and len(value) > option.high


def _matches(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _pattern_problem(option: Option, value: Any) -> str:
    text = str(value)
    shown = f" {text}" if len(text) <= 24 and text.isprintable() else ""
    return f"{option.flag}{shown}: must be {option.help} (for example {option.default})"


def _whole_in_range(option: Option, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return (option.low is None or value >= option.low) and (option.high is None or value <= option.high)


def _number_in_range(option: Option, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    low = option.low
    if low is not None and (value <= low if option.above else value < low):
        return False
    return option.high is None or value <= option.high


def _range_words(option: Option) -> str:
    words = []
    if option.low is not None:
        words.append(f"above {option.low:g}" if option.above else f"from {option.low:g}")
    if option.high is not None:
        words.append(f"at most {option.high:g}")
    return ", ".join(words)


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be sent as UTF-8 (undecodable bytes from argv come as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


# -- library and batch keywords ------------------------------------------------------------------

_KIND_NAMES = {str: "a string", int: "a whole number", dict: "an object", bool: "true or false"}


def from_keywords(
    keywords: Mapping[str, Any],
    *,
    call_keys: Collection[str],
    refused: Mapping[str, str] | None = None,
    where: str = "",
    base: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keywords into Asked fields and call keys (``out``, ``provider`` ...), each checked.

    Aliases (``format``, ``edit_images``) are resolved. An unknown keyword, one in ``refused``
    (name -> why), or two spellings of one option raise UsageError naming them. Relative input
    paths are taken from ``base``.
    """
    refused = refused or {}
    prefix = f"{where}: " if where else ""
    values: dict[str, Any] = {}
    calls: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    unknown: list[str] = []
    for key, item in keywords.items():
        name = _ALIASES.get(key, key)
        if name in refused:
            raise UsageError(f"{prefix}{key}: {refused[name]}")
        if name in spelled:
            raise UsageError(f"{prefix}{spelled[name]} and {key} name the same option: give one of them")
        spelled[name] = key
        if name in call_keys:
            calls[name] = _call_value(prefix, key, name, item)
        elif name in _OPTION_NAMES:
            values[name] = _field(prefix, key, name, item, base)
        else:
            unknown.append(key)
    if unknown:
        known = ", ".join(sorted({*call_keys, *_ALIASES, *_OPTION_NAMES} - set(refused)))
        names = ", ".join(repr(key) for key in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise UsageError(f"{prefix}unknown key{plural} {names}", hints=(f"Known keys: {known}",))
    return values, calls


_ALIASES = {alias: option.name for option in TABLE for alias in option.aliases}
_OPTION_NAMES = frozenset(option_names())


def _call_value(prefix: str, key: str, name: str, item: Any) -> Any:
    if _ROWS[name].type is Path and isinstance(item, os.PathLike):
        return os.fspath(item)
    return _checked(prefix, key, item, _kind(name))


def _field(prefix: str, key: str, name: str, item: Any, base: Path | None) -> Any:
    if name == "images":
        items = [item] if isinstance(item, (str, os.PathLike)) else item
        if not isinstance(items, list) or not all(isinstance(p, (str, os.PathLike)) for p in items):
            raise UsageError(f"{prefix}{key} must be a path or a list of paths")
        return [_path(p, base) for p in items]
    if name == "mask":
        return _path(item if isinstance(item, os.PathLike) else _checked(prefix, key, item, str), base)
    return _checked(prefix, key, item, _kind(name))


def _kind(name: str) -> Any:
    """The Python type(s) a keyword's value must have: a float option takes any number."""
    kind = _ROWS[name].type
    return (int, float) if kind is float else str if kind is Path else kind


def _checked(prefix: str, key: str, item: Any, kind: Any) -> Any:
    if isinstance(item, bool) != (kind is bool) or not isinstance(item, kind):
        raise UsageError(f"{prefix}{key} must be {_KIND_NAMES.get(kind, 'a number')}, not {item!r}")
    return item


def _path(text: str | os.PathLike[str], base: Path | None) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path
