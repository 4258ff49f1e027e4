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
#: Keys under which no value is ever repeated in a message: each may hold a credential.
_PRIVATE_KEYS = frozenset({"headers", "query", "extra_body", "auth_header", "auth_scheme"})


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
    elif error.validator == "type":  # the type is what matters, never the value (a key pasted there)
        message = f"expected {_expected(error.validator_value)}, got {_kind(error.instance)}"
    elif _private(path):
        message = _unshown(error)
    else:
        message = _message(error)
    return redact(f"{json_path(path)}: {message}")


def _private(path: tuple[Any, ...]) -> bool:
    """Whether a value at ``path`` may be a credential: under ``headers``, ``query``, ``extra_body``
    or a key named like a credential."""
    from .config import is_credential_name  # config imports this module

    return any(isinstance(part, str) and (part in _PRIVATE_KEYS or is_credential_name(part)) for part in path)


def _expected(types: Any) -> str:
    """``'string'`` or ``'string' or 'null'``: the type(s) a schema asks for."""
    return " or ".join(repr(name) for name in ([types] if isinstance(types, str) else types))


def _kind(value: Any) -> str:
    """The JSON type of a value, with its article: ``an object``, ``a string``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for python, name in ((str, "a string"), (dict, "an object"), (list, "an array"), (int, "an integer")):
        if isinstance(value, python):
            return name
    return "a number" if isinstance(value, float) else f"a {type(value).__name__}"


def _unshown(error: Any) -> str:
    """What the schema asks for, in its own words, never with the value that broke it."""
    rule = error.validator_value
    wants = {
        "enum": f"must be one of {rule!r}",
        "const": f"must be {rule!r}",
        "pattern": f"must match {rule!r}",
        "format": f"must be a valid {rule}",
        "minLength": f"must have at least {rule} characters",
        "maxLength": f"must have at most {rule} characters",
        "minimum": f"must be at least {rule}",
        "maximum": f"must be at most {rule}",
        "exclusiveMinimum": f"must be above {rule}",
        "exclusiveMaximum": f"must be below {rule}",
    }.get(error.validator)
    if wants is None and error.validator in ("required", "additionalProperties", "dependentRequired"):
        return _short(error.message)  # names keys, not values
    return f"{wants or 'is not valid here'} (the value is not shown)"


def _message(error: Any) -> str:
    """The validator's message, unless it would repeat a long string (a key pasted in the wrong place)."""
    value = error.instance
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
