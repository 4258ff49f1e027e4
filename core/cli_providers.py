"""``imagegate providers``: which providers are installed, from which distribution, doing what."""

from __future__ import annotations

import argparse
import sys

from .cli import emit, subcommand

OPERATIONS = ("generate", "edit", "mask", "stream")


def describe() -> list[dict[str, object]]:
    """One record per installed provider."""
    from . import plugins

    rows = []
    for name, record in sorted(plugins.providers().items()):
        adapter = record.adapter
        rows.append(
            {
                "name": name,
                "distribution": record.distribution,
                "version": record.version,
                "operations": [op for op in OPERATIONS if op in adapter.operations],
                "needs_key": bool(adapter.needs_key),
                "default": bool(getattr(adapter, "is_default", False)),
                "config_schema": adapter.config_schema_location(),
                "description": adapter.description,
            }
        )
    return rows


@subcommand("providers")
def providers_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="imagegate providers", description="List the installed providers.")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args(argv)
    rows = describe()
    if args.json:
        emit({"ok": True, "providers": rows})
        return 0
    width = max((len(str(row["name"])) for row in rows), default=4)
    for row in rows:
        source = f"{row['distribution']} {row['version']}"
        ops = ",".join(row["operations"])  # type: ignore[arg-type]
        mark = " (default)" if row["default"] else ""
        print(f"{row['name']:<{width}}  {source:<22} {ops:<26} {row['description']}{mark}")
    sys.stdout.flush()
    return 0
