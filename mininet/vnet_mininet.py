#!/usr/bin/env python3
"""Build a Mininet network from a ryu-vnet topology file.

    .venv/bin/python mininet/vnet_mininet.py [--cli] TOPOLOGY       # Mininet CLI
    .venv/bin/python mininet/vnet_mininet.py --demo TOPOLOGY        # `make demo`
    .venv/bin/python mininet/vnet_mininet.py --check TOPOLOGY       # same, terse

What gets built (needs root and Open vSwitch; userspace datapath):

* one Open vSwitch bridge per datapath, named as the datapath, with its dpid,
  ``datapath_type=netdev``, fail mode ``secure``, OpenFlow 1.3, controller
  ``tcp:127.0.0.1:PORT`` (``--controller-port``, default 6633);
* one Mininet host (a network namespace) per ``vif`` interface, named as the
  interface, with its MAC and ``ipv4/prefixlen`` on ``eth0``, a default route
  via its network's router interface (when the network has one: the first
  by name, as DHCP option 3 would give it), TX checksum offload off and
  IPv6 off;
* one Mininet host per ``host`` interface too (it stands for the machine on
  the physical LAN behind the uplink), with the interface's MAC and address
  and, instead of a default route, static routes to every prefix its
  network's router interfaces reach through their route links, via the
  router interface's address (what seed 000 does on its host);
* the switch-side end of each host's veth is named as the interface's
  ``port``, so the controller finds it by name.

``simulated`` interfaces need no node (the controller answers for them).

``--demo`` / ``--check`` also start the controller (``ryu-manager``) on the
chosen port, wait for its flows, and check every pair of hosts against
`expected_reachability` (same network, or routed both ways by a route link),
every gateway's ARP answer, every router interface's answer to ping from
each network of its route links, and the traceroute of one routed pair (the
gateway must be hop 1); the exit status is 0 iff everything is as expected.
Everything this script creates (bridges, namespaces, veths, the controller
process, temporary files) is removed when it ends, also on Ctrl-C, SIGTERM
and errors.

This directory is deliberately not a package (no ``__init__.py``) so that it
never shadows the real ``mininet`` package.
"""

import argparse
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # A directory without __init__.py never wins over the real mininet
    # package, so putting the repository first is safe.
    sys.path.insert(0, str(REPO_ROOT))

from controller.topology import (  # noqa: E402
    HOST,
    ROUTER,
    SIMULATED,
    VIF,
    Interface,
    Topology,
    load_topology,
    routing,  # noqa: E402
)
from controller.topology.errors import TopologyError  # noqa: E402

PROG = 'vnet_mininet'
DEFAULT_CONTROLLER_PORT = 6633
VNET_COOKIE = '0x766e000000000000/0xffff000000000000'
NS_IFNAME = 'eth0'              # the interface name inside every host
IFNAMSIZ = 15                   # usable characters of a Linux interface name
LOCK_PATH = '/run/lock/ryu-vnet-mininet.lock'
PING_TIMEOUT = 1                # seconds, ping -W
ARP_DEADLINE = 1                # seconds, arping -w
_IFNAME_RE = re.compile(r'^[A-Za-z0-9_.-]+$')
DEFAULT_ROUTE = ipaddress.IPv4Network('0.0.0.0/0')
TRACEROUTE_MAX_HOPS = 3
_MAC_RE = re.compile(r'from ((?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})')


class BuildError(RuntimeError):
    """The network cannot be built (as opposed to an invalid topology file)."""


# ---------------------------------------------------------------------------
# Pure part: what to build and what to expect.  No Mininet, no root.

def _interface(topology: Topology, iface) -> Interface:
    return iface if isinstance(iface, Interface) else topology.interfaces[iface]


def vifs(topology: Topology) -> List[Interface]:
    """The ``vif`` interfaces, in a stable order."""
    return sorted((i for i in topology.interfaces.values() if i.mode == VIF),
                  key=lambda i: i.name)


def nodes(topology: Topology) -> List[Interface]:
    """The interfaces that become Mininet hosts (``vif`` and ``host``), in a stable order."""
    return sorted((i for i in topology.interfaces.values() if i.mode in (VIF, HOST)),
                  key=lambda i: i.name)


def host_names(topology: Topology) -> Dict[str, str]:
    """Interface name -> Mininet host name (the interface name when possible).

    Topology names are ``[A-Za-z0-9][A-Za-z0-9_.-]*``; anything else is
    replaced, and a clash with a switch or another host gets a suffix.
    """
    taken = set(topology.datapaths)
    names = {}
    for iface in nodes(topology):
        base = re.sub(r'[^A-Za-z0-9_.-]', '_', iface.name) or 'h'
        name, n = base, 1
        while name in taken:
            name, n = f'{base}-h{n}', n + 1
        taken.add(name)
        names[iface.name] = name
    return names


def router_interface(topology: Topology, network: str) -> Optional[Interface]:
    """The network's router interface (what DHCP option 3 would announce)."""
    for iface in sorted(topology.interfaces_of(network), key=lambda i: i.name):
        if iface.mode == SIMULATED and ROUTER in iface.services and iface.ipv4:
            return iface
    return None


def _by_prefix(routes):
    return sorted(routes, key=lambda r: (-r[0].prefixlen, int(r[0].network_address)))


