"""``imagegate usage``: what the paid calls cost, per profile, per model and per day, from the ledger."""

from __future__ import annotations

import itertools
import sys

from .. import ledger
from ..usage import parse_since, render, summarize
from .console import Parser, emit

DESCRIPTION = """Spend and image counts of the paid calls recorded in the ledger
($XDG_STATE_HOME/imagegate/ledger.jsonl). Costs are estimates from the provider's price table
(from token usage when the answer gave it); calls of models without a price have none."""


def command(argv: list[str]) -> int:
    """Print the report (text, or one JSON object with --json)."""
    parser = Parser(prog="imagegate usage", description=DESCRIPTION)
    parser.add_argument("--since", metavar="DATE", help="only calls from this UTC date on (2026-12-01)")
    parser.add_argument("--profile", metavar="NAME", help="only calls of this profile")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args(argv)
    since = parse_since(args.since) if args.since is not None else None
    paths = ledger.known_ledgers()
    records = itertools.chain.from_iterable(ledger.read(path) for path in paths)
    summary = summarize(records, since, args.profile)
    if args.json:
        emit({"ok": True, "ledger": str(paths[0]), "ledgers": [str(path) for path in paths], **summary})
    else:
        sys.stdout.write(render(summary, ", ".join(str(path) for path in paths)) + "\n")
    return 0
