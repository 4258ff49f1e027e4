"""Option values against the option table: the neutral checks, and library and batch keywords.

:func:`check` tests each resolved value against its row of :data:`~imagegate.options.TABLE`;
:func:`from_keywords` reads library keywords and batch job fields (aliases resolved, types
checked, relative paths taken from the jobs file's folder) into :class:`~imagegate.options.Asked`
fields. Both are driven by the table, so no option fact is written here.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError
from .options import TABLE, Option, Options, option_names, row

__all__ = ["check", "from_keywords", "is_utf8", "value_problem"]


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
        return (
            None
            if value in option.choices
            else f"{option.flag}{_shown(value)}: must be one of {_listed(option)}"
        )
    if option.pattern is not None:
        return None if _matches(option.pattern, value) else _pattern_problem(option, value)
    if option.type is int and not _whole_in_range(option, value):
        return f"{option.flag}{_shown(value)}: must be a whole number from {option.low:g} to {option.high:g}"
    if option.type is float and not _number_in_range(option, value):
        unit = f" of {option.metavar.lower()}" if option.metavar else ""
        return f"{option.flag}{_shown(value)}: must be a number{unit} {_range_words(option)}"
    return None


def _listed(option: Option) -> str:
    return ", ".join(option.choices)


def _over(option: Option, value: list[Any]) -> bool:
    return option.high is not None and len(value) > option.high


def _matches(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _pattern_problem(option: Option, value: Any) -> str:
    return f"{option.flag}{_shown(value)}: must be {option.help} (for example {option.default})"


def _shown(value: Any) -> str:
    """`` VALUE`` when it is safe to repeat (a number, or a word of at most 24 plain characters:
    the slip is then visible), else nothing: a key pasted into the wrong flag stays unseen."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f" {value}"
    text = str(value)
    return f" {text}" if len(text) <= 24 and text.isprintable() and not text.isspace() else ""


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
    if row(name).type is Path and isinstance(item, os.PathLike):
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
    kind = row(name).type
    return (int, float) if kind is float else str if kind is Path else kind


def _checked(prefix: str, key: str, item: Any, kind: Any) -> Any:
    if isinstance(item, bool) != (kind is bool) or not isinstance(item, kind):
        raise UsageError(f"{prefix}{key} must be {_KIND_NAMES.get(kind, 'a number')}, not {item!r}")
    return item


def _path(text: str | os.PathLike[str], base: Path | None) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path
