"""Data-plane benchmark: iperf3 TCP through OUR pipeline vs plain OVS NORMAL.

    make bench-dataplane             # = .venv/bin/python -m bench.dataplane
    .venv/bin/python -m bench.dataplane --case routed --runs 5 --seconds 10
    .venv/bin/python -m bench.dataplane --json

Cases (the default, ``--case all``, runs both and prints one table):

* ``l2``: two hosts (network namespaces) of one virtual network,
  172.31.99.0/24, on one OVS userspace bridge programmed by the controller
  from a generated topology. Target ratio >= 0.95 (proactive flows must keep
  us at OVS's own speed).
* ``routed``: two hosts in two virtual networks, 172.31.1.0/24 and
  172.31.2.0/24, on one bridge, each network with a simulated router
  interface (.254, services [router]) and the two joined by a route link;
  the hosts' default routes point at their gateway, so every packet is
  routed by the pipeline (MAC rewrite, dec_ttl). Before measuring, a ping
  across the router must come back with TTL 63 (one routed hop), else the
  run fails. Target ratio >= 0.90.

The baseline of both cases is the same: two hosts in one subnet on a bridge
with a single ``actions=NORMAL`` flow and no controller. So the routed ratio
says what routing through our pipeline costs against OVS's plain L2 speed.
Runs alternate (ours, baseline, ours, baseline, ...) so drifting machine load
hits both sides alike. The result of a case is the ratio of the medians,
ours/baseline.

Needs root and a running ovs-vswitchd (``make setup``). All traffic stays in
namespaces created here; everything is removed at exit. Every case is built
and checked (ping; TTL for routed) before the first measurement, so a broken
setup fails fast.

Output: a table with one row per case (medians, ratio, target, min-max of
each side's runs); ``--json`` prints ``{"cases": [...], "meets_target": ...}``
with each case's runs instead. Progress lines go to stdout (stderr with --json).

Exit status: 0 when measured (whatever the ratios; with --strict, 1 when a
ratio misses its target), 2 when the setup does not work (e.g. no ping
through our pipeline, wrong TTL across the router), with the controller's
log and flows.

Extension point: a case is a ``Case`` subclass registered in ``CASES``. A
case builds both sides in a lab and returns a ``TrafficPath`` (client,
server, server address) for each; ``check_ours`` may verify more than
reachability.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

import yaml

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.stats import alternating, median, spread
from lab import (
    Bridge,
    Controller,
    Host,
    Lab,
    NetlabError,
    free_tcp_port,
    iperf3_tcp,
    wait_for,
    wait_for_flows,
)

NOISY_SPREAD = 1.25   # max/min of one side's runs above this: say so


@dataclass
class TrafficPath:
    """Where one side's traffic goes: client -> server_ip (on server)."""
    client: Host
    server: Host
    server_ip: str
    bridges: list[Bridge] = field(default_factory=list)


class Case:
    """One benchmark scenario; subclasses fill in the two builders."""
    name = ''
    description = ''
    target = 0.95          # ours/baseline median ratio to meet
    path_note = ''         # said when our pipeline does not forward

    def build_ours(self, lab: Lab) -> tuple[TrafficPath, Controller]:
        """Bridges + hosts + a controller with a generated topology; return
        the path to measure once the pipeline is known to forward."""
        raise NotImplementedError

    def build_baseline(self, lab: Lab) -> TrafficPath:
        """The hosts on plain OVS (NORMAL) bridges."""
        raise NotImplementedError

    def check_ours(self, path: TrafficPath, ctl: Controller) -> None:
        """After ping works: raise SetupError if the path is not what the
        case means to measure."""


def _start_controller(lab: Lab, topology: dict, bridges: list[Bridge],
                      port: int, name: str) -> Controller:
    path = lab.write(f'bench-{name}-topology.yml',
                     yaml.safe_dump(topology, sort_keys=False))
    ctl = lab.controller(path, port=port)
    for br in bridges:
        br.wait_connected(timeout=30)
    return ctl


def _diagnostics(path: TrafficPath, ctl: Optional[Controller]) -> str:
    if ctl is None:
        return ''
    try:
        flows = '\n'.join(f['raw'] for br in path.bridges for f in br.dump_flows())
    except NetlabError as e:
        flows = f'(could not dump flows: {e})'
    return (f'\n--- controller flows ---\n{flows or "(none)"}'
            f'\n--- controller log ({ctl.log_path}) ---\n{ctl.log_tail(80)}')


