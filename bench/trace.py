"""vnetctl trace on the 10,000-interface generated topologies, against the 1 s limit.

Two topologies from lab.topogen, 10,000 vifs in networks of 100, each with
a gateway and a DHCP interface:

* fabric: 100 datapaths, each network on 10 of them (bench.fabric_control's);
* single: one datapath holding all 10,000 vifs (bench.scale's largest).

Per case, side by side in alternating rounds:

* command: the whole `vnetctl trace` process, as a user waits for it
  (interpreter start, imports, reading and validating the file, compiling,
  the walk, printing), the figure the 1 s limit is about;
* scoped / full: in this process, load + compile + walk, compiling only the
  ports of the networks the frame can reach (what vnetctl does) versus
  every port of each datapath crossed.

    python -m bench.trace [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from bench.stats import alternating, fmt, median
from controller.explain.packet import Request, build
from controller.explain.source import load_located
from controller.explain.walk import Walker
from lab import REPO_ROOT, topogen

LIMIT_S = 1.0
TOPOLOGIES = {
    'fabric': topogen.Spec(10_000, per_network=100, datapaths=100, span=10),
    'single': topogen.Spec(10_000, per_network=100),
}
# (topology, label, vnetctl arguments after the file)
CASES = [
    ('fabric', 'same network, across a tunnel', ['--from', 'vm5', '--to', 'vm7']),
    ('fabric', 'to a gateway, answered', ['--from', 'vm5', '--to', 'n0-gw']),
    ('fabric', 'DHCP, to the controller', ['--from', 'vm5', '--dhcp']),
    ('single', 'same network', ['--from', 'vm5', '--to', 'vm7']),
    ('single', 'other network, dropped', ['--from', 'vm5', '--to', 'vm150']),
]
SIDES = ('command', 'scoped', 'full')
VNETCTL = str(REPO_ROOT / '.venv' / 'bin' / 'vnetctl')


def request_of(args: List[str]) -> Request:
    source = args[1]
    if '--dhcp' in args:
        return Request(source, kind='dhcp')
    return Request(source, args[args.index('--to') + 1])


def measure(side: str, path: Path, args: List[str]) -> float:
    start = time.perf_counter()
    if side == 'command':
        cp = subprocess.run([VNETCTL, 'trace', str(path), *args], capture_output=True, text=True)
        if cp.returncode not in (0, 1) or 'verdict:' not in cp.stdout:
            raise RuntimeError(f'vnetctl trace {path} {" ".join(args)}: {cp.stdout}{cp.stderr}')
        return time.perf_counter() - start
    located = load_located(str(path))
    probe = build(located.topology, request_of(args))
    walker = Walker.for_probe(located, probe) if side == 'scoped' else Walker(located)
    walker.trace(probe)
    return time.perf_counter() - start


def run(rounds: int, say) -> Dict[str, Dict[str, List[float]]]:
    results: Dict[str, Dict[str, List[float]]] = {}
    with tempfile.TemporaryDirectory(prefix='bench-trace-') as tmp:
        paths = {}
        for name, spec in TOPOLOGIES.items():
            paths[name] = Path(tmp) / f'{name}.yml'
            paths[name].write_text(topogen.topology_text(spec))
        for topology, label, args in CASES:
            times = results.setdefault(f'{topology}: {label}', {s: [] for s in SIDES})
            for _, side in alternating(SIDES, rounds, mirrored=True):
                times[side].append(measure(side, paths[topology], args))
            say(f'{topology}: {label}: ' + ', '.join(
                f'{s} {median(times[s]):.3f} s' for s in SIDES))
    return results


def report(results: Dict[str, Dict[str, List[float]]], rounds: int) -> str:
    lines = [f'vnetctl trace, 10,000 interfaces, {rounds} alternating rounds: median (min-max) s',
             '', f'| case | {" | ".join(SIDES)} | command < {LIMIT_S:g} s |', '|---|---|---|---|---|']
    for case, times in results.items():
        cells = [f'{fmt(median(times[s]), ".2f")} ({min(times[s]):.2f}-{max(times[s]):.2f})'
                 for s in SIDES]
        ok = '✓' if (median(times['command']) or 0) < LIMIT_S else '✗'
        lines.append(f'| {case} | {" | ".join(cells)} | {ok} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m bench.trace', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5, help='alternating rounds per case (default 5)')
    ap.add_argument('--json', action='store_true', help='print the raw times as JSON')
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error('--rounds must be at least 1')
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    results = run(args.rounds, say)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print()
        print(report(results, args.rounds))
    worst = max(median(t['command']) or 0 for t in results.values())
    return 0 if worst < LIMIT_S else 1


if __name__ == '__main__':
    sys.exit(main())
