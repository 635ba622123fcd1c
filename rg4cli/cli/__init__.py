"""The `rg4` command line: one thin module per command over the core modules."""
