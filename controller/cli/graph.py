"""vnetctl graph TOPOLOGY -o FILE.svg|.png|.dot: draw the topology with Graphviz."""
from __future__ import annotations

import argparse
import os
from typing import TextIO

import graphviz

from controller.cli.problems import print_problems
from controller.explain.drawing import draw
from controller.topology import TopologyError, load_topology

FORMATS = ('svg', 'png', 'dot')
EXAMPLE = '''example:
  vnetctl graph topologies/seed003.yml -o seed003.svg
  vnetctl graph topologies/weave3.yml -o weave3.png

Datapaths are boxes holding their interfaces, each network its own colour,
route links are routers, dashed lines are VXLAN tunnels between datapaths.
Needs Graphviz's dot for .svg and .png (make setup installs it).

exit status: 0 written; 1 an invalid topology, or dot failed; 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'graph', help='draw the topology (Graphviz: .svg, .png or .dot)', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Draw a topology: datapaths with their interfaces, networks in colours, '
                    'route links as routers and the tunnels between datapaths.')
    parser.add_argument('topology', metavar='TOPOLOGY')
    parser.add_argument('-o', '--output', required=True, metavar='FILE',
                        help='where to write; the format follows the suffix (.svg, .png, .dot)')
    parser.add_argument('--collapse', type=int, default=12, metavar='N',
                        help='show more than N interfaces of one network on a datapath as one node '
                             '(default 12)')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    fmt = os.path.splitext(args.output)[1].lstrip('.').lower()
    if fmt not in FORMATS:
        print(f'vnetctl graph: -o {args.output}: the name must end in .svg, .png or .dot', file=out)
        return 2
    try:
        topology = load_topology(args.topology)
    except TopologyError as exc:
        print_problems(exc, out)
        return 1
    graph = draw(topology, collapse=max(1, args.collapse))
    try:
        data = graph.source.encode() if fmt == 'dot' else graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        print("vnetctl graph: Graphviz's dot is not installed (apt-get install graphviz, or make "
              'setup); -o FILE.dot needs no dot', file=out)
        return 1
    except graphviz.CalledProcessError as exc:
        print(f'vnetctl graph: dot failed: {exc.stderr.decode(errors="replace").strip()}', file=out)
        return 1
    try:
        with open(args.output, 'wb') as f:
            f.write(data)
    except OSError as exc:
        print(f'vnetctl graph: cannot write {args.output}: {exc.strerror}', file=out)
        return 1
    print(f'{args.output}: {len(topology.datapaths)} datapaths, {len(topology.networks)} networks, '
          f'{len(topology.interfaces)} interfaces, {len(topology.route_links)} route links', file=out)
    return 0
