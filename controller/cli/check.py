"""vnetctl check FILE [FILE...]: validate topology files."""
from __future__ import annotations

import argparse
from typing import TextIO

from controller.cli.problems import print_problems
from controller.topology import Topology, TopologyError, load_topology

EXAMPLE = '''example:
  vnetctl check topologies/default.yml my.yml
exit status: 0 every file is valid, 1 a file has problems, 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'check', help='validate topology files', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Validate topology files: print every problem (file:line: key path: '
                    'what is wrong), or a one-line summary per valid file.')
    parser.add_argument('files', nargs='+', metavar='FILE')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    failed = False
    for path in args.files:
        try:
            topology = load_topology(path)
        except TopologyError as exc:
            failed = True
            print_problems(exc, out)
        else:
            print(f'{path}: ok — {summary(topology)}', file=out)
    return 1 if failed else 0


def summary(topology: Topology) -> str:
    """'1 datapath, 2 networks, 6 interfaces, 0 route links'"""
    counts = [(len(topology.datapaths), 'datapath'), (len(topology.networks), 'network'),
              (len(topology.interfaces), 'interface'), (len(topology.route_links), 'route link')]
    if topology.security_groups:       # said only where there are any
        counts.append((len(topology.security_groups), 'security group'))
    return ', '.join(f'{n} {noun}{"" if n == 1 else "s"}' for n, noun in counts)
