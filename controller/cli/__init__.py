"""vnetctl: the operator's command line, one module per subcommand.

Each subcommand module has `register(commands)` (adds its argparse parser
and sets `run`) and returns exit status 0 (ok), 1 (found a problem) or
2 (usage).  A new subcommand is a module here plus one line in SUBCOMMANDS.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from controller.cli import apply, attach, check, detach, diff, get, graph, history, plan, rollback, setup, show, trace

SUBCOMMANDS = (check,
               apply, get, history, rollback,     # the topology in etcd
               setup, attach, detach,             # bridges and NICs on this machine
               trace, diff, plan, graph,          # explain: packets, edits, pictures
               show,                              # the running controller, from its API
               )


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:              # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if not hasattr(args, 'run'):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args, sys.stdout)
    except BrokenPipeError:                # `vnetctl ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vnetctl', description='Operate ryu-vnet topologies.')
    commands = parser.add_subparsers(title='commands', metavar='COMMAND')
    for module in SUBCOMMANDS:
        module.register(commands)
    return parser