def _check_forwarding(path: TrafficPath, ctl: Optional[Controller], what: str) -> None:
    """Fail with a clear message unless client can ping the server."""
    try:
        for br in path.bridges if ctl else []:
            wait_for_flows(br, 1, timeout=30)
        wait_for(lambda: path.client.ping(path.server_ip, timeout=1), timeout=20,
                 what=f'{path.client.name} ({path.client.ip}) to ping {path.server_ip}')
    except AssertionError as e:
        raise SetupError(f'{what}: {e}{_diagnostics(path, ctl)}') from None


def _normal_baseline(lab: Lab, tag: str, mac_byte: int) -> TrafficPath:
    """The baseline of every case: two hosts of 172.31.99.0/24 on one bridge
    with a single NORMAL flow. ``tag`` and ``mac_byte`` keep names and MACs
    apart between cases."""
    br = lab.normal_bridge(f'{tag}n')
    a = lab.host(f'{tag}na', br, lab.ifname(f'{tag}na'), f'52:54:00:be:{mac_byte:02x}:01',
                 '172.31.99.1/24')
    b = lab.host(f'{tag}nb', br, lab.ifname(f'{tag}nb'), f'52:54:00:be:{mac_byte:02x}:02',
                 '172.31.99.2/24')
    return TrafficPath(a, b, '172.31.99.2', [br])


class L2Case(Case):
    name = 'l2'
    description = 'two vifs of one virtual network on one datapath'
    target = 0.95
    network = '172.31.99.0/24'
    dpid = 0x62656e6368          # "bench"

    def build_ours(self, lab):
        port = free_tcp_port()
        br = lab.bridge('bo', dpid=self.dpid, controller_port=port)
        a_port, b_port = lab.ifname('oa'), lab.ifname('ob')
        topology = {
            'datapaths': {'bench': {'dpid': f'{self.dpid:#x}'}},
            'networks': {'bench-net': {'ipv4': self.network}},
            'interfaces': {
                'bench-a': {'network': 'bench-net', 'mac': '52:54:00:be:00:01',
                            'ipv4': '172.31.99.1', 'datapath': 'bench', 'port': a_port},
                'bench-b': {'network': 'bench-net', 'mac': '52:54:00:be:00:02',
                            'ipv4': '172.31.99.2', 'datapath': 'bench', 'port': b_port},
            },
        }
        a = lab.host('oa', br, a_port, '52:54:00:be:00:01', '172.31.99.1/24')
        b = lab.host('ob', br, b_port, '52:54:00:be:00:02', '172.31.99.2/24')
        ctl = _start_controller(lab, topology, [br], port, self.name)
        return TrafficPath(a, b, '172.31.99.2', [br]), ctl

    def build_baseline(self, lab):
        return _normal_baseline(lab, 'b', 0x01)


