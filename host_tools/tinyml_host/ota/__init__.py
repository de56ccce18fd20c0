"""Signed model updates (`tinyml ota`): keys.py (Ed25519 key pairs), bundle.py (build and read a
signed bundle), push.py (install one over a board's serial link), serve.py (an HTTP server boards
pull bundles from), commands.py (the command line). The device half is device_lib/tinyml/ota.py."""
