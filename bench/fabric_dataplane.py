"""Data plane across hosts: iperf3 TCP VM -> VM over VXLAN, our pipeline
against hand-written static VXLAN flows on the same hosts and VMs.

    .venv/bin/python -m bench.fabric_dataplane
    .venv/bin/python -m bench.fabric_dataplane --rounds 5 --seconds 10 --json

The lab (lab/hosts.py): two emulated hosts h1 and h2 on one underlay subnet,
each its own namespace with its own ovs-vswitchd (netdev), br-int with one
flow-based VXLAN port; VMs a and c on h1, b on h2, all in 10.45.1.0/24
(MTU 1450).  Our side: the controller runs in the root namespace and
programs both br-int from a topology generated from the hosts (their dpids
and tunnel_ips; one network with VNI 5001, its three vifs, a gateway and a
DHCP interface).  Static side: the same br-int with the controller target
removed (OVS then deletes every flow, group and meter) and
``lab.hosts.install_static_vxlan`` (the hand-written baseline) installed.
Going back, the target is set again, which deletes the static flows, and
the controller re-installs ours.  Same hosts, VMs, ports and tunnel.

Cases (rows):

* ``cross-host``: a (h1) -> b (h2) across the VXLAN underlay.  Target: the
  median of the per-round ratios ours/static >= 0.95.
* ``same-host``: a -> c, both on h1 (context: what one host does alone).

Rounds alternate the sides, mirrored (ours, static | static, ours | ...), so
each side goes first equally often and only one switch-over is needed per
round; within a side every case is measured.  After a switch-over a ping
a -> b must work (once per side, a capture on h2's underlay must also show
the VNI, 5001, of the ping: both sides really tunnel), then OVS gets a
second to settle.  Both sides end up with the same datapath megaflows for
the TCP stream (checked by hand with ``ovs-appctl dpctl/dump-flows``), so a
ratio away from 1 is the machine's noise: use more --rounds on a busy one.

Exit status 0 when measured (whatever the ratios), 2 when the set-up fails.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import yaml

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.stats import alternating, median, spread
from lab import VNET_COOKIE, Controller, Lab, NetlabError, free_tcp_port, iperf3_tcp, wait_for
from lab.hosts import EmulatedHost, MultiHost, install_static_vxlan

VNI = 5001
NETWORK = '10.45.1.0/24'
SIDES = ('ours', 'static')
TARGET = 0.95
NOISY_SPREAD = 1.25          # max/min of one side's runs above this: say so
SETTLE_S = 1.0               # after switching sides, before measuring


@dataclass(frozen=True)
class Case:
    name: str
    client: str              # VM names
    server: str
    description: str
    target: Optional[float]  # None: reported for context only


CASES = (Case('cross-host', 'a', 'b', 'a on h1 -> b on h2, VXLAN between the hosts', TARGET),
         Case('same-host', 'a', 'c', 'a -> c, both on h1 (context)', None))
VMS = (('a', 'h1', 1), ('b', 'h2', 2), ('c', 'h1', 3))        # name, host, address/MAC byte


# -- pure parts --------------------------------------------------------------------

def fabric_topology(datapaths: Iterable[tuple[str, int, str]],
                    vifs: Iterable[tuple[str, str, str, str, str]],
                    vni: int = VNI, network: str = NETWORK) -> dict:
    """The topology of our side: ``datapaths`` as (name, dpid, tunnel_ip),
    ``vifs`` as (name, mac, ipv4, datapath, port), all in one network with
    a gateway (.254, router) and a DHCP interface (.253)."""
    prefix = network.rsplit('.', 1)[0]
    interfaces: dict[str, dict] = {
        name: {'network': 'fabric', 'mac': mac, 'ipv4': ip, 'datapath': dp, 'port': port}
        for name, mac, ip, dp, port in vifs}
    interfaces['fabric-gw'] = {'network': 'fabric', 'mode': 'simulated', 'mac': '52:54:00:45:ff:fe',
                               'ipv4': f'{prefix}.254', 'services': ['router']}
    interfaces['fabric-dhcp'] = {'network': 'fabric', 'mode': 'simulated', 'mac': '52:54:00:45:ff:fd',
                                 'ipv4': f'{prefix}.253', 'services': ['dhcp']}
    return {'datapaths': {name: {'dpid': f'{dpid:#x}', 'tunnel_ip': ip} for name, dpid, ip in datapaths},
            'networks': {'fabric': {'ipv4': network, 'vni': vni}},
            'interfaces': interfaces}


def pair_ratios(ours: Sequence[float], static: Sequence[float]) -> list[float]:
    """ours/static of each round (rounds where static measured 0 are left out)."""
    return [o / s for o, s in zip(ours, static) if s]


def summarise(case: Case, ours: Sequence[float], static: Sequence[float]) -> dict:
    """One row: each side's median and range, and the median of the per-round ratios."""
    ratios = pair_ratios(ours, static)
    ratio = median(ratios)
    return {'case': case.name, 'description': case.description, 'unit': 'Gbit/s',
            'ours': list(ours), 'static': list(static), 'ratios': ratios,
            'median': {'ours': median(ours), 'static': median(static)},
            'min': {'ours': min(ours), 'static': min(static)},
            'max': {'ours': max(ours), 'static': max(static)},
            'spread': {'ours': spread(ours), 'static': spread(static)},
            'ratio': ratio, 'target': case.target,
            'meets_target': None if case.target is None or ratio is None else ratio >= case.target}