def static_routes(topology: Topology, iface) -> List[Tuple[ipaddress.IPv4Network, Interface]]:
    """The routes the builder gives a node: (prefix, router interface it goes via).

    A vif gets a default route via its network's router interface (the first
    by name: what DHCP option 3 hands out).  A host interface stands for the
    machine on the physical LAN, whose default route belongs to that LAN; as
    seed 000's host does, it gets static routes to every prefix reachable
    through its network's router interfaces (the other routes of their route
    links), via the router interface's address.  Longest prefix first.
    """
    iface = _interface(topology, iface)
    if iface.ipv4 is None:
        return []
    own = topology.networks[iface.network].ipv4
    if iface.mode == HOST:
        routes, seen = [], set()
        for link, gw in sorted(routing.links_of_network(topology, iface.network).items()):
            if gw.ipv4 is None:
                continue
            for entry in routing.link_routes(topology, link):
                if entry.out == gw or entry.prefix in seen or entry.prefix.subnet_of(own):
                    continue
                seen.add(entry.prefix)
                routes.append((entry.prefix, gw))
        return _by_prefix(routes)
    if iface.mode != VIF:
        return []
    gw = router_interface(topology, iface.network)
    if gw is None or gw.ipv4 == iface.ipv4:
        return []
    return [(DEFAULT_ROUTE, gw)]


def gateway_towards(topology: Topology, iface, dst) -> Optional[Interface]:
    """The router interface a node sends `dst` to (None: `dst` is on-link, or no route)."""
    iface = _interface(topology, iface)
    dst = ipaddress.IPv4Address(dst)
    if dst in topology.networks[iface.network].ipv4:
        return None
    for prefix, gw in static_routes(topology, iface):
        if dst in prefix:
            return gw
    return None


def routed_owner(topology: Topology, iface, dst) -> Optional[Interface]:
    """Which interface a node's packet to off-link `dst` reaches through a route link.

    The node sends it to its gateway (`gateway_towards`); the gateway's route
    links route it (longest prefix among the other routes of the links the
    gateway is on, `controller.routing.lookup`) into some network, where the
    interface owning `dst` receives it.  None: no route, or the next hop is a
    route's `gateway` (beyond the topology), or nobody listed owns `dst`.
    """
    dst = ipaddress.IPv4Address(dst)
    gw = gateway_towards(topology, iface, dst)
    if gw is None:
        return None
    best = None
    for link in sorted(topology.route_links):
        if gw not in routing.router_interfaces(topology, link):
            continue
        entry = routing.lookup(topology, link, gw, dst)
        if entry is not None and (best is None or entry.prefix.prefixlen > best.prefix.prefixlen):
            best = entry
    if best is None or routing.next_hop(best, dst) != dst:
        return None
    owners = [i for i in topology.interfaces_of(best.out.network) if i.ipv4 == dst]
    owners.sort(key=lambda i: (i.mode == SIMULATED, i.name))
    return owners[0] if owners else None


def expected_reachability(topology: Topology, a, b) -> bool:
    """Should interface `a` reach interface `b` (names or Interface objects)?

    An interface reaches itself and every interface of its own network (on
    any datapath).  Another network's interface is reached only through a
    route link, in both directions: `a`'s route to `b`'s address goes via a
    router interface of `a`'s network (the builder's routes: `static_routes`)
    whose route link delivers it to `b` itself (`routed_owner`), and the same
    from `b` back to `a`.  Anything else is invisible -- overlapping networks
    on no link, networks without a router, addresses on-link for the sender.
    """
    ia, ib = _interface(topology, a), _interface(topology, b)
    if ia.name == ib.name or ia.network == ib.network:
        return True
    if ia.ipv4 is None or ib.ipv4 is None:
        return False
    there = routed_owner(topology, ia, ib.ipv4)
    back = routed_owner(topology, ib, ia.ipv4)
    return there is not None and there.name == ib.name and back is not None and back.name == ia.name


def buildability_problems(topology: Topology) -> List[str]:
    """What stops this topology from becoming Linux interfaces and bridges."""
    problems = []
    for dp in sorted(topology.datapaths):
        if len(dp) > IFNAMSIZ or not _IFNAME_RE.match(dp):
            problems.append(f'datapaths.{dp}: a userspace OVS bridge is also a Linux interface; '
                            f'its name must be at most {IFNAMSIZ} characters of [A-Za-z0-9_.-]')
    seen = {}
    for iface in nodes(topology):
        port = iface.port or ''
        if not port or len(port) > IFNAMSIZ or not _IFNAME_RE.match(port):
            problems.append(f'interfaces.{iface.name}.port: {port!r} cannot be a Linux interface '
                            f'name (at most {IFNAMSIZ} characters of [A-Za-z0-9_.-])')
        elif port in seen:
            problems.append(f'interfaces.{iface.name}.port: {port!r} is also the port of '
                            f'{seen[port]}; Mininet needs one veth per port')
        elif port in topology.datapaths:
            problems.append(f'interfaces.{iface.name}.port: {port!r} is a bridge name')
        seen.setdefault(port, iface.name)
        if iface.datapath not in topology.datapaths:
            problems.append(f'interfaces.{iface.name}.datapath: unknown datapath {iface.datapath!r}')
    return problems


def _route_text(routes) -> str:
    return ', '.join(f'{"default" if p.prefixlen == 0 else p} via {gw.ipv4} ({gw.name})'
                     for p, gw in routes) or 'none'


def build_notes(topology: Topology) -> List[str]:
    """Things worth telling the user about what is (not) built."""
    notes = []
    for iface in nodes(topology):
        if iface.mode == HOST:
            notes.append(f'{iface.name}: host interface on physical network {iface.network}, built as a '
                         f'Mininet host behind {iface.datapath}/{iface.port} standing for the machine '
                         f'on the LAN; static routes: {_route_text(static_routes(topology, iface))}')
    spans = {}
    for iface in nodes(topology):
        spans.setdefault(iface.network, set()).add(iface.datapath)
    for net, dps in sorted(spans.items()):
        if len(dps) > 1:
            notes.append(f'{net}: spans datapaths {", ".join(sorted(dps))}; this builder creates no '
                         f'tunnel ports between bridges')
    for link in sorted(topology.route_links):
        dps = set()
        for r in routing.router_interfaces(topology, link):
            dps |= spans.get(r.network, set())
        if len(dps) > 1:
            notes.append(f'route link {link}: its networks have hosts on datapaths '
                         f'{", ".join(sorted(dps))}; routing between datapaths needs tunnels, which '
                         f'this builder does not create')
    return notes


