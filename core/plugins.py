"""Loads provider plugins once, lazily, through the ``imagegate`` entry-point group.

Built-in providers come through the same group (see pyproject.toml), so the third-party path is
exercised on every run. A plugin that fails to import or to register warns once and is skipped;
``IMAGEGATE_STRICT_PLUGINS=1`` makes that an error, for plugin authors. ``IMAGEGATE_LOAD_PLUGINS``
restricts loading: unset loads everything, empty loads only the built-ins, a comma list loads only
those distributions (plus the built-ins). Two distributions offering the same provider name make
that name an error naming both. Nothing here runs until a command needs a provider.

``bind`` is where a profile meets its provider: the adapter chosen, the profile checked against
its schema, the key required when the provider needs one.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import TYPE_CHECKING, Any

from .config import COMMON_KEYS, Profile, config_command, init_hint, load_profile, resolve_path
from .errors import ConfigError, UsageError
from .schema import validate
from .scrub import REDACTED
from .secret import redact

if TYPE_CHECKING:
    import pluggy

    from .adapter import Adapter

GROUP = "imagegate"
OWN_DISTRIBUTION = "imagegate"
ENV_LOAD = "IMAGEGATE_LOAD_PLUGINS"
ENV_STRICT = "IMAGEGATE_STRICT_PLUGINS"


class PluginError(Exception):
    """A plugin broke the contract (no hook, not an adapter class ...); reported like an import error."""


@dataclass(frozen=True)
class ProviderRecord:
    """A registered provider: its adapter class and the distribution that brought it."""

    name: str
    adapter: type[Adapter]
    distribution: str
    version: str


@dataclass
class Registry:
    """What loading found: providers by name (several records: a conflict) and failed plugins."""

    manager: pluggy.PluginManager
    records: dict[str, list[ProviderRecord]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


_registry: Registry | None = None
_lock = threading.RLock()


def normalize(distribution: str) -> str:
    """A distribution name as packaging compares them: case-insensitive, ``-_.`` alike."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _wanted(distribution: str) -> bool:
    if distribution == OWN_DISTRIBUTION:
        return True
    value = os.environ.get(ENV_LOAD)
    if value is None:
        return True
    return normalize(distribution) in {normalize(part.strip()) for part in value.split(",") if part.strip()}


def strict() -> bool:
    """Whether IMAGEGATE_STRICT_PLUGINS turns a broken plugin into an error."""
    return os.environ.get(ENV_STRICT, "").strip().lower() not in ("", "0", "false", "no")


def _entry_points() -> list[tuple[str, str, Any]]:
    """(distribution, version, entry point) for every entry point in the group; metadata only."""
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


def _builtin_modules() -> list[str]:
    """Every module of ``imagegate.providers``: the built-ins, found without naming them."""
    import pkgutil

    from . import providers

    return [f"{providers.__name__}.{info.name}" for info in pkgutil.iter_modules(providers.__path__)]


def _load() -> Registry:
    import pluggy

    from . import hookspecs

    hookspecs.mark_specs()
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    registry = Registry(manager)
    entries = _entry_points()
    if not any(dist == OWN_DISTRIBUTION for dist, _, _ in entries):
        # Running from a source tree without installed metadata: load the built-ins directly.
        entries = [(OWN_DISTRIBUTION, _own_version(), module) for module in _builtin_modules()] + entries
    for dist, version, entry in entries:
        if _wanted(dist):
            _load_one(registry, dist, version, entry)
    return registry


def _load_one(registry: Registry, dist: str, version: str, entry: Any) -> None:
    """Import one entry point and collect what it registers; a failure is this plugin's alone."""
    label = entry if isinstance(entry, str) else f"{entry.name} = {entry.value}"
    plugin = None
    try:
        plugin = importlib.import_module(entry) if isinstance(entry, str) else entry.load()
        if registry.manager.is_registered(plugin):
            return
        registry.manager.register(plugin, name=f"{dist}:{label}")
        registry.manager.check_pending()  # a misspelt hook name fails here, not silently
        adapters = _collect(registry.manager, plugin)
    except (Exception, SystemExit) as exc:  # a broken plugin must not take the CLI down
        if plugin is not None and registry.manager.is_registered(plugin):
            registry.manager.unregister(plugin)
        _fail(registry, dist, version, label, exc)
        return
    for adapter in adapters:
        _add(registry, ProviderRecord(adapter.name, adapter, dist, version))


