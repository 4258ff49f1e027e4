"""Loads provider plugins once, lazily, through the ``imagegate`` entry-point group.

Built-in providers come through the same group (see pyproject.toml), so the third-party path is
exercised on every run. A plugin that fails to import warns and is skipped; set
``IMAGEGATE_STRICT_PLUGINS=1`` to make that an error. ``IMAGEGATE_LOAD_PLUGINS`` restricts
loading: unset loads everything, empty loads only the built-ins, a comma list loads only those
distributions (plus the built-ins).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    import pluggy

    from .adapter import Adapter

GROUP = "imagegate"
OWN_DISTRIBUTION = "imagegate"
BUILTIN_MODULES = (
    "imagegate.providers.openai",
    "imagegate.providers.compatible",
    "imagegate.providers.url_only",
    "imagegate.providers.placeholder",
)


@dataclass(frozen=True)
class ProviderRecord:
    """A registered provider: its adapter class and the distribution that brought it."""

    name: str
    adapter: type[Adapter]
    distribution: str
    version: str


@dataclass
class _Registry:
    manager: pluggy.PluginManager
    providers: dict[str, ProviderRecord]
    warnings: list[str]


_registry: _Registry | None = None


def _wanted(distribution: str) -> bool:
    if distribution == OWN_DISTRIBUTION:
        return True
    value = os.environ.get("IMAGEGATE_LOAD_PLUGINS")
    if value is None:
        return True
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    return distribution.lower() in names


def _strict() -> bool:
    return os.environ.get("IMAGEGATE_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _entry_points() -> list[tuple[str, str, metadata.EntryPoint]]:
    """(distribution, version, entry point) for every entry point in the group."""
    found = []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "unknown"
        version = dist.version if dist is not None else "?"
        found.append((name, version, ep))
    return found


def _own_version() -> str:
    from . import __version__

    return __version__


def _load() -> _Registry:
    import pluggy

    from . import hookspecs

    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    registry = _Registry(manager, {}, [])
    entries = _entry_points()
    if not any(dist == OWN_DISTRIBUTION for dist, _, _ in entries):
        # Running from a source tree without installed metadata: load the built-ins directly.
        entries = [(OWN_DISTRIBUTION, _own_version(), module) for module in BUILTIN_MODULES] + entries
    for dist, version, entry in entries:
        if _wanted(dist):
            _load_one(registry, dist, version, entry)
    return registry


def _load_one(registry: _Registry, dist: str, version: str, entry: object) -> None:
    label = entry if isinstance(entry, str) else f"{entry.name} = {entry.value}"  # type: ignore[attr-defined]
    try:
        plugin = importlib.import_module(entry) if isinstance(entry, str) else entry.load()  # type: ignore[attr-defined]
        if registry.manager.is_registered(plugin):
            return
        registry.manager.register(plugin, name=f"{dist}:{label}")
        added: list[type[Adapter]] = []
        # Call this plugin's own implementation so that what it registers is attributed to it
        # and a failure in it is isolated from every other plugin.
        for impl in registry.manager.hook.register_providers.get_hookimpls():
            if impl.plugin is plugin:
                impl.function(register=added.append)
        for adapter in added:
            _add(registry, adapter, dist, version)
    except UsageError:
        raise
    except Exception as exc:  # a broken plugin must not take the CLI down
        message = f"plugin {dist} ({label}) failed to load: {type(exc).__name__}: {exc}"
        if _strict() and dist != OWN_DISTRIBUTION:
            raise UsageError(message, hints=("IMAGEGATE_STRICT_PLUGINS is set.",)) from None
        registry.warnings.append(message)


def _add(registry: _Registry, adapter: type[Adapter], dist: str, version: str) -> None:
    name = getattr(adapter, "name", "")
    if not name:
        raise UsageError(f"plugin {dist} registered a provider without a name")
    existing = registry.providers.get(name)
    if existing is not None and existing.adapter is not adapter:
        raise UsageError(
            f"provider {name!r} is registered twice: by {existing.distribution} and by {dist}",
            hints=("Uninstall one of them, or restrict loading with IMAGEGATE_LOAD_PLUGINS.",),
        )
    registry.providers[name] = ProviderRecord(name, adapter, dist, version)


def registry() -> _Registry:
    """The loaded registry (loaded on first use, then reused)."""
    global _registry
    if _registry is None:
        _registry = _load()
        for warning in _registry.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return _registry


def providers() -> dict[str, ProviderRecord]:
    """Every registered provider by name."""
    return registry().providers


def get_provider(name: str) -> ProviderRecord:
    """The provider called ``name``, or a UsageError that lists the known ones."""
    known = providers()
    if name not in known:
        raise UsageError(
            f"unknown provider {name!r}",
            hints=(f"Installed providers: {', '.join(sorted(known)) or 'none'}.",),
        )
    return known[name]


def default_provider() -> str:
    """The name of the provider a call uses when nothing names one: the adapter marked ``is_default``."""
    defaults = sorted(
        (record.distribution != OWN_DISTRIBUTION, name)
        for name, record in providers().items()
        if getattr(record.adapter, "is_default", False)
    )
    if not defaults:
        raise UsageError("no default provider is installed", hints=("Choose one with --provider.",))
    return defaults[0][1]


def register_adapter(adapter: type[Adapter], distribution: str = "test", version: str = "0") -> None:
    """Register an adapter class directly (used by tests and imagegate.testing)."""
    _add(registry(), adapter, distribution, version)


def unregister_adapter(name: str) -> None:
    """Remove a provider registered with :func:`register_adapter`."""
    registry().providers.pop(name, None)


def reset() -> None:
    """Forget everything loaded, so the next use loads plugins again."""
    global _registry
    _registry = None
