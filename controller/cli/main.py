"""vnetctl: the operator's command line.

    vnetctl check FILE [FILE...]   validate topology files; exit 1 if any has problems
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, TextIO

from controller.topology import Topology, TopologyError
from controller.topology.validate import validate_file


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, 'run'):
        parser.print_help(sys.stderr)
        return 2
    return args.run(args, sys.stdout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vnetctl', description='Operate ryu-vnet topologies.')
    commands = parser.add_subparsers(title='commands', metavar='COMMAND')
    check = commands.add_parser(
        'check', help='validate topology files',
        description='Validate topology files: print every problem (file:line: key path: '
                    'what is wrong), or a one-line summary per valid file.')
    check.add_argument('files', nargs='+', metavar='FILE')
    check.set_defaults(run=check_files)
    return parser


def check_files(args, out: TextIO) -> int:
    failed = False
    for path in args.files:
        try:
            topology = validate_file(path)
        except TopologyError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=out)
        else:
            print(f'{path}: ok — {summary(topology)}', file=out)
    return 1 if failed else 0


def summary(topology: Topology) -> str:
    """'1 datapath, 2 networks, 6 interfaces, 0 route links'"""
    counts = ((len(topology.datapaths), 'datapath'), (len(topology.networks), 'network'),
              (len(topology.interfaces), 'interface'), (len(topology.route_links), 'route link'))
    return ', '.join(f'{n} {noun}{"" if n == 1 else "s"}' for n, noun in counts)


if __name__ == '__main__':
    sys.exit(main())