def _collect(manager: pluggy.PluginManager, plugin: object) -> list[type[Adapter]]:
    """Call this plugin's own hook implementations, so what they register is attributed to it."""
    impls = [impl for impl in manager.hook.register_providers.get_hookimpls() if impl.plugin is plugin]
    if not impls:
        raise PluginError("it implements no imagegate hook (is register_providers marked @hookimpl?)")
    added: list[Any] = []
    for impl in impls:
        impl.function(**{name: added.append for name in impl.argnames if name == "register"})
    return [_checked(adapter) for adapter in added]


def _checked(adapter: Any) -> type[Adapter]:
    from .adapter import Adapter

    if not (isinstance(adapter, type) and issubclass(adapter, Adapter)):
        raise PluginError(f"it registered {adapter!r}, which is not a subclass of imagegate.adapter.Adapter")
    name = adapter.name
    if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
        raise PluginError(f"it registered {adapter.__qualname__} whose name {name!r} is empty or has spaces")
    return adapter


def _fail(registry: Registry, dist: str, version: str, label: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    message = f"plugin {dist} {version} failed to load ({label}): {reason}"
    if strict() and dist != OWN_DISTRIBUTION:
        raise UsageError(message, hints=(f"{ENV_STRICT} is set; unset it to skip broken plugins.",))
    registry.failures.append(message)


def _add(registry: Registry, record: ProviderRecord) -> None:
    records = registry.records.setdefault(record.name, [])
    if not any(existing.adapter is record.adapter for existing in records):
        records.append(record)


def conflict_error(name: str, records: list[ProviderRecord]) -> UsageError:
    """The error for a provider name offered by more than one distribution, naming them all."""
    owners = " and by ".join(sorted({record.distribution for record in records}))
    return UsageError(
        f"provider {name!r} is registered twice: by {owners}",
        hints=(f"Uninstall one of them, or choose which plugins load with {ENV_LOAD}.",),
    )


def registry() -> Registry:
    """The loaded registry (loaded on first use, then reused); failures are warned about once."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = _load()
            for failure in _registry.failures:
                print(f"warning: {redact(failure)}", file=sys.stderr)
        return _registry


def providers() -> dict[str, ProviderRecord]:
    """Every usable provider by name (names offered twice are left out; see :func:`conflicts`)."""
    return {name: records[0] for name, records in registry().records.items() if len(records) == 1}


def conflicts() -> dict[str, list[ProviderRecord]]:
    """Provider names offered by more than one distribution."""
    return {name: records for name, records in registry().records.items() if len(records) > 1}


def failures() -> list[str]:
    """One message per plugin that failed to load."""
    return list(registry().failures)


def get_provider(name: str) -> ProviderRecord:
    """The provider called ``name``, or a UsageError that lists the known ones."""
    records = registry().records.get(name, [])
    if len(records) > 1:
        raise conflict_error(name, records)
    if not records:
        hints = [f"Installed providers: {', '.join(sorted(providers())) or 'none'}."]
        if registry().failures:
            hints.append("A plugin failed to load (see the warning above); it may be the one offering it.")
        if os.environ.get(ENV_LOAD) is not None:
            hints.append(f"{ENV_LOAD} is set, so only the plugins it names are loaded.")
        plain = len(name) <= 24 and re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) is not None
        shown = (
            repr(name) if plain else f"({'a long name' if len(name) > 24 else 'not a plain name'}, not shown)"
        )
        raise UsageError(f"unknown provider {shown}", hints=hints)
    return records[0]


def default_provider() -> str:
    """The name of the provider a call uses when nothing names one: the adapter marked ``is_default``."""
    defaults = sorted(
        (records[0].distribution != OWN_DISTRIBUTION, name)
        for name, records in registry().records.items()
        if any(record.adapter.is_default for record in records)
    )
    if not defaults:
        raise UsageError("no default provider is installed", hints=("Choose one with --provider.",))
    return defaults[0][1]


def bind(config: Any = None, profile: str | None = None, provider: str | None = None) -> Adapter:
    """Load the profile, choose its adapter and check the profile against the adapter's schema.

    The adapter comes back made with the profile (``adapter.profile``, its provider filled in).
    """
    loaded = load_profile(config, profile, provider, required=False)
    name = loaded.provider or default_provider()
    record = get_provider(name)
    loaded = replace(loaded, provider=name)
    schema = record.adapter.config_schema()
    validate(
        {**loaded.settings, **({"api_key": REDACTED} if loaded.api_key else {})},
        schema,
        loaded.label,
        loaded.json_prefix,
    )
    loaded = _key_for(loaded, name, record.adapter)
    if record.adapter.needs_key and loaded.api_key is None:
        raise _missing_key(loaded, name, config)
    return record.adapter(loaded)


def _key_for(profile: Profile, name: str, adapter: Any) -> Profile:
    """The profile's key only for its own provider: another (--provider) would send it elsewhere.

    Its own provider is the one it names; a profile naming none (as ``config init`` writes for the
    default provider) holds the default provider's key unless it has keys of another adapter's. With
    the profile's own base_url the key still goes to that host only, so it is kept.
    """
    own = profile.settings.get("provider")
    if own is None and set(profile.settings) <= COMMON_KEYS:
        own = default_provider()
    if own is None or name == own or profile.api_key is None or profile.base_url:
        return profile
    if not adapter.needs_key:
        return replace(profile, api_key=None)
    raise UsageError(
        f"the key of config {profile.label} is for provider {own!r}; provider {name!r} would send it "
        f"to {name}'s own endpoint, so it is not used",
        hints=(f"Use a profile made for {name}: imagegate config init --profile {name} --provider {name}",),
    )


def _missing_key(profile: Profile, name: str, config: Any) -> ConfigError:
    """No key where the provider needs one: say how to add it (or try a keyless provider)."""
    if profile.source is None:
        return ConfigError(
            f"provider {name!r} needs an API key, and there is no config file at {resolve_path(config)}",
            hints=(init_hint(resolve_path(config)), *_keyless_hint()),
        )
    words = f"init{f' --profile {profile.name}' if profile.name else ''} --force"
    return ConfigError(
        f"config {profile.label} has no api_key",
        hints=("Run: " + config_command(profile.source, words),),
    )


def _keyless_hint() -> list[str]:
    """Point at the installed providers that need no key, so a first run can still try something."""
    names = sorted(name for name, record in providers().items() if not record.adapter.needs_key)
    return [f"Or try a provider that needs no key first: --provider {names[0]}"] if names else []


def unknown_keys(adapter: Adapter) -> list[str]:
    """A warning for profile keys that neither imagegate nor the adapter's schema knows (ignored)."""
    profile = adapter.profile
    known = set(COMMON_KEYS) | set(adapter.config_schema().get("properties", {}))
    unknown = sorted(key for key in profile.settings if key not in known)
    if not unknown:
        return []
    return [
        f"config {profile.label}: unknown key(s) {', '.join(unknown)} "
        f"for provider {profile.provider!r} (ignored)"
    ]


def register_adapter(adapter: type[Adapter], distribution: str = "test", version: str = "0") -> None:
    """Register an adapter class directly (tests, imagegate.testing); a taken name is an error."""
    adapter = _checked(adapter)
    records = registry().records.get(adapter.name, [])
    if records and not any(record.adapter is adapter for record in records):
        newcomer = ProviderRecord(adapter.name, adapter, distribution, version)
        raise conflict_error(adapter.name, [*records, newcomer])
    _add(registry(), ProviderRecord(adapter.name, adapter, distribution, version))


@contextlib.contextmanager
def registered(
    adapter: type[Adapter], distribution: str = "test", version: str = "0"
) -> Iterator[type[Adapter]]:
    """Make ``adapter`` a provider until the block ends, hiding an installed provider of its name
    meanwhile (so a plugin's tests work whether or not the plugin is also installed)."""
    loaded = registry()
    hidden = loaded.records.pop(adapter.name, None)
    register_adapter(adapter, distribution, version)
    try:
        yield adapter
    finally:
        if registry() is loaded:
            loaded.records.pop(adapter.name, None)
            if hidden is not None:
                loaded.records[adapter.name] = hidden


def reset() -> None:
    """Forget everything loaded, so the next use loads plugins again."""
    global _registry
    with _lock:
        _registry = None
