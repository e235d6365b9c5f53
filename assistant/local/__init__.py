"""The built-in offline model (issue #6)."""
