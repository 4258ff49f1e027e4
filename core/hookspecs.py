"""The plugin hook specifications: the whole contract between imagegate and a provider plugin."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("imagegate")
hookimpl = pluggy.HookimplMarker("imagegate")


@hookspec
def register_providers(register: Callable[[type], None]) -> None:
    """Called once at plugin load: call ``register(AdapterClass)`` for each provider offered."""
