"""vnetctl: the operator's command line, one module per subcommand.

Each subcommand module has `register(commands)` (adds its argparse parser
and sets `run`) and returns exit status 0 (ok), 1 (found a problem) or
2 (usage).  A new subcommand is a module here plus one line in SUBCOMMANDS.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from controller.cli import check

SUBCOMMANDS = (check,)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:              # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if not hasattr(args, 'run'):
        parser.print_help(sys.stderr)
        return 2
    return args.run(args, sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vnetctl', description='Operate ryu-vnet topologies.')
    commands = parser.add_subparsers(title='commands', metavar='COMMAND')
    for module in SUBCOMMANDS:
        module.register(commands)
    return parser
