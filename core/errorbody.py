"""What an error answer says, in the shapes servers send it, as one printable line.

The OpenAI-style ``{"error": {"message", "type", "code", "param"}}`` (or ``{"error": "..."}``), a
bare ``{"message": ...}``, a web framework's ``{"detail": "..." | [{"loc", "msg"}]}``, RFC 7807
problem details (``title``, ``detail``, and a ``validation`` list as mock servers send it) and an
error object wrapped in a list ``[{"error": {...}}]``. Whatever the provider sends, the message is one
line: line breaks folded, control and escape characters removed, at most about 1,000 characters
(``--verbose`` shows the whole body).
"""

from __future__ import annotations

import re
from typing import Any

from .jsonstream import loads

#: The longest provider message an error line carries.
MESSAGE_LIMIT = 1000
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line: escape sequences and control characters gone, whitespace folded, cut."""
    text = " ".join(_CONTROL.sub(" ", _ESCAPES.sub("", text)).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


def error_fields(body: bytes) -> tuple[str, str | None, str | None, str | None]:
    """(message, type, code, param) of an error body; the message is "" when no shape matches."""
    try:
        document: Any = loads(body)  # any nesting or size: at worst not JSON, never a crash
    except ValueError:
        return "", None, None, None
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = document[0]  # some APIs wrap their error object in a list
    if not isinstance(document, dict):
        return "", None, None, None
    error = document.get("error")
    if isinstance(error, dict):
        fields = (_text(error.get(key)) for key in ("type", "code", "param"))
        return (str(error.get("message") or ""), *fields)  # type: ignore[return-value]
    if isinstance(error, str) and error:
        return error, None, None, None
    return _other_shapes(document), None, None, None


def _other_shapes(document: dict[str, Any]) -> str:
    """RFC 7807 problem details, a framework's ``detail`` (string or validation list), or a ``message``."""
    parts = [document[key] for key in ("title", "detail", "message") if isinstance(document.get(key), str)]
    if isinstance(document.get("detail"), list):
        parts.append(_listed(document["detail"], "loc", "msg"))
    if isinstance(document.get("validation"), list):
        parts.append(_listed(document["validation"], "location", "message"))
    shown = [part.strip() for part in parts if part and part.strip()]
    return ": ".join(part.rstrip(".") if n < len(shown) - 1 else part for n, part in enumerate(shown))


def _listed(items: list[Any], where: str, what: str) -> str:
    """``body.quality: Input should be ...; body: ...`` from a list of validation problems."""
    shown = []
    for item in items:
        if not isinstance(item, dict):
            shown.append(str(item))
            continue
        place = item.get(where)
        place = ".".join(map(str, place)) if isinstance(place, list) else place
        message = item.get(what) or item.get("message") or item.get("msg") or ""
        shown.append(f"{place}: {message}" if place else str(message))
    return "; ".join(shown)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
