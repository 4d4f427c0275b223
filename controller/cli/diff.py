"""vnetctl diff OLD NEW: the flow changes each datapath would get, and the disruptive edits."""
from __future__ import annotations

import argparse
from typing import List, TextIO

from controller.cli.problems import print_problems
from controller.explain.changes import (
    DatapathChanges,
    Disruption,
    describe_unchanged,
    disruptions,
    flow_changes,
    totals,
)
from controller.explain.source import load_located
from controller.topology import TopologyError
from controller.topology.diff import describe

EXAMPLE = '''example:
  cp topologies/weave3.yml new.yml; $EDITOR new.yml
  vnetctl diff topologies/weave3.yml new.yml           # counts per datapath, disruptive edits
  vnetctl diff topologies/weave3.yml new.yml --flows   # and every flow added, changed, removed

Both files are compiled with the same port numbers (every port plugged in,
numbered in name order), only for the datapaths the edit can touch, and
compared as the controller reconciles a switch.

exit status: 0 the files describe the same network; 1 they differ (the
output says how); 2 usage or an invalid file'''


def register(commands) -> None:
    parser = commands.add_parser(
        'diff', help='the flow changes an edit would make, per datapath', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Compare two topology files as the switches would see them: flows, groups '
                    'and meters added, changed and removed on each datapath, and the edits that '
                    'disrupt what works now (an interface moving, a VNI change, a route link '
                    'removed, an address change), each with its file line.')
    parser.add_argument('old', metavar='OLD')
    parser.add_argument('new', metavar='NEW')
    parser.add_argument('--flows', action='store_true', help='list every changed flow')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    try:
        old, new = load_located(args.old), load_located(args.new)
    except TopologyError as exc:
        print_problems(exc, out)
        return 2
    content = describe(old.topology, new.topology)
    print(f'{args.old} -> {args.new}: {content}', file=out)
    changes = flow_changes(old.topology, new.topology)
    render_changes(changes, args.flows, out)
    render_disruptions(disruptions(old, new), out)
    changed = any(c.any for c in changes) or content != 'no change in content'
    return 1 if changed else 0


def render_changes(changes: List[DatapathChanges], show_flows: bool, out: TextIO) -> None:
    width = max([len(c.datapath) for c in changes] + [8])
    for c in changes:
        print(f'  {c.datapath:<{width}}  {describe_unchanged(c) or c.summary()}', file=out)
        if show_flows:
            for sign, flows in (('+', c.added), ('~', c.changed), ('-', c.removed)):
                for f in flows:
                    print(f'  {"":<{width}}    {sign} {f.describe()}', file=out)
    t = totals(changes)
    print(f'{t["flows"]} flow changes on {t["datapaths"]} of {t["of"]} datapaths', file=out)


def render_disruptions(found: List[Disruption], out: TextIO) -> None:
    if not found:
        print('disruptive: none', file=out)
        return
    print(f'disruptive ({len(found)}):', file=out)
    for d in found:
        print(f'  {d}', file=out)