# --- probe planning --------------------------------------------------------

def _onlink(topology: Topology, a: Interface, b: Interface) -> bool:
    """Is b's address inside a's network prefix (reached without a router)?"""
    return b.ipv4 is not None and b.ipv4 in topology.networks[a.network].ipv4


@dataclass(frozen=True)
class Probe:
    """One ordered pair's ICMP echo, with the neighbour entries it pins.

    Overlapping networks reuse addresses, so a ping by address alone cannot
    tell WHICH host answered.  For an on-link peer the source's neighbour
    entry for the peer's address is pinned to the peer's MAC (and the peer's
    entry for the source's address to the source's MAC): the echo then tests
    exactly the path a -> b -> a.  Off-link peers are pinged through the
    host's route (the neighbour is the gateway, resolved by ARP; `needs`
    keeps other probes of the round from pinning that address elsewhere).
    When the route link delivers the peer's address to ANOTHER interface
    (the same address in another network), an answer proves nothing:
    `counted` probes run alone and the peer's own count of ICMP echo
    requests received decides.
    """
    src: str
    dst: str
    address: str
    pins: Tuple[Tuple[str, str, str], ...] = ()     # (interface, ip, mac)
    needs: Tuple[Tuple[str, str, str], ...] = ()    # resolved by ARP, not pinned
    counted: bool = False


def plan_probes(topology: Topology) -> Tuple[List[List[Probe]], Dict[Tuple[str, str], str]]:
    """Schedule the ICMP probes of every ordered pair into rounds.

    Returns (rounds, skipped): within a round no interface needs two
    different MACs for one address, so its probes run concurrently; each
    `counted` probe is a round of its own, after the others.  `skipped`
    maps pairs that cannot be pinged to the reason (no address, or the same
    address as the source: those are checked by ARP only).
    """
    hosts = nodes(topology)
    probes, counted, skipped = [], [], {}
    for a in hosts:
        for b in hosts:
            if a.name == b.name:
                continue
            if a.ipv4 is None or b.ipv4 is None:
                skipped[(a.name, b.name)] = 'no address'
                continue
            if a.ipv4 == b.ipv4:
                skipped[(a.name, b.name)] = 'same address'
                continue
            pins, needs = (), ()
            if _onlink(topology, a, b):
                pins = ((a.name, str(b.ipv4), b.mac),)
                if _onlink(topology, b, a):
                    pins += ((b.name, str(a.ipv4), a.mac),)
                probes.append(Probe(a.name, b.name, str(b.ipv4), pins))
                continue
            for x, dst in ((a, b.ipv4), (b, a.ipv4)):
                gw = gateway_towards(topology, x, dst)
                if gw is not None:
                    needs += ((x.name, str(gw.ipv4), gw.mac),)
            owner = routed_owner(topology, a, b.ipv4)
            probe = Probe(a.name, b.name, str(b.ipv4), pins, needs,
                          counted=owner is not None and owner.name != b.name)
            (counted if probe.counted else probes).append(probe)
    rounds: List[Tuple[List[Probe], Dict[Tuple[str, str], str]]] = []
    for probe in probes:
        entries = probe.pins + probe.needs
        for members, pinned in rounds:
            if all(pinned.get((h, ip), mac) == mac for h, ip, mac in entries):
                break
        else:
            members, pinned = [], {}
            rounds.append((members, pinned))
        members.append(probe)
        for h, ip, mac in entries:
            pinned[(h, ip)] = mac
    return [members for members, _ in rounds] + [[p] for p in counted], skipped


def plan_arp(topology: Topology) -> Dict[Tuple[str, str], List[str]]:
    """(source interface, target address) -> peers owning that address on-link.

    The source sends an ARP probe (sender address 0.0.0.0, as in duplicate
    address detection, so it works even for the source's own address) and
    every MAC that answers is recorded: a peer is reachable at L2 iff its
    MAC is among them.  One probe per (source, address) serves every peer
    sharing the address.
    """
    plan: Dict[Tuple[str, str], List[str]] = {}
    hosts = nodes(topology)
    for a in hosts:
        for b in hosts:
            if a.name != b.name and _onlink(topology, a, b):
                plan.setdefault((a.name, str(b.ipv4)), []).append(b.name)
    return plan


def gateway_checks(topology: Topology) -> List[Tuple[str, str]]:
    """(simulated interface, node of its network) pairs for the gateway ARP check."""
    checks = []
    hosts = nodes(topology)
    for sim in sorted(topology.interfaces.values(), key=lambda i: i.name):
        if sim.mode != SIMULATED or sim.ipv4 is None:
            continue
        for h in hosts:
            if h.network == sim.network:
                checks.append((sim.name, h.name))
    return checks


def router_ping_checks(topology: Topology) -> List[Tuple[str, str]]:
    """(router interface, node) pairs: every router interface of a route link must
    answer ping from the nodes of every network the link routes for.

    A node of the router's own network pings it on-link; a node of another
    network of the link pings it through its gateway, which answers for
    every router interface of its links.  Nodes whose route to the router's
    address does not go through a router interface of that link (say, their
    network's first router sits on another link) are not asked.
    """
    checks = set()
    for link in sorted(topology.route_links):
        routers = routing.router_interfaces(topology, link)
        on_link = {r.name for r in routers}
        networks = {r.network for r in routers}
        for r in routers:
            if r.ipv4 is None:
                continue
            for h in nodes(topology):
                if h.network not in networks or h.ipv4 is None or h.ipv4 == r.ipv4:
                    continue
                gw = gateway_towards(topology, h, r.ipv4)
                if h.network == r.network or (gw is not None and gw.name in on_link):
                    checks.add((r.name, h.name))
    return sorted(checks)


