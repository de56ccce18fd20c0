# The `tinyml` command: the parser built from the one command table (commands.py), and the one
# error exit: a TinymlError (every error a user meets: cause and fix) is printed as
# "tinyml: error: ..." with exit status 2 (or the error's own exit_status); Ctrl-C exits 130; any
# other exception is a bug and shows its traceback.
import argparse
import sys

from tinyml_host.cli.commands import COMMANDS
from tinyml_host.cli.table import build_parser, handler
from tinyml_host.errors import TinymlError


def user_errors():
    """The exceptions the error exit prints: ours, files that cannot be read, and a .tml the
    device's own reader refuses."""
    errors = (TinymlError, OSError)
    try:
        from tinyml.tmlfile import ModelFileError
        errors += (ModelFileError,)
    except ImportError:
        pass
    return errors


DIST_NAME = "tinyml-mpy"  # the PyPI name (PyPI's "tinyml" is another project); the command is `tinyml`


def version():
    """'tinyml X (tinyml-mpy; device library Y, .mpy ABI 6.3)': the installed distribution's
    version, in a checkout not installed under this name pyproject.toml's."""
    from importlib import metadata
    try:
        v = metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        import tomllib
        from tinyml_host import paths
        with open(paths.REPO / "pyproject.toml", "rb") as f:
            v = tomllib.load(f)["project"]["version"]
    from tinyml import __version__ as device
    return "tinyml %s (%s; device library %s, .mpy ABI 6.3)" % (v, DIST_NAME, device)


class _Version(argparse.Action):
    """--version: computed only when asked for (the metadata look-up costs an import)."""
    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version())
        parser.exit()


def main(argv=None):
    p = build_parser(COMMANDS, description="Run int8 TFLite models on MicroPython boards.")
    p.add_argument("--version", action=_Version)
    a = p.parse_args(argv)
    try:
        handler(a.handler)(a)
    except KeyboardInterrupt:
        print("tinyml: interrupted", file=sys.stderr)
        return 130
    except user_errors() as e:
        print("tinyml: error: %s" % e, file=sys.stderr)
        return getattr(e, "exit_status", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
