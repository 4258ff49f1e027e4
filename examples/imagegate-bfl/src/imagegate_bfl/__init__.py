"""imagegate-bfl: the ``bfl`` provider for the Black Forest Labs (FLUX) API, as an imagegate plugin."""

from __future__ import annotations

from imagegate import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_providers(register):
    # Imported here, not at the top, so that loading plugins stays cheap for commands that list them.
    from imagegate_bfl.adapter import BflAdapter

    register(BflAdapter)
