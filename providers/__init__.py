"""The built-in provider adapters, one module each, registered through the ``imagegate`` entry points."""
