"""Boards: profiles (boards/*.toml), serial ports, the link, deploy, and the one run path."""
