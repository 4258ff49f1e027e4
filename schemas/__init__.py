"""JSON Schema files shipped with imagegate (package data, read with importlib.resources)."""
