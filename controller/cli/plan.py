"""vnetctl plan NEW: what saving NEW would change on the running switches."""
from __future__ import annotations

import argparse
import os
from typing import List, TextIO

from controller.cli.diff import render_disruptions
from controller.cli.problems import print_problems
from controller.cli.trace import add_ovs_option, ovs_of
from controller.explain.changes import disruptions
from controller.explain.live import LiveChanges, LiveError, live_changes
from controller.explain.packet import ProbeError
from controller.explain.source import load_located
from controller.options import DEFAULT_TOPOLOGY
from controller.topology import TopologyError

EXAMPLE = '''example:
  cp topologies/default.yml new.yml; $EDITOR new.yml
  vnetctl plan new.yml                                  # before: cp new.yml topologies/default.yml
  vnetctl plan new.yml --against /etc/vnet/topology.yml --flows

The flow changes are measured on the switches themselves: each datapath of
NEW is compiled with its bridge's port numbers (the bridge with its dpid on
this machine's Open vSwitch, or the one --ovs names) and compared by cookie
with the flows of ours that bridge holds, exactly what the running
controller would send (groups and meters are not compared).  The
disruptive edits come from comparing NEW with the file the controller
watches (--against; default $VNET_TOPOLOGY, else topologies/default.yml).

exit status: 0 the switches already hold what NEW makes; 1 saving NEW would
change flows (or no bridge here has a datapath's dpid); 2 usage, an invalid
file, or Open vSwitch could not be asked'''


def register(commands) -> None:
    parser = commands.add_parser(
        'plan', help='the flow changes saving a topology would make on the running switches',
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Compare a topology with what the switches of this machine hold now: flows '
                    'to add and to remove per datapath, and the disruptive edits against the '
                    'running topology file.')
    parser.add_argument('new', metavar='NEW')
    parser.add_argument('--against', metavar='RUNNING',
                        help='the running topology file (default: $VNET_TOPOLOGY, else '
                             f'{DEFAULT_TOPOLOGY})')
    parser.add_argument('--flows', action='store_true', help='list every flow to add')
    add_ovs_option(parser)
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    try:
        new = load_located(args.new)
    except TopologyError as exc:
        print_problems(exc, out)
        return 2
    running_path = args.against or os.environ.get('VNET_TOPOLOGY') or DEFAULT_TOPOLOGY
    running = _running(running_path, explicit=args.against is not None, out=out)
    if running is False:
        return 2
    try:
        where = ovs_of(args.ovs, new.topology)
        datapaths = sorted(set(new.topology.datapaths) | set(running.topology.datapaths if running else ()))
        changes = live_changes(new.topology, datapaths, where)
    except (LiveError, ProbeError) as exc:
        print(f'vnetctl plan: {exc}', file=out)
        return 2
    render(changes, args.flows, out)
    if not any(c.bridge for c in changes):
        print('no bridge on this machine has the dpid of a datapath of the topology: nothing to '
              'compare (is Open vSwitch running the bridges here?)', file=out)
        return 1
    if running is not None:
        print(f'against {running_path}:', file=out)
        render_disruptions(disruptions(running, new), out)
    return 1 if any(c.any for c in changes) else 0


def _running(path: str, explicit: bool, out: TextIO):
    """The running topology; None (no comparison) when the default file is
    missing or invalid; False (usage) when an explicit --against is."""
    try:
        return load_located(path)
    except TopologyError as exc:
        if explicit:
            print_problems(exc, out)
            return False
        print(f'(no disruptive-edit check: {exc.problems[0]})', file=out)
        return None


def render(changes: List[LiveChanges], show_flows: bool, out: TextIO) -> None:
    width = max([len(c.datapath) for c in changes] + [8])
    for c in changes:
        if c.bridge is None:
            print(f'  {c.datapath:<{width}}  no bridge with its dpid on this machine: not checked',
                  file=out)
            continue
        what = (f'+{len(c.added)} -{c.removed} flows' if c.any else 'in sync')
        print(f'  {c.datapath:<{width}}  {what}  (bridge {c.bridge}: {c.installed} of ours installed, '
              f'{c.desired} desired)', file=out)
        if show_flows:
            for f in c.added:
                print(f'  {"":<{width}}    + {f.describe()}', file=out)
    changed = [c for c in changes if c.any]
    print(f'{sum(len(c.added) + c.removed for c in changed)} flow changes on {len(changed)} of '
          f'{sum(1 for c in changes if c.bridge)} datapaths found here '
          '(a changed flow counts as one added and one removed)', file=out)


