"""The demo's results: what each probe observed, the verdict, and the text
shown to the user (the ping matrix, the gateway, router and traceroute
checks, and one line per mismatch).  Also reads traceroute and
/proc/net/snmp output (arping output: ``lab.traffic.arping_replies``).

Pure: no Mininet, no root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar

from controller.topology import Topology, routing
from lab.demo.plan import Pair, nodes


@dataclass
class PairResult:
    src: str
    dst: str
    expected: bool
    icmp: Optional[bool] = None          # None: not pinged
    arp: Optional[bool] = None           # None: not probed
    arp_macs: Tuple[str, ...] = ()
    note: str = ''
    counted: bool = False                # icmp from the peer's echo counter (see Probe)

    @property
    def probed(self) -> bool:
        return self.icmp is not None or self.arp is not None

    @property
    def observed(self) -> Optional[bool]:
        """True/False when all probes agree, None when untested or mixed."""
        seen = {v for v in (self.icmp, self.arp) if v is not None}
        return seen.pop() if len(seen) == 1 else None

    @property
    def ok(self) -> bool:
        return self.probed and all(v == self.expected for v in (self.icmp, self.arp) if v is not None)


@dataclass
class GatewayResult:
    gateway: str
    host: str
    mac: str
    answers: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.answers) and set(self.answers) == {self.mac}


@dataclass
class RouterPingResult:
    router: str
    host: str
    answered: Optional[bool] = None

    @property
    def ok(self) -> bool:
        return self.answered is True


@dataclass
class TracerouteResult:
    src: str
    dst: str
    dst_ip: str
    gateway: str
    gateway_ip: str
    hops: Tuple[Optional[str], ...] = ()
    output: str = ''

    @property
    def ok(self) -> bool:
        """Hop 1 is the source's gateway, and the destination is reached."""
        return bool(self.hops) and self.hops[0] == self.gateway_ip and self.dst_ip in self.hops


@dataclass
class Report:
    pairs: Dict[Pair, PairResult] = field(default_factory=dict)
    gateways: List[GatewayResult] = field(default_factory=list)
    router_pings: List[RouterPingResult] = field(default_factory=list)
    traceroutes: List[TracerouteResult] = field(default_factory=list)

    @property
    def tested_pairs(self) -> List[PairResult]:
        return [p for p in self.pairs.values() if p.probed]

    @property
    def ok(self) -> bool:
        return (all(p.ok for p in self.tested_pairs) and all(g.ok for g in self.gateways)
                and all(r.ok for r in self.router_pings) and all(t.ok for t in self.traceroutes))

    def verdict(self, prefix: str) -> str:
        pairs = self.tested_pairs
        good = sum(p.ok for p in pairs)
        ggood = sum(g.ok for g in self.gateways)
        rgood = sum(r.ok for r in self.router_pings)
        tgood = sum(t.ok for t in self.traceroutes)
        return (f'{prefix}: {good}/{len(pairs)} pairs as expected, '
                f'{ggood}/{len(self.gateways)} gateway ARP checks answered with the gateway\'s MAC, '
                f'{rgood}/{len(self.router_pings)} router ping checks answered, '
                f'{tgood}/{len(self.traceroutes)} traceroute checks with the gateway as hop 1'
                f' -- {"PASS" if self.ok else "FAIL"}')


_VERDICT_RE = re.compile(r'^(\w+): (\d+)/(\d+) pairs as expected, (\d+)/(\d+) gateway ARP checks .*?, '
                         r'(\d+)/(\d+) router ping checks answered, (\d+)/(\d+) traceroute checks .* -- (PASS|FAIL)$',
                         re.M)


@dataclass(frozen=True)
class Verdict:
    """A verdict line read back (``parse_verdict``): (as expected, total) per kind of check."""
    prefix: str
    pairs: Tuple[int, int]
    gateways: Tuple[int, int]
    router_pings: Tuple[int, int]
    traceroutes: Tuple[int, int]
    passed: bool


