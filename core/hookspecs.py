"""The plugin hook specifications: the whole contract between imagegate and a provider plugin.

The specs are plain functions here and are marked for pluggy only when plugins are loaded, so
``import imagegate`` (and ``imagegate --help``) never imports pluggy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROJECT = "imagegate"


def register_providers(register: Callable[[type], None]) -> None:
    """Called once at plugin load: call ``register(AdapterClass)`` for each provider offered."""


#: Every hook specification, in the order a reader should learn them.
SPECS: tuple[Callable[..., Any], ...] = (register_providers,)


class _LazyHookimplMarker:
    """``@imagegate.hookimpl``: pluggy's HookimplMarker, created when a plugin module first uses it."""

    def __call__(self, function: Callable[..., Any] | None = None, **options: Any) -> Any:
        import pluggy

        return pluggy.HookimplMarker(PROJECT)(function, **options)

    def __repr__(self) -> str:
        return f"<hookimpl marker for {PROJECT!r}>"


hookimpl = _LazyHookimplMarker()


def mark_specs() -> None:
    """Mark every function in :data:`SPECS` as a pluggy hook specification (idempotent)."""
    import pluggy

    marker = pluggy.HookspecMarker(PROJECT)
    for spec in SPECS:
        marker(spec)
