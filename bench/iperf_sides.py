"""What the iperf3 benches that compare sides on one bridge share: the
rounds (alternating, mirrored), the rows (median, spread, ratio to the base
side), the table, and the command line (bench.nat, bench.security_groups).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List, Sequence

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.stats import alternating, fmt, median, ratio, spread
from lab import Lab


def measure(sides: Sequence[str], rounds: int, run_one: Callable[[str], float], say: Say) -> dict:
    """Gbit/s per side, `rounds` runs each, sides alternating (mirrored)."""
    runs: Dict[str, List[float]] = {side: [] for side in sides}
    for k, side in alternating(sides, rounds, mirrored=True):
        rate = run_one(side)
        runs[side].append(rate)
        say(f'  round {k + 1} {side}: {rate:.3f} Gbit/s')
    return runs


def rows(runs: Dict[str, List[float]], sides: Sequence[str], base: str) -> List[Dict[str, Any]]:
    """Per side: median, spread (max/min), the runs, and its ratio to `base`'s median."""
    mid_base = median(runs[base])
    found = []
    for side in sides:
        mid = median(runs[side])
        found.append({'side': side, 'median_gbps': mid, 'spread': round(spread(runs[side]), 3),
                      'runs_gbps': [round(r, 3) for r in runs[side]],
                      'ratio': None if side == base else ratio(mid, mid_base)})
    return found


def table(result: dict, target_text: str) -> str:
    lines = [f"{'side':<8} {'median Gbit/s':>14} {'ratio':>7} {'spread':>7}  runs (Gbit/s)"]
    for r in result['rows']:
        lines.append(f"{r['side']:<8} {fmt(r['median_gbps'], '.3f', 14)} {fmt(r['ratio'], '.3f', 7)} "
                     f"{fmt(r['spread'], '.2f', 7)}  {' '.join(f'{x:.2f}' for x in r['runs_gbps'])}")
    lines.append(f"target: {target_text}: {'met' if result['meets_target'] else 'MISSED'}")
    return '\n'.join(lines)


def main(prog: str, doc: str, make_bench: Callable[[Lab, argparse.Namespace, Say], Any],
         summary: Callable[[dict], dict], render: Callable[[dict], str], argv=None) -> int:
    """The command line: --rounds, --seconds, --json, --strict; exit 2 when
    the setup does not work, 1 with --strict when the target is missed."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=5, help='alternating rounds (default 5)')
    p.add_argument('--seconds', type=int, default=4, help='iperf3 seconds per run (default 4)')
    p.add_argument('--json', action='store_true', help='print the result as JSON')
    p.add_argument('--strict', action='store_true', help='exit 1 when the target is missed')
    args = p.parse_args(argv)
    if cannot_run(p.prog):
        return 2
    say = progress_printer(args.json)
    with Lab() as lab:
        bench = make_bench(lab, args, say)
        try:
            bench.setup()
        except SetupError as exc:
            print(f'{p.prog}: setup failed: {exc}', file=sys.stderr)
            return 2
        result = summary(bench.measure())
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 1 if args.strict and not result['meets_target'] else 0