def traceroute_plan(topology: Topology) -> Optional[Tuple[str, str, str]]:
    """(source, destination, source's gateway) of the first routed pair, if any."""
    for a in nodes(topology):
        for b in nodes(topology):
            if a.network != b.network and a.ipv4 is not None and b.ipv4 is not None \
                    and expected_reachability(topology, a, b):
                return a.name, b.name, gateway_towards(topology, a, b.ipv4).name
    return None


# --- results ----------------------------------------------------------------

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
    pairs: Dict[Tuple[str, str], PairResult] = field(default_factory=dict)
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


def _yn(v: Optional[bool]) -> str:
    return {True: 'reachable', False: 'unreachable', None: 'n/a'}[v]


def _who(topology: Topology, macs: Iterable[str]) -> str:
    """'vm2 (52:54:..), 52:54:..' -- MACs named by their interfaces where known."""
    owners = {i.mac: i.name for i in topology.interfaces.values()}
    named = [f'{owners[m]} ({m})' if m in owners else m for m in macs]
    return ', '.join(named) or 'nobody'


def mismatch_lines(topology: Topology, report: Report) -> List[str]:
    lines = []
    for p in report.tested_pairs:
        if p.ok:
            continue
        dst = topology.interfaces[p.dst]
        parts = []
        if p.icmp is not None and not p.counted:       # a counted pair's note says it all
            parts.append(f'ping {"answered" if p.icmp else "unanswered"}')
        if p.arp is not None:
            parts.append(f'ARP for {dst.ipv4} answered by {_who(topology, p.arp_macs)}')
        if p.note:
            parts.append(p.note)
        lines.append(f'  MISMATCH {p.src} -> {p.dst} ({dst.ipv4} {dst.mac}): expected '
                     f'{_yn(p.expected)}, observed {"; ".join(parts)}')
    for g in report.gateways:
        if not g.ok:
            got = _who(topology, g.answers) if g.answers else 'no answer'
            lines.append(f'  MISMATCH {g.host} ARP for {g.gateway} '
                         f'({topology.interfaces[g.gateway].ipv4}): expected {g.mac}, got {got}')
    for r in report.router_pings:
        if not r.ok:
            lines.append(f'  MISMATCH {r.host} ping {r.router} ({topology.interfaces[r.router].ipv4}): '
                         f'expected an answer, got none')
    for t in report.traceroutes:
        if not t.ok:
            hops = ' '.join(h or '*' for h in t.hops) or 'nothing'
            lines.append(f'  MISMATCH traceroute {t.src} -> {t.dst} ({t.dst_ip}): expected hop 1 '
                         f'{t.gateway_ip} ({t.gateway}) then {t.dst_ip}, got hops: {hops}')
    return lines


def render_matrix(topology: Topology, report: Report, names: Mapping[str, str]) -> str:
    """The ping matrix: rows ping columns; '!' marks a cell that is not as expected."""
    hosts = [i.name for i in nodes(topology)]
    labels = {h: f'{names[h]} ({topology.interfaces[h].network})' for h in hosts}
    width = max([len(names[h]) for h in hosts] + [5]) + 2
    left = max([len(v) for v in labels.values()] + [4]) + 2
    out = ['PING MATRIX   row -> column:  + reachable   - unreachable   '
           '? probes disagree   . self   ! not as expected',
           ' ' * left + ''.join(names[h].center(width) for h in hosts)]
    for a in hosts:
        cells = []
        for b in hosts:
            if a == b:
                cell = '.'
            else:
                p = report.pairs.get((a, b))
                if p is None or not p.probed:
                    cell = 'n/a'
                else:
                    cell = {True: '+', False: '-', None: '?'}[p.observed]
                    if not p.ok:
                        cell += '!'
            cells.append(cell.center(width))
        out.append(labels[a].ljust(left) + ''.join(cells))
    exp = ['expected: reachable iff same network, or a route link routes between the two networks',
           '          both ways through the routers the hosts use (see expected_reachability)',
           'probes:   on-link: ping -c1 -W1 with the neighbour entry pinned to the peer\'s MAC, and an',
           '          ARP probe that the peer\'s MAC must (or must not) answer; a peer with the source\'s',
           '          own address is checked by ARP only',
           '          routed: ping -c1 -W1 through the host\'s route (the neighbour is the gateway); when',
           '          the link delivers that address to another interface, the peer\'s count of ICMP',
           '          echo requests received decides']
    counted = [p for p in report.pairs.values() if p.counted]
    if counted:
        exp.append('counted:')
        exp.extend(f'  {names[p.src]} -> {names[p.dst]}: {p.note}' for p in counted)
    return '\n'.join(out + exp)


def render_gateways(topology: Topology, report: Report, names: Mapping[str, str]) -> str:
    out = ['GATEWAY ARP   arping from each host of the gateway\'s network']
    by_gw: Dict[str, List[GatewayResult]] = {}
    for g in report.gateways:
        by_gw.setdefault(g.gateway, []).append(g)
    for gw, results in by_gw.items():
        sim = topology.interfaces[gw]
        cells = []
        for g in results:
            if g.ok:
                cells.append(f'{names[g.host]} ok')
            else:
                cells.append(f'{names[g.host]} WRONG ({", ".join(g.answers) or "no answer"})')
        out.append(f'  {gw} {sim.ipv4} is-at {sim.mac} ({sim.network}):  ' + '   '.join(cells))
    if not by_gw:
        out.append('  (no simulated interfaces with an address)')
    return '\n'.join(out)


