"""``python -m bench.dhcp``: the arguments, the lab, and the output."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Optional

from bench.common import SetupError, cannot_run
from bench.dhcp.measure import measure
from bench.dhcp.report import table
from bench.dhcp.sides import MAX_CLIENTS, SIDES, Bench
from lab import Lab, NetlabError


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog='python -m bench.dhcp',
        description='DHCP DORA rate and latency: our responder vs dnsmasq '
                    '(see bench/dhcp/__init__.py)')
    ap.add_argument('--clients', type=int, default=64, metavar='N',
                    help='client MACs, each on its own veth/OVS port (default 64)')
    ap.add_argument('--concurrency', type=int, default=16, metavar='C',
                    help='DORA exchanges in flight at once (default 16)')
    ap.add_argument('--rounds', type=int, default=3, metavar='R',
                    help='measured rounds per side, alternating (default 3)')
    ap.add_argument('--duration', type=float, default=3.0, metavar='S',
                    help='seconds per round (default 3)')
    ap.add_argument('--latency-duration', type=float, default=1.5, metavar='S',
                    help='then seconds per round one DORA at a time, for unloaded '
                         'latency (default 1.5; 0: skip)')
    ap.add_argument('--dnsmasq-bridge', choices=('normal', 'static'), default='normal',
                    help='dnsmasq side: one NORMAL flow (default), or NORMAL plus static '
                         'flows (DHCP requests to the server port, client MACs to their '
                         'ports) so broadcasts are not flooded, like our pipeline')
    ap.add_argument('--timeout', type=float, default=1.0, metavar='S',
                    help='wait per step (OFFER, ACK) before a transaction times out (default 1)')
    ap.add_argument('--warmup', type=float, default=10.0, metavar='S',
                    help='at most this long for every client to complete one DORA '
                         'before measuring (default 10)')
    ap.add_argument('--sides', default='dnsmasq,ours',
                    help='comma-separated: dnsmasq, ours (default both)')
    ap.add_argument('--app', default='controller.app', metavar='MODULE',
                    help='the os-ken app module(s) ryu-manager runs for ours '
                         '(default controller.app; for trying variants)')
    ap.add_argument('--packet-ins', action='store_true',
                    help="no service port on ours' bridge: our responder answers by "
                         'packet-in/packet-out')
    ap.add_argument('--json', action='store_true', help='print JSON instead of a table')
    ap.add_argument('--strict', action='store_true',
                    help='exit 1 when ours misses a target or gives no answers')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='controller at debug level; its log tail when it gives no answers')
    args = ap.parse_args(argv)
    args.side_list = [s.strip() for s in args.sides.split(',') if s.strip()]
    if not args.side_list or any(s not in SIDES for s in args.side_list):
        ap.error('--sides takes dnsmasq and/or ours')
    if not 1 <= args.clients <= MAX_CLIENTS:
        ap.error(f'--clients must be 1..{MAX_CLIENTS}')
    if args.rounds < 1 or args.duration <= 0 or args.concurrency < 1:
        ap.error('--rounds and --concurrency must be >= 1, --duration > 0')
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    sides = args.side_list
    no_dnsmasq = ['dnsmasq is not installed (apt-get install dnsmasq-base)'] \
        if 'dnsmasq' in sides and shutil.which('dnsmasq') is None else []
    if cannot_run('bench.dhcp', no_dnsmasq):
        return 2
    try:
        with Lab() as lab:
            bench = Bench(lab, args.clients, service_port=not args.packet_ins)
            try:
                if not args.json:
                    print(f'setting up {args.clients} clients per side '
                          f'({", ".join(sides)}) ...', file=sys.stderr)
                bench.build(sides, args.verbose, args.dnsmasq_bridge, args.app)
                result = measure(bench, sides, args)
            finally:
                bench.close()
    except (SetupError, NetlabError) as e:
        print(f'bench.dhcp: setup failed: {e}', file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else table(result))
    if args.strict and 'ours' in result['sides']:
        if not all(t['met'] for t in result['targets'].values()):
            return 1
    return 0
