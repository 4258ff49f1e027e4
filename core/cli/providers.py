"""``imagegate providers``: which providers are installed, from which distribution, doing what."""

from __future__ import annotations

import sys
from typing import Any

from ..options import OPERATIONS
from .console import Parser, emit, report

COLUMNS = ("name", "distribution", "operations", "config schema", "description")


def describe_record(record: Any) -> dict[str, object]:
    """One provider as ``imagegate providers --json`` shows it."""
    adapter = record.adapter
    return {
        "name": record.name,
        "distribution": record.distribution,
        "version": record.version,
        "operations": [op for op in OPERATIONS if op in adapter.operations],
        "needs_key": bool(adapter.needs_key),
        "default": adapter.is_default,
        "config_schema": adapter.config_schema_location(),
        "description": adapter.description,
    }


def describe() -> list[dict[str, object]]:
    """One record per usable provider, by name."""
    from .. import plugins

    return [describe_record(record) for _, record in sorted(plugins.providers().items())]


def _table(rows: list[dict[str, object]]) -> list[str]:
    cells = [
        (
            f"{row['name']}{' (default)' if row['default'] else ''}",
            f"{row['distribution']} {row['version']}",
            ",".join(row["operations"]),  # type: ignore[arg-type]
            str(row["config_schema"]),
            str(row["description"]),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [COLUMNS, *cells]) for i in range(len(COLUMNS) - 1)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in [tuple(c.upper() for c in COLUMNS), *cells]
    ]


def json_listing() -> tuple[dict[str, Any], list[Any]]:
    """What ``--json`` prints (also the MCP server's list_providers), and the name conflicts found."""
    from .. import plugins

    errors = [plugins.conflict_error(name, records) for name, records in sorted(plugins.conflicts().items())]
    listing = {
        "ok": not errors,
        "providers": describe(),
        "errors": [error.message for error in errors],
        "plugin_failures": plugins.failures(),
    }
    return listing, errors


def command(argv: list[str]) -> int:
    """List the providers; a provider name offered twice is reported as an error (exit 2)."""
    parser = Parser(prog="imagegate providers", description="List the installed providers.")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args(argv)
    listing, errors = json_listing()
    if args.json:
        emit(listing)
    else:
        print("\n".join(_table(listing["providers"])))
        sys.stdout.flush()
    if not errors:
        return 0
    return max(report(error) for error in errors)