def render_routers(topology: Topology, report: Report, names: Mapping[str, str]) -> str:
    out = ['ROUTER PING   ping -c1 -W1 from the hosts of every network of the router\'s route link(s)']
    by_router: Dict[str, List[RouterPingResult]] = {}
    for r in report.router_pings:
        by_router.setdefault(r.router, []).append(r)
    for router, results in by_router.items():
        iface = topology.interfaces[router]
        links = ', '.join(sorted(link for link in topology.route_links
                                 if iface in routing.router_interfaces(topology, link)))
        cells = [f'{names[r.host]} {"ok" if r.ok else "NO ANSWER"}' for r in results]
        out.append(f'  {router} {iface.ipv4} ({iface.network}, {links}):  ' + '   '.join(cells))
    if not by_router:
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


def parse_arping(output: str) -> Tuple[str, ...]:
    """The distinct MACs that answered, in order of first answer (lower case)."""
    macs = []
    for mac in _MAC_RE.findall(output):
        mac = mac.lower()
        if mac not in macs:
            macs.append(mac)
    return tuple(macs)


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


_COUNTERS_RE = re.compile(r'\b(?:duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,?\s*')


def parse_dump_flows(text: str) -> List[str]:
    """`ovs-ofctl dump-flows` lines without their counters (stable across polls)."""
    return [_COUNTERS_RE.sub('', line).strip() for line in text.splitlines() if 'cookie=' in line]