class RoutedCase(Case):
    """Two virtual networks on one datapath joined by a route link between
    their simulated router interfaces (.254); each host's default route is
    its gateway, so client -> server crosses the router (TTL 64 -> 63)."""
    name = 'routed'
    description = ('two vifs in 172.31.1.0/24 and 172.31.2.0/24 joined by a '
                   'route link (one routed hop, TTL 63)')
    target = 0.90
    path_note = ' (172.31.1.1 -> 172.31.2.2 across the route link via gateway 172.31.1.254)'
    dpid = 0x62656e6372          # "bencr"
    client_ip, server_ip = '172.31.1.1', '172.31.2.2'

    def build_ours(self, lab):
        port = free_tcp_port()
        br = lab.bridge('ro', dpid=self.dpid, controller_port=port)
        a_port, b_port = lab.ifname('ra'), lab.ifname('rb')
        topology = {
            'datapaths': {'bench': {'dpid': f'{self.dpid:#x}'}},
            'networks': {'bench-net1': {'ipv4': '172.31.1.0/24'},
                         'bench-net2': {'ipv4': '172.31.2.0/24'}},
            'interfaces': {
                'bench-a': {'network': 'bench-net1', 'mac': '52:54:00:be:02:01',
                            'ipv4': self.client_ip, 'datapath': 'bench', 'port': a_port},
                'bench-b': {'network': 'bench-net2', 'mac': '52:54:00:be:03:02',
                            'ipv4': self.server_ip, 'datapath': 'bench', 'port': b_port},
                'net1-gw': {'network': 'bench-net1', 'mode': 'simulated',
                            'mac': '52:54:00:be:02:fe', 'ipv4': '172.31.1.254',
                            'services': ['router']},
                'net2-gw': {'network': 'bench-net2', 'mode': 'simulated',
                            'mac': '52:54:00:be:03:fe', 'ipv4': '172.31.2.254',
                            'services': ['router']},
            },
            'route_links': {'rl1': {'routes': [{'interface': 'net1-gw'},
                                               {'interface': 'net2-gw'}]}},
        }
        a = lab.host('ra', br, a_port, '52:54:00:be:02:01', f'{self.client_ip}/24',
                     gateway='172.31.1.254')
        b = lab.host('rb', br, b_port, '52:54:00:be:03:02', f'{self.server_ip}/24',
                     gateway='172.31.2.254')
        ctl = _start_controller(lab, topology, [br], port, self.name)
        return TrafficPath(a, b, self.server_ip, [br]), ctl

    def build_baseline(self, lab):
        return _normal_baseline(lab, 'r', 0x11)

    def check_ours(self, path, ctl):
        """Every echo reply must have crossed exactly one router: TTL 63."""
        cp = path.client.run(['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1',
                              path.server_ip], check=False, timeout=15)
        ttls = [int(t) for t in re.findall(r'ttl=(\d+)', cp.stdout)]
        if not ttls or any(t != 63 for t in ttls):
            raise SetupError(
                f'routed: ping {path.client.ip} -> {path.server_ip} across the router '
                f'should answer with TTL 63 (64 minus one routed hop); got '
                f'{ttls or "no replies"}\n--- ping ---\n{cp.stdout.strip()}'
                f'{cp.stderr.strip()}{_diagnostics(path, ctl)}')


CASES = {c.name: c for c in (L2Case(), RoutedCase())}


def summarise_case(case: Case, results: dict[str, list[float]], seconds: float,
                   omit: int) -> dict:
    """One case's result (the JSON of --json) from its runs per side."""
    med_o, med_b = median(results['ours']), median(results['baseline'])
    assert med_o is not None and med_b is not None, 'a case has at least one run per side'
    ratio = med_o / med_b if med_b else 0.0
    return {
        'case': case.name, 'description': case.description,
        'runs': len(results['ours']), 'seconds': seconds, 'omit': omit, 'unit': 'Gbit/s',
        'ours': results['ours'], 'baseline': results['baseline'],
        'median_ours': med_o, 'median_baseline': med_b,
        'ratio': ratio, 'target_ratio': case.target,
        'meets_target': ratio >= case.target,
        'min': {side: min(v) for side, v in results.items()},
        'max': {side: max(v) for side, v in results.items()},
        'spread': {side: spread(v) for side, v in results.items()},
    }


def _measure_case(case: Case, ours: TrafficPath, ctl: Controller, base: TrafficPath, runs: int,
                  seconds: float, omit: int, progress: Say) -> dict:
    paths = {'ours': ours, 'baseline': base}
    results: dict[str, list[float]] = {'ours': [], 'baseline': []}
    for i, side in alternating(('ours', 'baseline'), runs):
        path = paths[side]
        try:
            gbps = iperf3_tcp(path.client, path.server, path.server_ip,
                              seconds=seconds, omit=omit)
        except NetlabError as e:
            log = f'\n--- controller log ---\n{ctl.log_tail(80)}' if side == 'ours' else ''
            raise SetupError(f'{case.name}: iperf3 ({side}, run {i + 1}) failed: '
                             f'{e}{log}') from None
        results[side].append(gbps)
        progress(f'{case.name:>6} run {i + 1}/{runs} {side:8s} {gbps:7.3f} Gbit/s')
    ctl.assert_running()
    return summarise_case(case, results, seconds, omit)


