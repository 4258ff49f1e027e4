"""``python -m imagegate``: the same as the ``imagegate`` command."""

from imagegate_launcher import main

raise SystemExit(main())