def flows_cover(topology: Topology, datapath: str, ofports: Mapping[str, int],
                flows: Sequence[str]) -> List[str]:
    """What the installed flows of `datapath` still lack (empty: ready).

    Every local vif and host interface needs a flow matching its in_port
    and one naming its MAC; every simulated interface of a local network needs its MAC (the
    ARP responder's set_field).
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
    for iface in topology.interfaces.values():
        if iface.mode == 'simulated' and iface.ipv4 and iface.network in local_nets \
                and iface.mac not in text:
            missing.append(f'{iface.name}: no flow for {iface.mac}')
    return missing


# ---------------------------------------------------------------------------
# Impure part: Open vSwitch, namespaces, processes.

def _run(args: Sequence[str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def _log(quiet: bool, *parts) -> None:
    if not quiet:
        print(*parts, flush=True)


class Cleanup:
    """Callbacks run in reverse order exactly once, with signals held off."""

    def __init__(self):
        self._callbacks = []

    def add(self, what: str, fn, *args) -> None:
        self._callbacks.append((what, fn, args))

    def run(self) -> None:
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._callbacks:
                what, fn, args = self._callbacks.pop()
                try:
                    fn(*args)
                except Exception as exc:  # keep cleaning up
                    print(f'{PROG}: cleanup: {what} failed: {exc}', file=sys.stderr)
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _listening(port: int) -> bool:
    """Is some socket in this namespace listening on TCP `port`? (no connect)"""
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == '0A' and int(fields[1].rsplit(':', 1)[1], 16) == port:
                return True
    return False


def _ryu_manager() -> str:
    for cand in (Path(sys.executable).parent / 'ryu-manager', REPO_ROOT / '.venv' / 'bin' / 'ryu-manager'):
        if cand.exists():
            return str(cand)
    found = shutil.which('ryu-manager')
    if not found:
        raise BuildError('ryu-manager not found (run `make setup`)')
    return found


class ControllerProcess:
    """`ryu-manager ... controller.app` as our child, logging to a file."""

    def __init__(self, topology_path: str, port: int, log_path: Path):
        self.topology_path = topology_path
        self.port = port
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 20.0) -> None:
        if _listening(self.port):
            raise BuildError(f'something already listens on TCP port {self.port}; '
                             f'choose another with --controller-port')
        cmd = [_ryu_manager(), '--ofp-tcp-listen-port', str(self.port),
               '--ofp-listen-host', '127.0.0.1', '--topology', self.topology_path, 'controller.app']
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=str(REPO_ROOT), env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.proc.poll() is not None:
                raise BuildError(f'the controller exited with status {self.proc.returncode} before '
                                 f'listening on 127.0.0.1:{self.port}')
            if time.monotonic() > deadline:
                raise BuildError(f'the controller did not listen on 127.0.0.1:{self.port} '
                                 f'within {timeout:.0f}s')
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()                 # our own child, by PID
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors='replace')
        except OSError:
            return '(no controller log)'
        return '\n'.join(text.splitlines()[-lines:]) or '(controller log is empty)'


class _Lock:
    """Serialise runs of this script: they build bridges with fixed names."""

    def __init__(self, path: str = LOCK_PATH):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self, timeout: float, quiet: bool) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline, told = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(f'another {PROG} run holds {self.path} (waited {timeout:.0f}s)')
                if not told:
                    _log(quiet, f'{PROG}: waiting for another {PROG} run to finish ...')
                    told = True
                time.sleep(0.5)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _name_clashes(topology: Topology) -> List[str]:
    """Bridges, ports and links this run would create that exist already."""
    clashes = []
    for dp in sorted(topology.datapaths):
        if _run(['ovs-vsctl', '--timeout=5', 'br-exists', dp]).returncode == 0:
            clashes.append(f'OVS bridge {dp}')
        elif os.path.exists(f'/sys/class/net/{dp}'):
            clashes.append(f'network interface {dp}')
    for iface in nodes(topology):
        if _run(['ovs-vsctl', '--timeout=5', 'port-to-br', iface.port]).returncode == 0:
            clashes.append(f'OVS port {iface.port}')
        elif os.path.exists(f'/sys/class/net/{iface.port}'):
            clashes.append(f'network interface {iface.port}')
    return clashes


def wait_names_free(topology: Topology, timeout: float, quiet: bool) -> None:
    deadline, told = time.monotonic() + timeout, False
    while True:
        clashes = _name_clashes(topology)
        if not clashes:
            return
        if time.monotonic() > deadline:
            raise BuildError('these already exist, and this script never deletes what it did not '
                             'create: ' + ', '.join(clashes) +
                             ' (if they are left over from a crashed run, remove them with '
                             '`ovs-vsctl del-br NAME` / `ip link del NAME`)')
        if not told:
            _log(quiet, f'{PROG}: waiting for {", ".join(clashes)} to go away ...')
            told = True
        time.sleep(1)


def build_network(topology: Topology, controller_port: int, fail_mode: str = 'secure'):
    """Create (not start) the Mininet network.  Returns (net, {interface: host})."""
    from mininet.net import Mininet
    from mininet.node import Host, OVSSwitch, RemoteController

    class LocalController(RemoteController):
        def checkListening(self):
            # Mininet would telnet to the port, i.e. open an OpenFlow
            # connection; we check the listening socket ourselves instead.
            pass

    net = Mininet(topo=None, build=False, controller=None, switch=OVSSwitch, host=Host,
                  autoSetMacs=False, autoStaticArp=False, waitConnected=False)
    net.addController('c0', controller=LocalController, ip='127.0.0.1', port=controller_port)
    for dp in sorted(topology.datapaths.values(), key=lambda d: d.name):
        net.addSwitch(dp.name, cls=OVSSwitch, dpid='%016x' % dp.dpid, datapath='user',
                      failMode=fail_mode, protocols='OpenFlow13', batch=True)
    names = host_names(topology)
    hosts = {}
    for iface in nodes(topology):
        params = {'mac': iface.mac, 'ip': None}
        if iface.ipv4 is not None:
            params['ip'] = f'{iface.ipv4}/{topology.networks[iface.network].ipv4.prefixlen}'
        hosts[iface.name] = net.addHost(names[iface.name], **params)
    for iface in nodes(topology):
        net.addLink(hosts[iface.name], net.get(iface.datapath),
                    intfName1=NS_IFNAME, intfName2=iface.port)
    return net, hosts


def configure_hosts(topology: Topology, hosts: Mapping[str, object]) -> None:
    """After net.start(): offloads, IPv6 noise, a sanity check of MACs, and routes."""
    for name, host in hosts.items():
        iface = topology.interfaces[name]
        host.cmd(f'ethtool -K {NS_IFNAME} tx off >/dev/null 2>&1')
        host.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 '
                 '>/dev/null 2>&1')
        mac = host.cmd(f'cat /sys/class/net/{NS_IFNAME}/address').strip().lower()
        if mac != iface.mac:
            raise BuildError(f'{name}: {NS_IFNAME} has MAC {mac}, expected {iface.mac}')
        for prefix, gw in static_routes(topology, iface):
            dest = 'default' if prefix.prefixlen == 0 else str(prefix)
            out = host.cmd(f'ip route replace {dest} via {gw.ipv4} dev {NS_IFNAME} 2>&1; echo rc=$?')
            if 'rc=0' not in out:
                raise BuildError(f'{name}: cannot add route {dest} via {gw.ipv4}: {out.strip()}')
        try:
            Path(f'/proc/sys/net/ipv6/conf/{iface.port}/disable_ipv6').write_text('1\n')
        except OSError:
            pass


def ofport_map(topology: Topology) -> Dict[str, int]:
    """Interface name -> OpenFlow port number of its OVS port (as OVS assigned)."""
    found = {}
    for iface in nodes(topology):
        cp = _run(['ovs-vsctl', '--timeout=5', 'get', 'Interface', iface.port, 'ofport'])
        try:
            found[iface.name] = int(cp.stdout.strip())
        except ValueError:
            pass
    return found


def dump_flows(bridge: str) -> List[str]:
    cp = _run(['ovs-ofctl', '-O', 'OpenFlow13', '--no-names', 'dump-flows', bridge,
               f'cookie={VNET_COOKIE}'], timeout=10)
    return parse_dump_flows(cp.stdout) if cp.returncode == 0 else []


def wait_for_flows(topology: Topology, timeout: float, quiet: bool) -> bool:
    """Poll each bridge until its vifs' flows are installed and stable."""
    deadline = time.monotonic() + timeout
    pending = set(topology.datapaths)
    last: Dict[str, Tuple[str, ...]] = {}
    missing: Dict[str, List[str]] = {}
    ofports: Dict[str, int] = {}
    while pending:
        if len(ofports) < len(nodes(topology)):
            ofports = ofport_map(topology)
        for dp in sorted(pending):
            flows = dump_flows(dp)
            missing[dp] = flows_cover(topology, dp, ofports, flows)
            snapshot = tuple(sorted(flows))
            if not missing[dp] and last.get(dp) == snapshot:
                pending.discard(dp)
                _log(quiet, f'  {dp}: {len(flows)} flows installed')
            last[dp] = snapshot
        if not pending:
            return True
        if time.monotonic() > deadline:
            for dp in sorted(pending):
                what = '; '.join(missing.get(dp, [])[:4]) or 'flows still changing'
                print(f'{PROG}: warning: {dp}: flows incomplete after {timeout:.0f}s: {what}',
                      file=sys.stderr)
            return False
        time.sleep(0.3)
    return True


def _spawn(host, argv: Sequence[str]) -> subprocess.Popen:
    return host.popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _collect(procs, timeout: float) -> List[Tuple[int, str]]:
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


def _arping_argv(target: str, probe: bool) -> List[str]:
    argv = ['arping', '-i', NS_IFNAME, '-c', '1', '-w', str(ARP_DEADLINE)]
    if probe:
        argv.insert(1, '-0')
    return argv + [target]


def _ping_argv(address: str) -> List[str]:
    return ['ping', '-n', '-q', '-c', '1', '-W', str(PING_TIMEOUT), address]


def _in_echos(host) -> Optional[int]:
    return parse_icmp_in_echos(host.cmd('cat /proc/net/snmp'))


