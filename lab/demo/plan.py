"""What the demo builds and what it expects, from the topology alone.

Pure: no Mininet, no root, no processes.  Which interfaces become nodes,
the routes each node gets, which pairs must reach each other, and the probes
that check it, scheduled so that concurrent probes never disagree about a
neighbour entry.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

from controller.topology import HOST, ROUTER, SIMULATED, VIF, Interface, Topology, routing
from lab.ovs import IFNAME_CHARS, IFNAMSIZ, ifname_problem

DEFAULT_ROUTE = ipaddress.IPv4Network('0.0.0.0/0')
Route = Tuple[ipaddress.IPv4Network, Interface]
NeighbourEntry = Tuple[str, str, str]          # (interface, ip, mac)
Pair = Tuple[str, str]                         # (source, destination) interface names


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


def static_routes(topology: Topology, iface) -> List[Route]:
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
    if iface.mode == HOST:
        return _host_routes(topology, iface)
    if iface.mode != VIF:
        return []
    gw = router_interface(topology, iface.network)
    if gw is None or gw.ipv4 == iface.ipv4:
        return []
    return [(DEFAULT_ROUTE, gw)]


def _host_routes(topology: Topology, iface: Interface) -> List[Route]:
    """A host interface's routes: the other routes of its routers' links."""
    own = topology.networks[iface.network].ipv4
    routes: List[Route] = []
    seen = set()
    for link, gw in sorted(routing.links_of_network(topology, iface.network).items()):
        if gw.ipv4 is None:
            continue
        for entry in routing.link_routes(topology, link):
            if entry.out == gw or entry.prefix in seen or entry.prefix.subnet_of(own):
                continue
            seen.add(entry.prefix)
            routes.append((entry.prefix, gw))
    return _by_prefix(routes)


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


_IFNAME_LIMIT = f'at most {IFNAMSIZ} characters of {IFNAME_CHARS}'


def buildability_problems(topology: Topology) -> List[str]:
    """What stops this topology from becoming Linux interfaces and bridges."""
    problems = [f'datapaths.{dp}: a userspace OVS bridge is also a Linux interface; '
                f'its name must be {_IFNAME_LIMIT}'
                for dp in sorted(topology.datapaths) if ifname_problem(dp)]
    bridges = {dp: 'is a bridge name' for dp in topology.datapaths}
    return problems + port_problems(topology, lambda iface: bridges, 'Mininet', per_datapath=False)


def port_problems(topology: Topology, taken: Callable[[Interface], Mapping[str, str]], builder: str,
                  per_datapath: bool) -> List[str]:
    """What stops the nodes' ports from being veths: bad names, two nodes on a port (on one
    datapath, with ``per_datapath``), names ``taken(iface)`` maps to why, unknown datapaths."""
    problems = []
    seen: Dict[Tuple[str, str], str] = {}
    for iface in nodes(topology):
        port = iface.port or ''
        key = (str(iface.datapath) if per_datapath else '', port)
        why = taken(iface).get(port)
        if ifname_problem(port):
            problems.append(f'interfaces.{iface.name}.port: {port!r} cannot be a Linux interface '
                            f'name ({_IFNAME_LIMIT})')
        elif key in seen:
            problems.append(f'interfaces.{iface.name}.port: {port!r} is also the port of '
                            f'{seen[key]}; {builder} needs one veth per port')
        elif why:
            problems.append(f'interfaces.{iface.name}.port: {port!r} {why}')
        seen.setdefault(key, iface.name)
        if iface.datapath not in topology.datapaths:
            problems.append(f'interfaces.{iface.name}.datapath: unknown datapath {iface.datapath!r}')
    return problems


def _route_text(routes) -> str:
    return ', '.join(f'{"default" if p.prefixlen == 0 else p} via {gw.ipv4} ({gw.name})'
                     for p, gw in routes) or 'none'


def build_notes(topology: Topology) -> List[str]:
    """Things worth telling the user about what is (not) built."""
    notes = [f'{iface.name}: host interface on physical network {iface.network}, built as a '
             f'Mininet host behind {iface.datapath}/{iface.port} standing for the machine '
             f'on the LAN; static routes: {_route_text(static_routes(topology, iface))}'
             for iface in nodes(topology) if iface.mode == HOST]
    spans: Dict[str, Set[str]] = {}
    for iface in nodes(topology):
        spans.setdefault(iface.network, set()).add(str(iface.datapath))
    notes += [f'{net}: spans datapaths {", ".join(sorted(dps))}; this builder creates no '
              f'tunnel ports between bridges (python -m lab.demo.hosts builds them, on emulated hosts)'
              for net, dps in sorted(spans.items()) if len(dps) > 1]
    for link in sorted(topology.route_links):
        linked: Set[str] = set()
        for r in routing.router_interfaces(topology, link):
            linked |= spans.get(r.network, set())
        if len(linked) > 1:
            notes.append(f'route link {link}: its networks have hosts on datapaths '
                         f'{", ".join(sorted(linked))}; routing between datapaths needs tunnels, which '
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
    pins: Tuple[NeighbourEntry, ...] = ()
    needs: Tuple[NeighbourEntry, ...] = ()    # resolved by ARP, not pinned
    counted: bool = False


def plan_probes(topology: Topology) -> Tuple[List[List[Probe]], Dict[Pair, str]]:
    """Schedule the ICMP probes of every ordered pair into rounds.

    Returns (rounds, skipped): within a round no interface needs two
    different MACs for one address, so its probes run concurrently; each
    `counted` probe is a round of its own, after the others.  `skipped`
    maps pairs that cannot be pinged to the reason (no address, or the same
    address as the source: those are checked by ARP only).
    """
    hosts = nodes(topology)
    probes: List[Probe] = []
    skipped: Dict[Pair, str] = {}
    for a in hosts:
        for b in hosts:
            if a.name == b.name:
                continue
            why = _unpingable(a, b)
            if why:
                skipped[(a.name, b.name)] = why
            else:
                probes.append(_probe(topology, a, b))
    rounds = _share_rounds([p for p in probes if not p.counted])
    return rounds + [[p] for p in probes if p.counted], skipped


def _unpingable(a: Interface, b: Interface) -> Optional[str]:
    if a.ipv4 is None or b.ipv4 is None:
        return 'no address'
    if a.ipv4 == b.ipv4:
        return 'same address'
    return None


def _probe(topology: Topology, a: Interface, b: Interface) -> Probe:
    """a's probe of b: pinned on-link, else through the route (see Probe)."""
    if _onlink(topology, a, b):
        pins: Tuple[NeighbourEntry, ...] = ((a.name, str(b.ipv4), b.mac),)
        if _onlink(topology, b, a):
            pins += ((b.name, str(a.ipv4), a.mac),)
        return Probe(a.name, b.name, str(b.ipv4), pins)
    needs: Tuple[NeighbourEntry, ...] = ()
    for x, dst in ((a, b.ipv4), (b, a.ipv4)):
        gw = gateway_towards(topology, x, dst)
        if gw is not None:
            needs += ((x.name, str(gw.ipv4), gw.mac),)
    owner = routed_owner(topology, a, b.ipv4)
    return Probe(a.name, b.name, str(b.ipv4), (), needs,
                 counted=owner is not None and owner.name != b.name)


