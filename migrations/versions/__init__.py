"""Migration scripts, one logical change each, oldest first by revision number."""
