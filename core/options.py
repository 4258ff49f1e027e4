"""The options of one image call, provider-neutral, as the CLI, the library and batch build them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: The operations an adapter may support (``Adapter.operations``); a call is a generate or an edit.
GENERATE = "generate"
EDIT = "edit"
MASK = "mask"
STREAM = "stream"
POLL = "poll"  # the adapter answers later: the core polls (core/exchange.py)
OPERATIONS = (GENERATE, EDIT, MASK, STREAM, POLL)

DEFAULT_SIZE = "1024x1024"
DEFAULT_QUALITY = "auto"
DEFAULT_FORMAT = "png"
DEFAULT_TIMEOUT = 600.0
FORMATS = ("png", "jpeg", "webp")
QUALITIES = ("low", "medium", "high", "auto", "standard", "hd")

#: Option names that map one-to-one onto request body fields of the Images API, when set.
BODY_FIELDS = (
    "size",
    "quality",
    "background",
    "output_compression",
    "moderation",
    "input_fidelity",
    "user",
    "style",
)


@dataclass
class Options:
    """Everything one call needs besides the config profile. ``None`` means "not set"."""

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

    @property
    def operation(self) -> str:
        """``edit`` when input images are given, else ``generate``.

        As the ``gpt-image-2-apikey`` script this tool replaces decided it.
        """
        return EDIT if self.images else GENERATE

    def body_fields(self) -> dict[str, Any]:
        """The set, provider-neutral body fields (size, quality, ...) in API spelling."""
        return {name: getattr(self, name) for name in BODY_FIELDS if getattr(self, name) is not None}

    def resolved(self, settings: dict[str, Any]) -> Options:
        """Fill unset options from a profile's keys, then from the built-in defaults.

        Explicit values (flags, keywords) win over the profile, which wins over the defaults.
        """
        changes: dict[str, Any] = {}
        for name, default in _DEFAULTS.items():
            if getattr(self, name) is None:
                key = _PROFILE_KEY.get(name, name)
                changes[name] = settings.get(key, default)
        return replace(self, **changes)

    def with_changes(self, **changes: Any) -> Options:
        """A copy with some fields replaced."""
        return replace(self, **changes)


#: Options filled from the profile when unset, with the built-in default used after that.
_DEFAULTS: dict[str, Any] = {
    "size": DEFAULT_SIZE,
    "quality": DEFAULT_QUALITY,
    "n": 1,
    "output_format": DEFAULT_FORMAT,
    "timeout": DEFAULT_TIMEOUT,
    "retries": None,
    "background": None,
    "output_compression": None,
    "moderation": None,
    "input_fidelity": None,
    "user": None,
    "style": None,
}
#: Where the profile spells an option differently (the ``--format`` flag kept from
#: the ``gpt-image-2-apikey`` script).
_PROFILE_KEY = {"output_format": "format"}


def option_names() -> list[str]:
    """Every option name, for batch files and library keyword checks."""
    return [f.name for f in fields(Options)]