def _share_rounds(probes: List[Probe]) -> List[List[Probe]]:
    """First fit: each probe joins the first round whose neighbour entries
    agree with its own."""
    rounds: List[Tuple[List[Probe], Dict[Pair, str]]] = []
    for probe in probes:
        entries = probe.pins + probe.needs
        fit = next((r for r in rounds
                    if all(r[1].get((h, ip), mac) == mac for h, ip, mac in entries)), None)
        if fit is None:
            fit = ([], {})
            rounds.append(fit)
        fit[0].append(probe)
        fit[1].update(((h, ip), mac) for h, ip, mac in entries)
    return [members for members, _ in rounds]


def plan_arp(topology: Topology) -> Dict[Pair, List[str]]:
    """(source interface, target address) -> peers owning that address on-link.

    The source sends an ARP probe (sender address 0.0.0.0, as in duplicate
    address detection, so it works even for the source's own address) and
    every MAC that answers is recorded: a peer is reachable at L2 iff its
    MAC is among them.  One probe per (source, address) serves every peer
    sharing the address.
    """
    plan: Dict[Pair, List[str]] = {}
    hosts = nodes(topology)
    for a in hosts:
        for b in hosts:
            if a.name != b.name and _onlink(topology, a, b):
                plan.setdefault((a.name, str(b.ipv4)), []).append(b.name)
    return plan


def gateway_checks(topology: Topology) -> List[Pair]:
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


def router_ping_checks(topology: Topology) -> List[Pair]:
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
    """(source, destination, source's gateway) of the first routed pair, if
    any; the first whose two ends are on different datapaths, if any is."""
    found = []
    for a in nodes(topology):
        for b in nodes(topology):
            if a.network == b.network or a.ipv4 is None or b.ipv4 is None:
                continue
            gw = gateway_towards(topology, a, b.ipv4)
            if gw is not None and expected_reachability(topology, a, b):
                found.append((a.datapath == b.datapath, a.name, b.name, gw.name))
    return min(found)[1:] if found else None

