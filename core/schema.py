"""JSON Schema validation with one readable message per problem, and never a secret in it."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from .errors import ConfigError
from .secret import redact

#: Longer strings are never repeated in a message: a key pasted into the wrong field stays unseen.
SHOWN_STRING_LIMIT = 24
# Keys whose values are never repeated in a message, whatever the validator says.
_SECRET_KEYS = ("api_key",)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Read a schema shipped in ``imagegate.schemas`` by file name."""
    text = resources.files("imagegate.schemas").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def json_path(parts: Any) -> str:
    """``profiles.proxy.image_field`` or ``extra_body.items[2]`` from a jsonschema path deque."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def first_error(instance: Any, schema: dict[str, Any], prefix: tuple[Any, ...] = ()) -> str | None:
    """The most relevant validation error as ``path: message``, or None when the instance is valid."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    path = (*prefix, *error.absolute_path)
    if path and path[-1] in _SECRET_KEYS:
        message = "must be a non-empty string (its value is not shown)"
    else:
        message = _message(error)
    return redact(f"{json_path(path)}: {message}")


def _message(error: Any) -> str:
    """The validator's message, unless it would repeat a long string (a key pasted in the wrong place)."""
    value = error.instance
    if error.validator == "type" and not _shown(value):
        return f"expected {error.validator_value!r}, got a {type(value).__name__} (its value is not shown)"
    if error.validator in ("pattern", "enum", "format") and not _shown(value):
        return f"the value ({len(value)} characters, not shown) is not valid here"
    return _short(error.message)


def _shown(value: Any) -> bool:
    """Whether a value is safe to repeat in a message: anything but a long string, or a container of one."""
    if isinstance(value, str):
        return len(value) <= SHOWN_STRING_LIMIT
    if isinstance(value, dict):
        return all(_shown(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(_shown(item) for item in value)
    return True


def validate(instance: Any, schema: dict[str, Any], source: str, prefix: tuple[Any, ...] = ()) -> None:
    """Raise ConfigError naming ``source`` when ``instance`` does not match ``schema``."""
    problem = first_error(instance, schema, prefix)
    if problem is not None:
        raise ConfigError(f"invalid config {source}: {problem}")


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."