def measure(cases: list[Case], runs: int, seconds: float, omit: int,
            progress: Say = lambda msg: None) -> list[dict]:
    """Build every case in one lab, check each forwards (and whatever else
    it checks), then measure case after case, alternating ours/baseline."""
    with Lab() as lab:
        built = []
        for case in cases:
            progress(f'{case.name:>6}: building ({case.description})')
            ours, ctl = case.build_ours(lab)
            base = case.build_baseline(lab)
            built.append((case, ours, ctl, base))
        for case, ours, ctl, base in built:
            _check_forwarding(ours, ctl, f'{case.name}: our pipeline does not forward'
                                          f'{case.path_note}')
            case.check_ours(ours, ctl)
            _check_forwarding(base, None, f'{case.name}: the NORMAL baseline does not forward')
        progress('all cases forward; measuring')
        return [_measure_case(case, ours, ctl, base, runs, seconds, omit, progress)
                for case, ours, ctl, base in built]


def table(results: list[dict]) -> str:
    r0 = results[0]
    lines = [f"dataplane benchmark: iperf3 TCP, {r0['runs']} alternating pairs "
             f"(ours, baseline) of {r0['seconds']:g} s (+{r0['omit']} s warm-up "
             f"omitted) per case, Gbit/s",
             'baseline (all cases): two hosts in one subnet on an OVS bridge with '
             'one NORMAL flow', '']
    hdr = (f"{'case':<7} {'ours med':>8} {'base med':>8} {'ratio':>6} "
           f"{'target':>7} {'':6} {'ours min-max':>13} {'base min-max':>13}")
    lines += [hdr, '-' * len(hdr)]
    for r in results:
        verdict = 'ok' if r['meets_target'] else 'MISSES'
        rng = {s: f"{r['min'][s]:.2f}-{r['max'][s]:.2f}" for s in ('ours', 'baseline')}
        lines.append(f"{r['case']:<7} {r['median_ours']:8.3f} {r['median_baseline']:8.3f} "
                     f"{r['ratio']:6.3f} {'>= ' + format(r['target_ratio'], '.2f'):>7} "
                     f"{verdict:6} {rng['ours']:>13} {rng['baseline']:>13}")
    lines.append('')
    for r in results:
        lines.append(f"{r['case']}: {r['description']}; max/min ours "
                     f"{r['spread']['ours']:.2f}, baseline {r['spread']['baseline']:.2f}")
    noisy = [f"{r['case']} {side} max/min = {x:.2f}" for r in results
             for side, x in r['spread'].items() if x > NOISY_SPREAD]
    if noisy:
        lines.append(f"warning: noisy runs ({', '.join(noisy)}); is something else "
                     "using the CPUs? Try more --runs.")
    return '\n'.join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog='python -m bench.dataplane',
        description='iperf3 TCP through our pipeline vs an OVS NORMAL bridge')
    ap.add_argument('--runs', type=int, default=3, metavar='N',
                    help='alternating pairs of runs (ours, baseline) per case; default 3')
    ap.add_argument('--seconds', type=float, default=5, metavar='S',
                    help='measured seconds per run; default 5')
    ap.add_argument('--omit', type=int, default=1, metavar='S',
                    help='warm-up seconds excluded from each run; default 1')
    ap.add_argument('--case', choices=sorted(CASES) + ['all'], default='all',
                    help='scenario; default all (' + ', '.join(CASES) + ')')
    ap.add_argument('--json', action='store_true', help='print JSON instead of a table')
    ap.add_argument('--strict', action='store_true',
                    help='exit 1 when a ratio misses its target')
    args = ap.parse_args(argv)
    if args.runs < 1 or args.seconds <= 0 or args.omit < 0:
        ap.error('--runs must be >= 1, --seconds > 0 and --omit >= 0')
    args.cases = list(CASES.values()) if args.case == 'all' else [CASES[args.case]]
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    for case in args.cases:
        if type(case).build_ours is Case.build_ours:
            print(f'bench.dataplane: case {case.name!r} is not implemented yet',
                  file=sys.stderr)
            return 2
    if cannot_run('bench.dataplane'):
        return 2
    try:
        results = measure(args.cases, args.runs, args.seconds, args.omit,
                          progress_printer(to_stderr=args.json))
    except (SetupError, NetlabError, AssertionError) as e:
        print(f'bench.dataplane: FAILED: {e}', file=sys.stderr)
        return 2
    meets = all(r['meets_target'] for r in results)
    if args.json:
        print(json.dumps({'cases': results, 'meets_target': meets}, indent=2))
    else:
        print()
        print(table(results))
    return 1 if (args.strict and not meets) else 0


if __name__ == '__main__':
    sys.exit(main())
