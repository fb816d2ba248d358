"""The `bonas` command line."""