def run_probes(topology: Topology, hosts: Mapping[str, object]) -> Report:
    """Every ordered pair (ARP probe + pinned or routed ping), every gateway's
    ARP, every router interface's ping and one routed pair's traceroute.

    The ARP probes neither read nor change neighbour tables (the pair probes
    come from 0.0.0.0, the pinned entries are permanent), so they all run
    while the ping rounds do; only two arpings of one host for the same
    address would confuse each other, and those wait until the end.
    """
    report = Report()
    names = [i.name for i in nodes(topology)]
    for a in names:
        for b in names:
            if a != b:
                report.pairs[(a, b)] = PairResult(a, b, expected_reachability(topology, a, b))

    # ARP: one probe per (source, address) for the pairs, one ARP request per
    # (gateway, host of its network).
    arp = plan_arp(topology)
    pair_jobs = sorted(arp)
    gw_now, gw_later = [], []
    for gw, h in gateway_checks(topology):
        key = (h, str(topology.interfaces[gw].ipv4))
        (gw_later if key in arp else gw_now).append((gw, h))

    def gw_spawn(checks):
        return [_spawn(hosts[h], _arping_argv(str(topology.interfaces[gw].ipv4),
                                              probe=topology.interfaces[h].ipv4 is None))
                for gw, h in checks]

    pair_procs = [_spawn(hosts[src], _arping_argv(addr, probe=True)) for src, addr in pair_jobs]
    gw_procs = gw_spawn(gw_now)
    try:
        # ICMP, round by round (the pinned neighbour entries differ between rounds).
        rounds, skipped = plan_probes(topology)
        for (a, b), why in skipped.items():
            report.pairs[(a, b)].note = why
        for members in rounds:
            pins = sorted({pin for probe in members for pin in probe.pins})
            for h, ip, mac in pins:
                hosts[h].cmd(f'ip neigh replace {ip} lladdr {mac} dev {NS_IFNAME} nud permanent')
            # A counted probe is alone in its round: the peer's echo counter is its verdict.
            before = {p.dst: _in_echos(hosts[p.dst]) for p in members if p.counted}
            procs = [_spawn(hosts[p.src], _ping_argv(p.address)) for p in members]
            for probe, (rc, _text) in zip(members, _collect(procs, PING_TIMEOUT + 5)):
                result = report.pairs[(probe.src, probe.dst)]
                if not probe.counted:
                    result.icmp = rc == 0
                    continue
                result.counted = True
                after = _in_echos(hosts[probe.dst])
                owner = routed_owner(topology, probe.src, probe.address)
                answered = f'ping {"answered" if rc == 0 else "unanswered"}'
                if before[probe.dst] is None or after is None:
                    result.note = f'{answered}; cannot read {probe.dst}\'s ICMP counters'
                    continue
                got = after - before[probe.dst]
                result.icmp = got > 0
                result.note = (f'{probe.address} is routed to {owner.name if owner else "?"} ({answered}); '
                               f'{probe.dst} received {got} echo request(s)')
            for h, ip, _mac in pins:
                hosts[h].cmd(f'ip neigh del {ip} dev {NS_IFNAME}')
    finally:
        pair_out = _collect(pair_procs, ARP_DEADLINE + 5)
        gw_out = _collect(gw_procs, ARP_DEADLINE + 5)

    for (src, addr), (_rc, text) in zip(pair_jobs, pair_out):
        macs = parse_arping(text)
        for dst in arp[(src, addr)]:
            p = report.pairs[(src, dst)]
            p.arp = topology.interfaces[dst].mac in macs
            p.arp_macs = macs
    gw_out += _collect(gw_spawn(gw_later), ARP_DEADLINE + 5)
    for (gw, h), (_rc, text) in zip(gw_now + gw_later, gw_out):
        report.gateways.append(GatewayResult(gw, h, topology.interfaces[gw].mac, parse_arping(text)))
    report.gateways.sort(key=lambda g: (g.gateway, g.host))

    # Router interfaces answer ping from every network of their links.
    checks = router_ping_checks(topology)
    procs = [_spawn(hosts[h], _ping_argv(str(topology.interfaces[r].ipv4))) for r, h in checks]
    for (r, h), (rc, _text) in zip(checks, _collect(procs, PING_TIMEOUT + 5)):
        report.router_pings.append(RouterPingResult(r, h, rc == 0))

    # One routed pair's traceroute: the gateway must be hop 1.
    plan = traceroute_plan(topology)
    if plan is not None:
        src, dst, gw = plan
        dst_ip, gw_ip = str(topology.interfaces[dst].ipv4), str(topology.interfaces[gw].ipv4)
        argv = ['traceroute', '-n', '-q1', '-w1', f'-m{TRACEROUTE_MAX_HOPS}', dst_ip]
        (_rc, text), = _collect([_spawn(hosts[src], argv)], TRACEROUTE_MAX_HOPS * 2 + 10)
        report.traceroutes.append(TracerouteResult(src, dst, dst_ip, gw, gw_ip,
                                                   parse_traceroute(text), text))
    return report


# ---------------------------------------------------------------------------
# Command line