def table(rows: list[dict], rounds: int, seconds: float, omit: int) -> str:
    lines = [f'fabric data plane: iperf3 TCP VM -> VM, {rounds} alternating rounds (ours, static '
             f'flows), {seconds:g} s per run (+{omit} s warm-up omitted), Gbit/s',
             'ours: two emulated hosts programmed by the controller; static: the same hosts and '
             'VMs with hand-written VXLAN flows (lab.hosts.install_static_vxlan)', '']
    hdr = (f'{"case":<11} {"ours median (min-max)":>22} {"static median (min-max)":>24} '
           f'{"ratio":>6} {"target":>8}')
    lines += [hdr, '-' * len(hdr)]
    for r in rows:
        sides = [f'{r["median"][s]:.3f} ({r["min"][s]:.2f}-{r["max"][s]:.2f})' for s in SIDES]
        ratio = '-' if r['ratio'] is None else f'{r["ratio"]:.3f}'
        target = 'context' if r['target'] is None else \
            f'>= {r["target"]:.2f} ' + ('ok' if r['meets_target'] else 'MISSED')
        lines.append(f'{r["case"]:<11} {sides[0]:>22} {sides[1]:>24} {ratio:>6} {target}')
    lines += ['', 'ratio: the median of the per-round ratios ours/static']
    by = {r['case']: r for r in rows}
    if 'cross-host' in by and 'same-host' in by:
        x = pair_ratios(by['cross-host']['ours'], by['same-host']['ours'])
        y = pair_ratios(by['cross-host']['static'], by['same-host']['static'])
        lines.append(f'cross-host / same-host (VXLAN cost): ours {median(x):.2f}, static flows '
                     f'{median(y):.2f} (medians of per-round ratios)')
    for r in rows:
        lines.append(f'{r["case"]}: {r["description"]}; per-round ratios '
                     + ', '.join(f'{x:.3f}' for x in r['ratios']))
    noisy = [f'{r["case"]} {s} max/min {x:.2f}' for r in rows for s, x in r['spread'].items()
             if x > NOISY_SPREAD]
    if noisy:
        lines.append(f'warning: noisy runs ({", ".join(noisy)}); is something else using the '
                     'CPUs? Try more --rounds.')
    for r in rows:
        if r['target'] is not None:
            lines.append(f'target: {r["case"]} ratio >= {r["target"]:.2f}: '
                         + ('met' if r['meets_target'] else 'MISSED') + f' ({r["ratio"]:.3f})')
    return '\n'.join(lines)


