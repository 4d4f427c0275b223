"""Running the demo's checks in its nodes (Mininet hosts or lab VMs: ``lab.demo.nodes``).

First ``wait_flows_ready``: every bridge has the controller's flows for its
nodes, and they stopped changing (the bridges: ``Switches``, by default the
machine's own OVS).  Then ``run_probes``: every ordered pair
(an ARP probe, and a pinned or routed ping), every gateway's ARP answer,
every router interface's answer to ping, and one routed pair's traceroute.
What to probe comes from ``lab.demo.plan``; the results are
``lab.demo.report`` objects.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from controller.topology import Topology
from lab.demo.common import MININET_PROG, Say
from lab.demo.nodes import Node
from lab.demo.plan import (
    Pair,
    Probe,
    expected_reachability,
    gateway_checks,
    nodes,
    plan_arp,
    plan_probes,
    routed_owner,
    router_ping_checks,
    traceroute_plan,
)
from lab.demo.report import (
    GatewayResult,
    PairResult,
    Report,
    RouterPingResult,
    TracerouteResult,
    parse_icmp_in_echos,
    parse_traceroute,
)
from lab.netns import NS_IFNAME
from lab.ovs import dump_flows, ofport
from lab.proc import wait_for
from lab.traffic import arping_argv, arping_replies, ping_argv

PING_TIMEOUT = 1                # seconds, ping -W
ARP_DEADLINE = 1                # seconds, arping -w
TRACEROUTE_MAX_HOPS = 3
_SLACK = 5                      # seconds a probe may take beyond its own timeout

Hosts = Mapping[str, Node]      # interface name -> its node


# --------------------------------------------------------------------------
# readiness: the controller's flows

def flow_text(flow: dict) -> str:
    """A flow read back (lab.ovs.parse_flow_line) without its counters, so
    that two reads of an unchanged table compare equal."""
    return f'table={flow["table"]}, priority={flow["priority"]},{flow["match"]} actions={flow["actions"]}'


def flows_cover(topology: Topology, datapath: str, ofports: Mapping[str, int],
                flows: Sequence[str], across: bool = False) -> List[str]:
    """What the installed flows of `datapath` still lack (empty: ready).

    Every local vif and host interface needs a flow matching its in_port
    and one naming its MAC; every simulated interface of a local network needs its MAC (the
    ARP responder's set_field).  With `across` (datapaths joined by tunnels),
    so does every node on another datapath that a local network reaches (its
    own network, or one a route link joins to it): the flow that tunnels to it.
    """
    text = '\n'.join(flows).lower()
    in_ports = {int(m) for m in re.findall(r'in_port=(\d+)', text)}
    missing = []
    local_nets = set()
    for iface in nodes(topology):
        if iface.datapath != datapath:
            continue
        local_nets.add(iface.network)
        port = ofports.get(iface.name)
        if port is None or port not in in_ports:
            missing.append(f'{iface.name}: no flow for in_port={port}')
        if iface.mac not in text:
            missing.append(f'{iface.name}: no flow for {iface.mac}')
    reached = {n for net in local_nets for n in topology.joined_to(net)} if across else set()
    for iface in topology.interfaces.values():
        wanted = (iface.mode == 'simulated' and iface.ipv4 and iface.network in local_nets) or \
            (iface.network in reached and iface.datapath not in (None, datapath))
        if wanted and iface.mac not in text:
            missing.append(f'{iface.name}: no flow for {iface.mac}')
    return missing


def ofport_map(topology: Topology) -> Dict[str, int]:
    """Interface name -> OpenFlow port number of its OVS port (as OVS assigned)."""
    found = {iface.name: ofport(str(iface.port), check=False) for iface in nodes(topology)}
    return {name: n for name, n in found.items() if n >= 0}


class Switches(Protocol):
    """The datapaths' bridges, as the readiness check reads them."""

    def flows(self, datapath: str) -> List[dict]:
        """The controller's flows on the datapath's bridge (``lab.ovs.parse_flow_line`` dicts)."""

    def ofports(self) -> Dict[str, int]:
        """Interface name -> the OpenFlow port number of its port, for those numbered yet."""


class RootSwitches:
    """The Mininet demo's bridges: the machine's own OVS, named as the datapaths."""

    def __init__(self, topology: Topology):
        self.topology = topology

    def flows(self, datapath: str) -> List[dict]:
        return dump_flows(datapath)

    def ofports(self) -> Dict[str, int]:
        return ofport_map(self.topology)


class _FlowWatch:
    """Each bridge's flows, polled until they cover its nodes and stop changing."""

    def __init__(self, topology: Topology, say: Say, switches: Switches, across: bool):
        self.topology, self.say, self.switches, self.across = topology, say, switches, across
        self.pending = set(topology.datapaths)
        self.last: Dict[str, Tuple[str, ...]] = {}
        self.missing: Dict[str, List[str]] = {}
        self.ofports: Dict[str, int] = {}

    def ready(self) -> bool:
        if len(self.ofports) < len(nodes(self.topology)):
            self.ofports = self.switches.ofports()
        for dp in sorted(self.pending):
            self._poll(dp)
        return not self.pending

    def _poll(self, dp: str) -> None:
        flows = [flow_text(f) for f in self.switches.flows(dp)]
        self.missing[dp] = flows_cover(self.topology, dp, self.ofports, flows, self.across)
        snapshot = tuple(sorted(flows))
        if not self.missing[dp] and self.last.get(dp) == snapshot:
            self.pending.discard(dp)
            self.say(f'  {dp}: {len(flows)} flows installed')
        self.last[dp] = snapshot


def wait_flows_ready(topology: Topology, timeout: float, say: Say, switches: Optional[Switches] = None,
                     across: bool = False, prog: str = MININET_PROG) -> bool:
    """Poll each bridge (``switches``, default: the machine's OVS) until its
    nodes' flows (see flows_cover) are installed and stable; on timeout warn
    (the probes then say what is wrong) and return False."""
    watch = _FlowWatch(topology, say, switches or RootSwitches(topology), across)
    try:
        wait_for(watch.ready, timeout=timeout, interval=0.3, what="the controller's flows")
        return True
    except AssertionError:
        for dp in sorted(watch.pending):
            what = '; '.join(watch.missing.get(dp, [])[:4]) or 'flows still changing'
            print(f'{prog}: warning: {dp}: flows incomplete after {timeout:.0f}s: {what}',
                  file=sys.stderr)
        return False


# --------------------------------------------------------------------------
# probes

def _spawn(host: Node, argv: Sequence[str]) -> subprocess.Popen:
    return host.popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _collect(procs: Sequence[subprocess.Popen], timeout: float) -> List[Tuple[int, str]]:
    """Wait for probe processes; on timeout or interruption kill ours by PID."""
    out = []
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            try:
                text, _ = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                text, _ = p.communicate()
            out.append((p.returncode, text or ''))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def _arping(host: Node, target: str, probe: bool) -> subprocess.Popen:
    return _spawn(host, arping_argv(target, NS_IFNAME, deadline=ARP_DEADLINE, probe=probe))


def _ping(host: Node, address: str) -> subprocess.Popen:
    return _spawn(host, ping_argv(address, reply_wait=PING_TIMEOUT))


def _in_echos(host: Node) -> Optional[int]:
    return parse_icmp_in_echos(host.run(['cat', '/proc/net/snmp'], check=False).stdout)


def run_probes(topology: Topology, hosts: Hosts) -> Report:
    """Every ordered pair (ARP probe + pinned or routed ping), every gateway's
    ARP, every router interface's ping and one routed pair's traceroute.

    The ARP probes neither read nor change neighbour tables (the pair probes
    come from 0.0.0.0, the pinned entries are permanent), so they all run
    while the ping rounds do; only two arpings of one host for the same
    address would confuse each other, and those wait until the end.
    """
    names = [i.name for i in nodes(topology)]
    report = Report(pairs={(a, b): PairResult(a, b, expected_reachability(topology, a, b))
                           for a in names for b in names if a != b})
    # ARP: one probe per (source, address) for the pairs, one ARP request per
    # (gateway, host of its network).
    arp = plan_arp(topology)
    pair_jobs = sorted(arp)
    gw_now = [c for c in gateway_checks(topology) if _gateway_key(topology, c) not in arp]
    gw_later = [c for c in gateway_checks(topology) if _gateway_key(topology, c) in arp]
    pair_procs = [_arping(hosts[src], addr, probe=True) for src, addr in pair_jobs]
    gw_procs = _gateway_arpings(topology, hosts, gw_now)
    try:
        _ping_pairs(topology, hosts, report)
    finally:
        pair_out = _collect(pair_procs, ARP_DEADLINE + _SLACK)
        gw_out = _collect(gw_procs, ARP_DEADLINE + _SLACK)
    _record_pair_arp(topology, report, arp, pair_jobs, pair_out)
    gw_out += _collect(_gateway_arpings(topology, hosts, gw_later), ARP_DEADLINE + _SLACK)
    report.gateways = sorted((GatewayResult(gw, h, topology.interfaces[gw].mac, arping_replies(text))
                              for (gw, h), (_rc, text) in zip(gw_now + gw_later, gw_out)),
                             key=lambda g: (g.gateway, g.host))
    report.router_pings = _router_pings(topology, hosts)
    report.traceroutes = _traceroutes(topology, hosts)
    return report


def _gateway_key(topology: Topology, check: Pair) -> Pair:
    gw, h = check
    return h, str(topology.interfaces[gw].ipv4)


def _gateway_arpings(topology: Topology, hosts: Hosts, checks: List[Pair]) -> List[subprocess.Popen]:
    # a host without an address asks from 0.0.0.0
    return [_arping(hosts[h], str(topology.interfaces[gw].ipv4), probe=topology.interfaces[h].ipv4 is None)
            for gw, h in checks]


def _record_pair_arp(topology: Topology, report: Report, arp: Mapping[Pair, List[str]],
                     jobs: List[Pair], outputs: List[Tuple[int, str]]) -> None:
    for (src, addr), (_rc, text) in zip(jobs, outputs):
        macs = arping_replies(text)
        for dst in arp[(src, addr)]:
            p = report.pairs[(src, dst)]
            p.arp = topology.interfaces[dst].mac in macs
            p.arp_macs = macs


def _ping_pairs(topology: Topology, hosts: Hosts, report: Report) -> None:
    """ICMP, round by round (the pinned neighbour entries differ between rounds)."""
    rounds, skipped = plan_probes(topology)
    for pair, why in skipped.items():
        report.pairs[pair].note = why
    for members in rounds:
        pins = sorted({pin for probe in members for pin in probe.pins})
        for h, ip, mac in pins:
            hosts[h].run(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', NS_IFNAME, 'nud', 'permanent'])
        _ping_round(topology, hosts, report, members)
        for h, ip, _mac in pins:
            hosts[h].run(['ip', 'neigh', 'del', ip, 'dev', NS_IFNAME], check=False)


def _ping_round(topology: Topology, hosts: Hosts, report: Report, members: List[Probe]) -> None:
    # A counted probe is alone in its round: the peer's echo counter is its verdict.
    before = {p.dst: _in_echos(hosts[p.dst]) for p in members if p.counted}
    procs = [_ping(hosts[p.src], p.address) for p in members]
    for probe, (rc, _text) in zip(members, _collect(procs, PING_TIMEOUT + _SLACK)):
        result = report.pairs[(probe.src, probe.dst)]
        if probe.counted:
            _count_echoes(topology, result, probe, rc == 0, before[probe.dst], _in_echos(hosts[probe.dst]))
        else:
            result.icmp = rc == 0


def _count_echoes(topology: Topology, result: PairResult, probe: Probe, answered: bool,
                  before: Optional[int], after: Optional[int]) -> None:
    """A counted probe's verdict: did the peer itself receive the echo request?"""
    result.counted = True
    said = f'ping {"answered" if answered else "unanswered"}'
    if before is None or after is None:
        result.note = f'{said}; cannot read {probe.dst}\'s ICMP counters'
        return
    got = after - before
    result.icmp = got > 0
    owner = routed_owner(topology, probe.src, probe.address)
    result.note = (f'{probe.address} is routed to {owner.name if owner else "?"} ({said}); '
                   f'{probe.dst} received {got} echo request(s)')


def _router_pings(topology: Topology, hosts: Hosts) -> List[RouterPingResult]:
    """Router interfaces answer ping from every network of their links."""
    checks = router_ping_checks(topology)
    procs = [_ping(hosts[h], str(topology.interfaces[r].ipv4)) for r, h in checks]
    return [RouterPingResult(r, h, rc == 0)
            for (r, h), (rc, _text) in zip(checks, _collect(procs, PING_TIMEOUT + _SLACK))]


def _traceroutes(topology: Topology, hosts: Hosts) -> List[TracerouteResult]:
    """One routed pair's traceroute: the gateway must be hop 1."""
    plan = traceroute_plan(topology)
    if plan is None:
        return []
    src, dst, gw = plan
    dst_ip, gw_ip = str(topology.interfaces[dst].ipv4), str(topology.interfaces[gw].ipv4)
    argv = ['traceroute', '-n', '-q1', '-w1', f'-m{TRACEROUTE_MAX_HOPS}', dst_ip]
    (_rc, text), = _collect([_spawn(hosts[src], argv)], TRACEROUTE_MAX_HOPS * 2 + 10)
    return [TracerouteResult(src, dst, dst_ip, gw, gw_ip, parse_traceroute(text), text)]
