"""imagegate's test suite (a package, so its helpers are imported relatively and never shadowed)."""
