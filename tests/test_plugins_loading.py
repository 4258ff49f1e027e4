"""Plugin loading in-process: isolation of broken plugins, filtering, conflicts, the listing.

Distributions are simulated with entry points to modules written for each test (see
``plugin_support.fake_distributions``); tests/test_third_party_plugin.py installs real ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from imagegate import hookspecs, plugins

from .support import plugins as plugin_support
from .support.helpers import API_KEY

CLASS = """
class A{index}(Adapter):
    name = {name!r}
    description = "test provider {name}"
    operations = frozenset({{"generate"}})
    needs_key = False
{body}
"""

ROOT = plugin_support.ROOT
fake_distributions = plugin_support.fake_distributions  # a fixture


def plugin_source(*names: str, body: str = "", extra: str = "") -> str:
    """A plugin module registering one adapter class per name (``extra``: more hook lines)."""
    classes = "".join(CLASS.format(index=i, name=name, body=body) for i, name in enumerate(names))
    registers = "".join(f"    register(A{i})\n" for i in range(len(names))) + extra
    return (
        "import imagegate\nfrom imagegate.adapter import Adapter\n"
        + classes
        + f"\n@imagegate.hookimpl\ndef register_providers(register):\n{registers}"
    )


def test_hook_register_providers_adds_every_adapter_with_its_distribution(fake_distributions) -> None:
    fake_distributions("imagegate-pair", plugin_source("one", "two"), version="3.1")
    known = plugins.providers()
    assert {name: (known[name].distribution, known[name].version) for name in ("one", "two")} == {
        "one": ("imagegate-pair", "3.1"),
        "two": ("imagegate-pair", "3.1"),
    }
    assert known["openai"].distribution == "imagegate"


def test_hook_register_providers_may_take_no_arguments(fake_distributions) -> None:
    fake_distributions(
        "imagegate-quiet", "import imagegate\n@imagegate.hookimpl\ndef register_providers():\n    pass\n"
    )
    assert "placeholder" in plugins.providers()
    assert plugins.failures() == []


def test_plugin_that_raises_on_import_warns_once_and_other_commands_work(fake_distributions, cli) -> None:
    fake_distributions("imagegate-kaput", "raise ImportError('No module named shiny_sdk')", version="0.3")
    run = cli("--provider", "placeholder", "--prompt", "p", "--out", "a.png", "--size", "64x64")
    assert run.code == 0, run.err
    warnings = [line for line in run.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "imagegate-kaput 0.3" in warnings[0]
    assert "ImportError: No module named shiny_sdk" in warnings[0]
    again = cli("providers")
    assert again.code == 0 and "warning" not in again.err  # warned once per process


def test_plugin_that_raises_while_registering_adds_none_of_its_providers(fake_distributions) -> None:
    fake_distributions("imagegate-half", plugin_source("half", extra="    raise ValueError('half done')\n"))
    assert "half" not in plugins.providers()
    (failure,) = plugins.failures()
    assert failure.startswith("plugin imagegate-half 1.0 failed to load (")
    assert failure.endswith("): ValueError: half done")


def test_plugin_that_exits_on_import_is_isolated_too(fake_distributions) -> None:
    fake_distributions("imagegate-exit", "import sys\nsys.exit(3)\n")
    assert "openai" in plugins.providers()
    assert "imagegate-exit" in plugins.failures()[0]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def register_providers(register):\n    pass\n", "implements no imagegate hook"),
        (
            "import imagegate\n@imagegate.hookimpl\ndef register_provider(register):\n    pass\n",
            "register_provider",
        ),
        (
            "import imagegate\n@imagegate.hookimpl\ndef register_providers(register):\n    register(42)\n",
            "not a subclass",
        ),
        (plugin_source(""), "empty or has spaces"),
    ],
    ids=["no-hookimpl-marker", "misspelt-hook", "not-an-adapter", "nameless-adapter"],
)
def test_plugin_breaking_the_contract_is_reported_not_fatal(
    fake_distributions, cli, source, expected
) -> None:
    fake_distributions("imagegate-wrong", source)
    run = cli("providers", "--json")
    assert run.code == 0
    assert [name for name in ("openai", "placeholder") if name in {p["name"] for p in run.json["providers"]}]
    assert len(run.json["plugin_failures"]) == 1
    assert "imagegate-wrong" in run.json["plugin_failures"][0]
    assert expected in run.json["plugin_failures"][0]


def test_strict_plugins_turns_a_broken_plugin_into_an_error(fake_distributions, cli, monkeypatch) -> None:
    fake_distributions("imagegate-kaput", "raise RuntimeError('boom')")
    monkeypatch.setenv("IMAGEGATE_STRICT_PLUGINS", "1")
    run = cli("--provider", "placeholder", "--prompt", "p", "--out", "a.png")
    assert run.code == 2
    assert "error: plugin imagegate-kaput 1.0 failed to load" in run.err
    assert "RuntimeError: boom" in run.err
    assert "IMAGEGATE_STRICT_PLUGINS" in run.err
    assert not Path("a.png").exists()


@pytest.mark.parametrize("value", ["0", "", "false"])
def test_strict_plugins_off_values_keep_the_warning(fake_distributions, monkeypatch, value) -> None:
    fake_distributions("imagegate-kaput", "raise RuntimeError('boom')")
    monkeypatch.setenv("IMAGEGATE_STRICT_PLUGINS", value)
    assert len(plugins.failures()) == 1


def test_load_plugins_empty_loads_only_the_builtins(fake_distributions, monkeypatch) -> None:
    fake_distributions("imagegate-one", plugin_source("one"))
    fake_distributions("imagegate-kaput", "raise RuntimeError('never imported')")
    monkeypatch.setenv("IMAGEGATE_LOAD_PLUGINS", "")
    assert {record.distribution for record in plugins.providers().values()} == {"imagegate"}
    assert plugins.failures() == []


def test_load_plugins_list_loads_only_those_distributions(fake_distributions, monkeypatch) -> None:
    one = fake_distributions("imagegate-one", plugin_source("one"))
    two = fake_distributions("imagegate-two", plugin_source("two"))
    fake_distributions("imagegate-kaput", "raise RuntimeError('never imported')")
    monkeypatch.setenv("IMAGEGATE_LOAD_PLUGINS", " Imagegate_One , other")
    import sys

    assert "one" in plugins.providers() and "two" not in plugins.providers()
    assert one in sys.modules and two not in sys.modules
    assert plugins.failures() == []


def test_unset_load_plugins_loads_every_plugin(fake_distributions) -> None:
    fake_distributions("imagegate-one", plugin_source("one"))
    fake_distributions("imagegate-two", plugin_source("two"))
    assert {"one", "two"} <= set(plugins.providers())


def test_same_provider_name_from_two_distributions_is_an_error_naming_both(fake_distributions, cli) -> None:
    fake_distributions("imagegate-first", plugin_source("twin"))
    fake_distributions("imagegate-second", plugin_source("twin"))
    run = cli("--provider", "twin", "--prompt", "p", "--out", "a.png")
    assert run.code == 2
    assert "provider 'twin' is registered twice: by imagegate-first and by imagegate-second" in run.err
    assert "IMAGEGATE_LOAD_PLUGINS" in run.err
    other = cli("--provider", "placeholder", "--prompt", "p", "--out", "b.png", "--size", "32x32")
    assert other.code == 0, other.err
    listing = cli("providers", "--json")
    assert listing.code == 2
    assert listing.json["ok"] is False
    assert "twin" not in {row["name"] for row in listing.json["providers"]}
    assert "imagegate-first and by imagegate-second" in listing.json["errors"][0]


def test_plugin_offering_a_builtin_name_makes_that_name_an_error(
    fake_distributions, cli, make_config
) -> None:
    fake_distributions("imagegate-imposter", plugin_source("openai", body="    is_default = True\n"))
    make_config()
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2
    assert "'openai' is registered twice: by imagegate and by imagegate-imposter" in run.err


def test_plugins_are_loaded_once_and_only_when_needed(fake_distributions, monkeypatch, cli) -> None:
    calls = []
    real = plugins._entry_points
    monkeypatch.setattr(plugins, "_entry_points", lambda: calls.append(1) or real())
    fake_distributions("imagegate-one", plugin_source("one"))
    assert cli("--version").code == 0
    assert calls == []
    for _ in range(3):
        assert cli("providers").code == 0
    plugins.default_provider()
    plugins.get_provider("one")
    assert calls == [1]


def test_unknown_provider_lists_the_installed_ones(cli, fresh_plugins) -> None:
    run = cli("--provider", "nope", "--prompt", "p", "--out", "a.png")
    assert run.code == 2
    assert "unknown provider 'nope'" in run.err
    assert "chat, compatible, openai, placeholder, responses, url-only" in run.err


def test_unknown_provider_points_at_a_failed_plugin_and_at_the_filter(
    fake_distributions, cli, monkeypatch
) -> None:
    fake_distributions("imagegate-kaput", "raise RuntimeError('boom')")
    failed = cli("--provider", "kaput", "--prompt", "p", "--out", "a.png")
    assert failed.code == 2
    assert "hint: A plugin failed to load" in failed.err
    monkeypatch.setenv("IMAGEGATE_LOAD_PLUGINS", "")
    plugins.reset()
    filtered = cli("--provider", "kaput", "--prompt", "p", "--out", "a.png")
    assert "IMAGEGATE_LOAD_PLUGINS is set" in filtered.err
    assert "failed to load" not in filtered.err


def test_builtin_default_wins_over_a_plugin_that_claims_to_be_default(fake_distributions) -> None:
    fake_distributions("imagegate-pushy", plugin_source("pushy", body="    is_default = True\n"))
    assert plugins.default_provider() == "openai"


def test_plugin_config_schema_is_validated_like_any_other(fake_distributions, cli, make_config) -> None:
    body = (
        "    @classmethod\n    def config_schema(cls):\n"
        "        return {'type': 'object', 'required': ['region'], "
        "'properties': {'region': {'enum': ['north', 'south']}}}\n"
    )
    fake_distributions("imagegate-regional", plugin_source("regional", body=body))
    path = make_config({"provider": "regional", "api_key": API_KEY, "region": "west"})
    run = cli("--config", path, "--prompt", "p", "--out", "a.png")
    assert run.code == 2
    assert f"invalid config {path}: region: 'west' is not one of ['north', 'south']" in run.err


def test_providers_json_shows_distribution_version_operations_and_schema(fake_distributions, cli) -> None:
    fake_distributions("imagegate-one", plugin_source("one"), version="2.5")
    rows = {row["name"]: row for row in cli("providers", "--json").json["providers"]}
    assert rows["one"]["distribution"] == "imagegate-one"
    assert rows["one"]["version"] == "2.5"
    assert rows["one"]["operations"] == ["generate"]
    assert rows["one"]["config_schema"].endswith(".A0.config_schema")
    assert rows["openai"]["operations"] == ["generate", "edit", "mask", "stream", "batch"]
    assert rows["openai"]["config_schema"] == "imagegate.schemas/openai.schema.json"
    assert rows["openai"]["default"] is True


def test_providers_table_names_distribution_operations_and_schema(fake_distributions, cli) -> None:
    fake_distributions("imagegate-one", plugin_source("one"), version="2.5")
    run = cli("providers")
    assert run.code == 0
    header, *lines = run.out.splitlines()
    assert header.split() == ["NAME", "DISTRIBUTION", "OPERATIONS", "CONFIG", "SCHEMA", "DESCRIPTION"]
    line = next(line for line in lines if line.startswith("one "))
    assert line.split()[:4] == ["one", "imagegate-one", "2.5", "generate"]
    assert "placeholder.schema.json" in run.out


def test_importing_imagegate_does_not_import_pluggy() -> None:
    import subprocess
    import sys

    code = "import sys, imagegate; print('pluggy' in sys.modules, callable(imagegate.hookimpl))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_every_hookspec_has_a_test_that_exercises_it() -> None:
    """Like datasette: a hook without a ``test_hook_<name>...`` test fails here."""
    names = set()
    for path in [*ROOT.joinpath("tests").glob("test_*.py"), *ROOT.glob("examples/*/tests/test_*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    specs = [spec.__name__ for spec in hookspecs.SPECS]
    assert specs, "no hookspecs found"
    untested = [spec for spec in specs if not any(name.startswith(f"test_hook_{spec}") for name in names)]
    assert untested == []


def test_every_hookspec_is_listed_in_specs() -> None:
    """A hook added to hookspecs.py but not to SPECS would never reach pluggy."""
    tree = ast.parse(Path(hookspecs.__file__).read_text(encoding="utf-8"))
    public = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name != "mark_specs"
    }
    assert public == {spec.__name__ for spec in hookspecs.SPECS}


def test_builtins_load_from_a_source_tree_without_installed_metadata(monkeypatch, fresh_plugins) -> None:
    monkeypatch.setattr(plugins, "_entry_points", lambda: [])
    found = plugins.providers()
    assert set(found) == {"openai", "compatible", "url-only", "placeholder", "responses", "chat"}
    assert {record.distribution for record in found.values()} == {"imagegate"}