# -- the lab -----------------------------------------------------------------------

class Fabric:
    """Two hosts, three VMs, and the controller; ``use(side)`` switches the
    br-int of both hosts between our pipeline and static flows."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.hosts = MultiHost(lab, controller_port=free_tcp_port())
        self.h = {name: self.hosts.host(name, dpid=0x4500 + i) for i, name in enumerate(('h1', 'h2'), 1)}
        self.ip = {name: f'{NETWORK.rsplit(".", 1)[0]}.{k}' for name, _, k in VMS}
        self.vms = {name: self.h[host].vm(name, port=f'p-{name}', mac=f'52:54:00:45:00:{k:02x}',
                                          cidr=f'{self.ip[name]}/24')
                    for name, host, k in VMS}
        topology = fabric_topology(
            [(h.name, h.dpid, h.tunnel_ip) for h in self.h.values()],
            [(v.name, v.mac, self.ip[v.name], v.host.name, v.port) for v in self.vms.values()])
        path = lab.write('fabric-dataplane.yml', yaml.safe_dump(topology, sort_keys=False))
        self.ctl: Controller = lab.controller(path, port=self.hosts.controller_port,
                                              extra_args=['--ofp-listen-host', self.hosts.controller_ip])
        self.hosts.prime_tunnels()
        self.side = 'ours'
        self.our_flows = self._wait_installed()
        self.checked: set[str] = set()

    def flow_count(self, h: EmulatedHost, cookie: str = '') -> int:
        out = h.ofctl('dump-aggregate', 'br-int', *([f'cookie={cookie}'] if cookie else []))
        m = re.search(r'flow_count=(\d+)', out)
        return int(m.group(1)) if m else -1

    def _wait_installed(self, want: Optional[dict[str, int]] = None) -> dict[str, int]:
        """Until both br-int hold only our flows: ``want`` of them, or (first
        install) as many as at the previous poll.  Returns the counts."""
        last: dict[str, int] = {}

        def installed() -> Optional[dict[str, int]]:
            now = {n: self.flow_count(h, VNET_COOKIE) for n, h in self.h.items()}
            expected = want if want is not None else last.copy()
            last.clear()
            last.update(now)
            only_ours = all(self.flow_count(h) == now[n] for n, h in self.h.items())
            return now if all(now.values()) and now == expected and only_ours else None

        return wait_for(installed, timeout=30, interval=0.3, what='our flows on both hosts',
                        state=lambda: f'{last}; log {self.ctl.log_path}:\n{self.ctl.log_tail(20)}')

    def use(self, side: str) -> None:
        if side == self.side:
            return
        if side == 'static':
            for h in self.h.values():
                h.vsctl('del-controller', 'br-int')
            wait_for(lambda: all(self.flow_count(h) == 0 for h in self.h.values()), timeout=10,
                     interval=0.05, what='OVS to empty br-int once the controller is gone')
            install_static_vxlan(self.vms.values(), VNI)
        else:
            target = self.hosts.controller_target
            for h in self.h.values():     # as lab.hosts builds it; OVS empties br-int again
                h.vsctl('set-controller', 'br-int', target, '--', 'set', 'Controller', 'br-int',
                        'connection-mode=out-of-band', 'max_backoff=1000')
            self._wait_installed(self.our_flows)
        self.side = side
        self._check()
        time.sleep(SETTLE_S)        # OVS revalidates its caches after a table change

    def _check(self) -> None:
        a, b_ip = self.vms['a'], self.ip['b']
        try:
            wait_for(lambda: a.ping(b_ip, timeout=1), timeout=15, what=f'a to ping b ({self.side})')
        except AssertionError as e:
            raise SetupError(f'{self.side}: {e}\n{self._diagnostics()}') from None
        if self.side in self.checked:
            return
        cap = self.h['h2'].tcpdump_underlay('udp port 4789', count=1)
        a.ping(b_ip)
        text = cap.wait(timeout=5)
        if VNI not in cap.vnis():
            raise SetupError(f'{self.side}: no VXLAN packet with VNI {VNI} on h2\'s underlay:\n'
                             f'{text}\n{self._diagnostics()}')
        self.checked.add(self.side)

    def _diagnostics(self) -> str:
        flows = '\n'.join(f'--- {n} br-int ---\n' + h.ofctl('dump-flows', 'br-int', check=False)
                          for n, h in self.h.items())
        return f'{flows}\n--- controller log ---\n{self.ctl.log_tail(30)}'

    def iperf3(self, case: Case, seconds: float, omit: int) -> float:
        return iperf3_tcp(self.vms[case.client], self.vms[case.server], self.ip[case.server],
                          seconds=seconds, omit=omit)

    def close(self) -> None:
        self.ctl.stop()
        self.hosts.close()


def measure(rounds: int, seconds: float, omit: int, say: Say) -> list[dict]:
    runs: dict[str, dict[str, list[float]]] = {c.name: {s: [] for s in SIDES} for c in CASES}
    with Lab() as lab:
        say('building two hosts, three VMs and the controller ...')
        fabric = Fabric(lab)
        try:
            say(f'our flows: {fabric.our_flows}; checking both sides forward and tunnel')
            fabric.use('static')
            fabric.use('ours')
            for k, side in alternating(SIDES, rounds, mirrored=True):
                fabric.use(side)
                for case in CASES:
                    try:
                        gbps = fabric.iperf3(case, seconds, omit)
                    except NetlabError as e:
                        raise SetupError(f'iperf3 {case.client} -> {case.server} ({side}, round '
                                         f'{k + 1}) failed: {e}') from None
                    runs[case.name][side].append(gbps)
                    say(f'round {k + 1}/{rounds} {side:6} {case.name:10} {gbps:7.3f} Gbit/s')
            fabric.ctl.assert_running()
        finally:
            fabric.close()
    return [summarise(c, runs[c.name]['ours'], runs[c.name]['static']) for c in CASES]


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog='python -m bench.fabric_dataplane',
                                 description='iperf3 TCP VM -> VM across two emulated hosts: '
                                             'our pipeline vs static VXLAN flows')
    ap.add_argument('--rounds', type=int, default=3, metavar='N',
                    help='alternating rounds (each side once per case); default 3')
    ap.add_argument('--seconds', type=float, default=5, metavar='S',
                    help='measured seconds per run; default 5')
    ap.add_argument('--omit', type=int, default=1, metavar='S',
                    help='warm-up seconds excluded from each run; default 1')
    ap.add_argument('--json', action='store_true', help='print JSON instead of a table')
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.omit < 0:
        ap.error('--rounds must be >= 1, --seconds > 0 and --omit >= 0')
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if cannot_run('bench.fabric_dataplane', [f'{t} is not installed' for t in ('tcpdump', 'arping')
                                             if shutil.which(t) is None]):
        return 2
    try:
        rows = measure(args.rounds, args.seconds, args.omit, progress_printer(to_stderr=args.json))
    except (SetupError, NetlabError, AssertionError) as e:
        print(f'bench.fabric_dataplane: FAILED: {e}', file=sys.stderr)
        return 2
    if args.json:
        meets = all(r['meets_target'] for r in rows if r['target'] is not None)
        print(json.dumps({'cases': rows, 'meets_target': meets, 'rounds': args.rounds,
                          'seconds': args.seconds, 'omit': args.omit}, indent=2))
    else:
        print()
        print(table(rows, args.rounds, args.seconds, args.omit))
    return 0


if __name__ == '__main__':
    sys.exit(main())