def parse_verdict(output: str) -> Optional[Verdict]:
    """The last verdict line (``Report.verdict``) in a demo's output, if any."""
    found = _VERDICT_RE.findall(output)
    if not found:
        return None
    prefix, *counts, word = found[-1]
    n = [int(c) for c in counts]
    return Verdict(prefix, (n[0], n[1]), (n[2], n[3]), (n[4], n[5]), (n[6], n[7]), word == 'PASS')


def _yn(v: Optional[bool]) -> str:
    return {True: 'reachable', False: 'unreachable', None: 'n/a'}[v]


def _who(topology: Topology, macs: Iterable[str]) -> str:
    """'vm2 (52:54:..), 52:54:..' -- MACs named by their interfaces where known."""
    owners = {i.mac: i.name for i in topology.interfaces.values()}
    named = [f'{owners[m]} ({m})' if m in owners else m for m in macs]
    return ', '.join(named) or 'nobody'


def mismatch_lines(topology: Topology, report: Report) -> List[str]:
    """One line for each check that is not as expected."""
    lines = [_pair_mismatch(topology, p) for p in report.tested_pairs if not p.ok]
    lines += [f'  MISMATCH {g.host} ARP for {g.gateway} ({topology.interfaces[g.gateway].ipv4}): '
              f'expected {g.mac}, got {_who(topology, g.answers) if g.answers else "no answer"}'
              for g in report.gateways if not g.ok]
    lines += [f'  MISMATCH {r.host} ping {r.router} ({topology.interfaces[r.router].ipv4}): '
              f'expected an answer, got none'
              for r in report.router_pings if not r.ok]
    lines += [f'  MISMATCH traceroute {t.src} -> {t.dst} ({t.dst_ip}): expected hop 1 '
              f'{t.gateway_ip} ({t.gateway}) then {t.dst_ip}, got hops: '
              f'{" ".join(h or "*" for h in t.hops) or "nothing"}'
              for t in report.traceroutes if not t.ok]
    return lines


def _pair_mismatch(topology: Topology, p: PairResult) -> str:
    dst = topology.interfaces[p.dst]
    parts = []
    if p.icmp is not None and not p.counted:       # a counted pair's note says it all
        parts.append(f'ping {"answered" if p.icmp else "unanswered"}')
    if p.arp is not None:
        parts.append(f'ARP for {dst.ipv4} answered by {_who(topology, p.arp_macs)}')
    if p.note:
        parts.append(p.note)
    return (f'  MISMATCH {p.src} -> {p.dst} ({dst.ipv4} {dst.mac}): expected '
            f'{_yn(p.expected)}, observed {"; ".join(parts)}')


_MATRIX_LEGEND = [
    'expected: reachable iff same network, or a route link routes between the two networks',
    '          both ways through the routers the hosts use (see expected_reachability)',
    'probes:   on-link: ping -c1 -W1 with the neighbour entry pinned to the peer\'s MAC, and an',
    '          ARP probe that the peer\'s MAC must (or must not) answer; a peer with the source\'s',
    '          own address is checked by ARP only',
    '          routed: ping -c1 -W1 through the host\'s route (the neighbour is the gateway); when',
    '          the link delivers that address to another interface, the peer\'s count of ICMP',
    '          echo requests received decides']


def render_matrix(topology: Topology, report: Report, names: Mapping[str, str]) -> str:
    """The ping matrix: rows ping columns; '!' marks a cell that is not as expected."""
    hosts = [i.name for i in nodes(topology)]
    labels = {h: f'{names[h]} ({topology.interfaces[h].network})' for h in hosts}
    width = max([len(names[h]) for h in hosts] + [5]) + 2
    left = max([len(v) for v in labels.values()] + [4]) + 2
    out = ['PING MATRIX   row -> column:  + reachable   - unreachable   '
           '? probes disagree   . self   ! not as expected',
           ' ' * left + ''.join(names[h].center(width) for h in hosts)]
    out += [labels[a].ljust(left) + ''.join(_cell(report, a, b).center(width) for b in hosts)
            for a in hosts]
    out += _MATRIX_LEGEND
    counted = [p for p in report.pairs.values() if p.counted]
    if counted:
        out.append('counted:')
        out.extend(f'  {names[p.src]} -> {names[p.dst]}: {p.note}' for p in counted)
    return '\n'.join(out)