def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog='vnet_mininet.py',
        description='Build a Mininet network (Open vSwitch userspace bridges, one namespace per vif '
                    'or host interface) from a ryu-vnet topology file.')
    ap.add_argument('topology', metavar='TOPOLOGY', help='topology file (YAML)')
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument('--demo', action='store_true',
                      help='start the controller, build the network, print the ping matrix, the '
                           'gateway ARP, router ping and traceroute checks; exit 0 iff all is as expected')
    mode.add_argument('--check', action='store_true',
                      help='like --demo with minimal output (for tests)')
    ap.add_argument('--cli', action='store_true',
                    help='drop into the Mininet CLI (the default without --demo/--check; '
                         'after the checks with them)')
    ap.add_argument('--controller-port', type=int, default=DEFAULT_CONTROLLER_PORT, metavar='PORT',
                    help='controller TCP port on 127.0.0.1 (default %(default)s)')
    ap.add_argument('--with-controller', action='store_true',
                    help='in CLI mode, also start the controller (--demo/--check always do)')
    ap.add_argument('--flow-timeout', type=float, default=15.0, metavar='SECONDS',
                    help='how long to wait for the controller\'s flows (default %(default)s)')
    ap.add_argument('--busy-timeout', type=float, default=60.0, metavar='SECONDS',
                    help='how long to wait for another run using the same bridge/port names '
                         '(default %(default)s)')
    ap.add_argument('-v', '--verbose', action='store_true', help='show Mininet\'s own progress')
    return ap.parse_args(argv)


def load(path: str) -> Topology:
    """load_topology, or the error message and exit status 1."""
    try:
        return load_topology(path)
    except TopologyError as err:
        print(f'{PROG}: {path} is not a valid topology file:', file=sys.stderr)
        print(str(err), file=sys.stderr)
    except OSError as err:
        print(f'{PROG}: cannot read {path}: {err.strerror or err}', file=sys.stderr)
    raise SystemExit(1)


def _preflight() -> None:
    if os.geteuid() != 0:
        raise BuildError('needs root (network namespaces, Open vSwitch)')
    tools = ('ovs-vsctl', 'ovs-ofctl', 'ip', 'ethtool', 'arping', 'ping', 'traceroute', 'mnexec')
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise BuildError(f'missing commands: {", ".join(missing)} (run `make setup`)')
    if _run(['ovs-vsctl', '--timeout=5', 'show']).returncode != 0:
        raise BuildError('Open vSwitch is not running (run `make setup`)')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    checking = args.demo or args.check
    quiet = args.check
    prefix = 'demo' if args.demo else 'check'
    topology = load(args.topology)
    problems = buildability_problems(topology)
    if problems:
        print(f'{PROG}: {args.topology} cannot be built with Mininet:', file=sys.stderr)
        for p in problems:
            print(f'{args.topology}: {p}', file=sys.stderr)
        return 1
    if not nodes(topology):
        print(f'{PROG}: {args.topology} has no vif or host interfaces: nothing to build', file=sys.stderr)
        return 1

    from mininet.log import setLogLevel
    setLogLevel('info' if args.verbose else ('warning' if checking else 'info'))
    signal.signal(signal.SIGTERM, _on_sigterm)

    cleanup = Cleanup()
    controller: Optional[ControllerProcess] = None
    status = 1
    try:
        _preflight()
        lock = _Lock()
        lock.acquire(args.busy_timeout, quiet)
        cleanup.add('release lock', lock.release)
        wait_names_free(topology, args.busy_timeout, quiet)
        for note in build_notes(topology):
            _log(quiet, f'{PROG}: note: {note}')

        if checking or args.with_controller:
            tmpdir = Path(tempfile.mkdtemp(prefix='vnet-mininet-'))
            cleanup.add('remove temporary files', shutil.rmtree, str(tmpdir), True)
            controller = ControllerProcess(os.path.abspath(args.topology), args.controller_port,
                                           tmpdir / 'controller.log')
            cleanup.add('stop the controller', controller.stop)
            _log(quiet, f'*** Starting the controller on 127.0.0.1:{args.controller_port} '
                        f'(log: {controller.log_path})')
            controller.start()

        net, hosts = None, {}
        try:
            net, hosts = build_network(topology, args.controller_port)
        finally:
            if net is not None:
                cleanup.add('stop the Mininet network', net.stop)
        _log(quiet, f'*** Starting {len(topology.datapaths)} switch(es), {len(hosts)} host(s)')
        net.start()
        configure_hosts(topology, hosts)

        if checking:
            _log(quiet, f'*** Waiting for the controller\'s flows (at most {args.flow_timeout:.0f}s)')
            wait_for_flows(topology, args.flow_timeout, quiet)
            _log(quiet, '*** Probing every pair of hosts, every gateway and every router interface')
            started = time.monotonic()
            report = run_probes(topology, hosts)
            names = host_names(topology)
            if not quiet:
                print()
                print(render_matrix(topology, report, names))
                print()
                print(render_gateways(topology, report, names))
                print()
                print(render_routers(topology, report, names))
                print()
                print(render_traceroutes(report, names))
                print(f'(probes took {time.monotonic() - started:.1f}s)')
                print()
            for line in mismatch_lines(topology, report):
                print(line)
            print(report.verdict(prefix), flush=True)
            status = 0 if report.ok else 1
            if not report.ok and controller is not None:
                print(f'--- controller log (last lines of {controller.log_path}) ---')
                print(controller.tail())
                print('--- end of controller log ---', flush=True)

        if args.cli or not checking:
            from mininet.cli import CLI
            target = f'127.0.0.1:{args.controller_port}'
            print(f'*** Bridges {", ".join(sorted(topology.datapaths))} expect the controller at {target}'
                  + ('' if controller else ' (start it yourself: .venv/bin/ryu-manager '
                     f'--ofp-tcp-listen-port {args.controller_port} --topology {args.topology} '
                     'controller.app)'))
            CLI(net)
            if not checking:
                status = 0
    except BuildError as err:
        print(f'{PROG}: {err}', file=sys.stderr)
        if controller is not None and controller.log_path.exists():
            print(f'--- controller log (last lines) ---\n{controller.tail()}\n--- end ---', file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print(f'\n{PROG}: interrupted, cleaning up', file=sys.stderr)
        status = 130
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
        print(f'{PROG}: terminated, cleaning up', file=sys.stderr)
    finally:
        cleanup.run()
    return status


if __name__ == '__main__':
    sys.exit(main())
