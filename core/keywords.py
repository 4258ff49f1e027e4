"""Option keywords as the library and batch jobs spell them: one parser for their names and types."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError
from .options import option_names

#: Spellings accepted for Options fields besides their own names (the CLI's flag names).
ALIASES = {"format": "output_format", "edit_images": "images", "edit_image": "images"}
_KINDS: dict[str, Any] = {
    "n": int,
    "output_compression": int,
    "retries": int,
    "partial_images": int,
    "timeout": (int, float),
    "stream": bool,
    "force": bool,
    "dry_run": bool,
    "extra_body": dict,
}
_PATH_KEYS = ("out", "config")
_KIND_NAMES = {str: "a string", int: "a whole number", dict: "an object", bool: "true or false"}


def options_from_keywords(
    keywords: Mapping[str, Any],
    *,
    call_keys: Collection[str],
    refused: Mapping[str, str] | None = None,
    where: str = "",
    base: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keywords into Options fields and call keys (``out``, ``provider`` ...), each checked.

    Aliases (``format``, ``edit_images``) are resolved. An unknown keyword, one in ``refused``
    (name -> why), or two spellings of one option raise UsageError naming them. Relative input
    paths are taken from ``base``.
    """
    refused = refused or {}
    prefix = f"{where}: " if where else ""
    fields: dict[str, Any] = {}
    calls: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    unknown: list[str] = []
    for key, item in keywords.items():
        name = ALIASES.get(key, key)
        if name in refused:
            raise UsageError(f"{prefix}{key}: {refused[name]}")
        if name in spelled:
            raise UsageError(f"{prefix}{spelled[name]} and {key} name the same option: give one of them")
        spelled[name] = key
        if name in call_keys:
            calls[name] = _call_value(prefix, key, name, item)
        elif name in _OPTION_NAMES:
            fields[name] = _field(prefix, key, name, item, base)
        else:
            unknown.append(key)
    if unknown:
        known = ", ".join(sorted({*call_keys, *ALIASES, *_OPTION_NAMES} - set(refused)))
        names = ", ".join(repr(key) for key in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise UsageError(f"{prefix}unknown key{plural} {names}", hints=(f"Known keys: {known}",))
    return fields, calls


_OPTION_NAMES = frozenset(option_names())


def _call_value(prefix: str, key: str, name: str, item: Any) -> Any:
    if name in _PATH_KEYS and isinstance(item, os.PathLike):
        return os.fspath(item)
    return _checked(prefix, key, item, _KINDS.get(name, str))


def _field(prefix: str, key: str, name: str, item: Any, base: Path | None) -> Any:
    if name == "images":
        items = [item] if isinstance(item, (str, os.PathLike)) else item
        if not isinstance(items, list) or not all(isinstance(p, (str, os.PathLike)) for p in items):
            raise UsageError(f"{prefix}{key} must be a path or a list of paths")
        return [_path(p, base) for p in items]
    if name == "mask":
        return _path(item if isinstance(item, os.PathLike) else _checked(prefix, key, item, str), base)
    return _checked(prefix, key, item, _KINDS.get(name, str))


def _checked(prefix: str, key: str, item: Any, kind: Any) -> Any:
    if isinstance(item, bool) != (kind is bool) or not isinstance(item, kind):
        raise UsageError(f"{prefix}{key} must be {_KIND_NAMES.get(kind, 'a number')}, not {item!r}")
    return item


def _path(text: str | os.PathLike[str], base: Path | None) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path
