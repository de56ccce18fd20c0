"""The `tinyml` command: one command table (commands.py), one error exit."""
