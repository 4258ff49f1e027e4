"""A plugin that fails on import, the way a plugin with a missing dependency does."""

raise RuntimeError("imagegate-broken is broken on purpose")
