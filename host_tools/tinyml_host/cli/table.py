"""The shape of the command table (commands.py) and the parser built from it.

    Command(name, help, handler="tinyml_host.<room>.<module>:<function>", args=[Arg(...), ...])
    Command(name, help, sub=[Command(...), ...])          a command with subcommands (board list ...)
Handlers are imported only when their command runs, so `tinyml --help` loads no room."""
import argparse
import dataclasses
import importlib


@dataclasses.dataclass
class Arg:
    flags: tuple
    options: dict


def arg(*flags, **options):
    """An argument, exactly as argparse's add_argument takes it."""
    return Arg(flags, options)


@dataclasses.dataclass
class Command:
    name: str
    help: str
    handler: str = None
    args: list = dataclasses.field(default_factory=list)
    sub: list = None
    description: str = None


def handler(spec):
    """The function a 'module:function' spec names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def build_parser(commands, prog="tinyml", description=None):
    p = argparse.ArgumentParser(prog=prog, description=description)
    _add(p.add_subparsers(dest="cmd", required=True, metavar="COMMAND"), commands)
    return p


def _add(subparsers, commands):
    for c in commands:
        p = subparsers.add_parser(c.name, help=c.help, description=c.description or c.help)
        for a in c.args:
            p.add_argument(*a.flags, **a.options)
        if c.sub:
            _add(p.add_subparsers(dest=c.name + "_cmd", required=True, metavar="SUBCOMMAND"), c.sub)
        else:
            p.set_defaults(handler=c.handler)
