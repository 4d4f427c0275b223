"""``python -m bench.scale``: the arguments, one lab per size, and the output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import tempfile
import time
from pathlib import Path
from typing import Optional

import bench.scale
from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.scale.pure import ScaleTopology, pure_size
from bench.scale.report import notes, table, targets, verdicts
from bench.scale.run import run_size
from lab import Lab, NetlabError, sh

DEFAULT_SIZES = (100, 1000, 10000)
PER_NETWORK = 100
MAX_SIZE = 60000
PURE_PREFIX = 'nl000'         # names without a lab (--pure-only)


class Interrupted(BaseException):
    """SIGTERM: clean up like after Ctrl-C (a BaseException, so that no
    ``except Exception`` -- e.g. in the lab's wait_for -- swallows it)."""


def parse_sizes(text: str) -> list[int]:
    """'100,1_000' -> [100, 1000]; ValueError unless every size is 1 .. MAX_SIZE."""
    try:
        sizes = [int(s.replace('_', '')) for s in text.split(',') if s.strip()]
    except ValueError:
        raise ValueError(f'expected numbers, got {text!r}') from None
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_SIZE:
        raise ValueError(f'1 .. {MAX_SIZE} interfaces')
    return sizes


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    doc = bench.scale.__doc__ or ''
    ap = argparse.ArgumentParser(prog='python -m bench.scale', description=doc.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='See bench/scale/__init__.py for what each column '
                                        'means.')
    ap.add_argument('--sizes', default=','.join(map(str, DEFAULT_SIZES)),
                    help='comma-separated numbers of vif interfaces (default %(default)s)')
    ap.add_argument('--per-network', type=int, default=PER_NETWORK, metavar='N',
                    help='vifs per network (default %(default)s)')
    ap.add_argument('--rounds', type=int, default=0, metavar='N',
                    help='install rounds (ours and ovs-ofctl each); default 3, 1 above '
                         '--repeat-limit')
    ap.add_argument('--edits', type=int, default=0, metavar='N',
                    help='edits, alternating add/revert; default 5, 1 above --repeat-limit')
    ap.add_argument('--repeat-limit', type=int, default=2000, metavar='N',
                    help='sizes above this run once (default %(default)s)')
    ap.add_argument('--pure-budget', type=float, default=3.0, metavar='S',
                    help='seconds to spend repeating validate / compile (1-5 runs each)')
    ap.add_argument('--ofctl-version', default='OpenFlow14',
                    choices=['OpenFlow13', 'OpenFlow14', 'OpenFlow15'],
                    help='ovs-ofctl -O for the --bundle comparison (default %(default)s)')
    ap.add_argument('--ofctl-both', action='store_true',
                    help='also time the other of OpenFlow13/14 once per size')
    ap.add_argument('--ovs', choices=['private', 'shared'], default='private',
                    help='private (default): our own ovsdb-server + ovs-vswitchd (netdev '
                         'datapath, in a namespace of ours), removed in a second at the end; '
                         'shared: the machine\'s ovs-vswitchd (removing 10,000 ports from it '
                         'takes minutes)')
    ap.add_argument('--install-timeout', type=float, default=300, metavar='S')
    ap.add_argument('--pure-only', action='store_true',
                    help='only the in-process validate/compile timings (no OVS)')
    ap.add_argument('--json', action='store_true',
                    help='print JSON on stdout (progress and the table go to stderr)')
    ap.add_argument('--strict', action='store_true',
                    help='exit 1 when a measured target is missed')
    args = ap.parse_args(argv)
    try:
        args.size_list = parse_sizes(args.sizes)
    except ValueError as e:
        ap.error(f'--sizes: {e}')
    try:
        ScaleTopology(1, args.per_network, PURE_PREFIX)
    except ValueError as e:
        ap.error(f'--per-network: {e}')
    if args.rounds < 0 or args.edits < 0:
        ap.error('--rounds and --edits must be >= 0 (0: the default)')
    return args


def ovs_version() -> str:
    cp = sh(['ovs-vswitchd', '--version'], check=False, timeout=10)
    return (cp.stdout.splitlines() or ['?'])[0]


def measure(args: argparse.Namespace, say: Say) -> list[dict]:
    results = []
    for n in args.size_list:
        if args.pure_only:
            with tempfile.TemporaryDirectory(prefix='bench-scale-') as tmp:
                topo = ScaleTopology(n, args.per_network, PURE_PREFIX)
                results.append(pure_size(topo, Path(tmp) / f'scale-{n}.yml', args.pure_budget,
                                         say))
            continue
        with Lab() as lab:
            results.append(run_size(lab, n, args, say))
    return results


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    say = progress_printer(to_stderr=args.json)
    if not args.pure_only and cannot_run('bench.scale'):
        return 2

    def on_term(signum, frame):
        raise Interrupted(f'signal {signum}')
    signal.signal(signal.SIGTERM, on_term)

    t0 = time.perf_counter()
    try:
        results = measure(args, say)
    except (SetupError, NetlabError, AssertionError) as e:
        say(f'bench.scale: setup failed: {e}')
        return 2
    except (KeyboardInterrupt, Interrupted):
        say('bench.scale: interrupted; cleaned up')
        return 130
    tgt = [] if args.pure_only else targets(results)
    met = all(t['met'] for t in tgt)
    if args.json:
        doc = {'machine': {'host': platform.node(), 'cpus': os.cpu_count(),
                           'python': platform.python_version(), 'ovs': ovs_version(),
                           'ovs_instance': args.ovs},
               'elapsed_s': time.perf_counter() - t0, 'sizes': results, 'targets': tgt,
               'meets_targets': met}
        print(json.dumps(doc, indent=2, default=str))
    # the table (on stderr with --json, after the progress lines)
    if args.pure_only:
        for r in results:
            say(f'{r["size"]}: {r["flows"]} flows; validate {r["validate_ms"]["median"]:.0f} '
                f'ms, compile {r["compile_ms"]["median"]:.0f} ms')
    else:
        say('')
        say(table(results))
        for line in notes(results) + verdicts(tgt):
            say('  ' + line)
    say(f'  total {time.perf_counter() - t0:.0f} s')
    return 1 if (args.strict and not met) else 0
