"""``python -m imagegate``: the same as the ``imagegate`` command."""

from imagegate.cli import main

raise SystemExit(main())
