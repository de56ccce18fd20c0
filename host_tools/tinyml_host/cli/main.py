# The `tinyml` command: the parser built from the one command table (commands.py), and the one
# error exit: a TinymlError (every error a user meets: cause and fix) is printed as
# "tinyml: error: ..." with exit status 2 (or the error's own exit_status); Ctrl-C exits 130; any
# other exception is a bug and shows its traceback.
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


def main(argv=None):
    p = build_parser(COMMANDS, description="Run int8 TFLite models on MicroPython boards.")
    a = p.parse_args(argv)
    fn = handler(a.handler) if getattr(a, "handler", None) else a.fn
    try:
        fn(a)
    except KeyboardInterrupt:
        print("tinyml: interrupted", file=sys.stderr)
        return 130
    except user_errors() as e:
        print("tinyml: error: %s" % e, file=sys.stderr)
        return getattr(e, "exit_status", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