def _cell(report: Report, a: str, b: str) -> str:
    if a == b:
        return '.'
    p = report.pairs.get((a, b))
    if p is None or not p.probed:
        return 'n/a'
    return {True: '+', False: '-', None: '?'}[p.observed] + ('' if p.ok else '!')


T = TypeVar('T')


def _grouped(results: Iterable[T], key: str) -> Dict[str, List[T]]:
    """Results grouped by one attribute, groups in order of first appearance."""
    groups: Dict[str, List[T]] = {}
    for r in results:
        groups.setdefault(getattr(r, key), []).append(r)
    return groups


def render_gateways(topology: Topology, report: Report, names: Mapping[str, str]) -> str:
    out = ['GATEWAY ARP   arping from each host of the gateway\'s network']
    for gw, results in _grouped(report.gateways, 'gateway').items():
        sim = topology.interfaces[gw]
        cells = [f'{names[g.host]} ok' if g.ok else
                 f'{names[g.host]} WRONG ({", ".join(g.answers) or "no answer"})' for g in results]
        out.append(f'  {gw} {sim.ipv4} is-at {sim.mac} ({sim.network}):  ' + '   '.join(cells))
    if not report.gateways:
        out.append('  (no simulated interfaces with an address)')
    return '\n'.join(out)


def render_routers(topology: Topology, report: Report, names: Mapping[str, str]) -> str:
    out = ['ROUTER PING   ping -c1 -W1 from the hosts of every network of the router\'s route link(s)']
    for router, results in _grouped(report.router_pings, 'router').items():
        iface = topology.interfaces[router]
        links = ', '.join(sorted(link for link in topology.route_links
                                 if iface in routing.router_interfaces(topology, link)))
        cells = [f'{names[r.host]} {"ok" if r.ok else "NO ANSWER"}' for r in results]
        out.append(f'  {router} {iface.ipv4} ({iface.network}, {links}):  ' + '   '.join(cells))
    if not report.router_pings:
        out.append('  (no route links)')
    return '\n'.join(out)


def render_traceroutes(report: Report, names: Mapping[str, str]) -> str:
    out = ['TRACEROUTE    traceroute -n -q1 -w1 -m3, one routed pair']
    for t in report.traceroutes:
        out.append(f'  {names[t.src]} -> {names[t.dst]} ({t.dst_ip}):')
        out.extend(f'    {line}' for line in t.output.strip().splitlines())
        verdict = 'ok' if t.ok else 'NOT AS EXPECTED'
        out.append(f'  hop 1 should be {names[t.src]}\'s gateway {t.gateway} ({t.gateway_ip}), '
                   f'then {t.dst_ip}: {verdict}')
    if not report.traceroutes:
        out.append('  (no routed pair)')
    return '\n'.join(out)


def render_report(topology: Topology, report: Report, names: Mapping[str, str], seconds: float) -> str:
    """Everything the demo shows: the matrix, the gateway, router and
    traceroute checks, and how long the probes took."""
    parts = [render_matrix(topology, report, names), render_gateways(topology, report, names),
             render_routers(topology, report, names), render_traceroutes(report, names)]
    return '\n\n'.join(parts) + f'\n(probes took {seconds:.1f}s)'


def parse_traceroute(output: str) -> Tuple[Optional[str], ...]:
    """Hop addresses of `traceroute -n -q1` output, in order (None: no answer, '*')."""
    hops = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            hops.append(None if fields[1] == '*' else fields[1])
    return tuple(hops)


def parse_icmp_in_echos(snmp: str) -> Optional[int]:
    """The Icmp InEchos counter of /proc/net/snmp (ICMP echo requests received)."""
    rows = [line.split() for line in snmp.splitlines() if line.startswith('Icmp:')]
    if len(rows) >= 2 and 'InEchos' in rows[0]:
        try:
            return int(rows[1][rows[0].index('InEchos')])
        except (IndexError, ValueError):
            return None
    return None
