"""bench.fabric_control's command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from bench.common import SetupError, cannot_run, progress_printer
from bench.fabric_control.report import table, verdicts
from bench.fabric_control.run import measure
from bench.fabric_control.topo import Shape, edit_vif
from lab import Lab, NetlabError


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog='python -m bench.fabric_control',
        description='programming many datapaths at once, and a one-interface edit across them')
    ap.add_argument('--datapaths', type=int, default=100, metavar='N', help='default 100')
    ap.add_argument('--per-datapath', type=int, default=100, metavar='N',
                    help='vifs on each datapath; default 100')
    ap.add_argument('--span', type=int, default=10, metavar='N',
                    help='datapaths each network spans; default 10')
    ap.add_argument('--networks-per-datapath', type=int, default=10, metavar='N',
                    help='networks with vifs on each datapath; default 10')
    ap.add_argument('--rounds', type=int, default=3, metavar='N',
                    help='times every datapath is programmed from empty; default 3')
    ap.add_argument('--edits', type=int, default=2, metavar='N',
                    help='one-interface edits, alternately adding and removing a vif; default 2')
    ap.add_argument('--timeout', type=float, default=300, metavar='S',
                    help='give up on a step after this long; default 300')
    ap.add_argument('--json', action='store_true', help='print JSON instead of tables')
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.edits < 0 or args.timeout <= 0:
        ap.error('--rounds must be >= 1, --edits >= 0 and --timeout > 0')
    try:
        args.shape = Shape(args.datapaths, args.per_datapath, args.span, args.networks_per_datapath)
    except ValueError as e:
        ap.error(str(e))
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if cannot_run('bench.fabric_control'):
        return 2
    say = progress_printer(to_stderr=args.json)
    shape: Shape = args.shape
    say(f'fabric: {shape.describe()}')
    try:
        with Lab() as lab:
            res = measure(lab, shape, args, say)
    except (SetupError, NetlabError, AssertionError) as e:
        print(f'bench.fabric_control: FAILED: {e}', file=sys.stderr)
        return 2
    vif = edit_vif(shape)
    if args.json:
        res['verdicts'] = verdicts(res)
        print(json.dumps(res, indent=1, default=str))
    else:
        print()
        print(table(res, shape, f'{vif.name} ({vif.ipv4}, port {vif.port})'))
    return 0
