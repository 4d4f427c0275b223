"""NAT at the edge: the `nat:` list of a route link, read and checked.

    route_links:
      edge:
        routes: [...]
        nat:
          - {inside: 172.16.1.10, outside: 10.0.10.110}    # 1:1 (a floating IP), both directions
          - {inside: 172.16.1.0/24, outside: 10.0.10.100}  # many:1 source NAT (conntrack)

The `outside` address sits on a physical network the link has a router
interface in (the edge); the router answers ARP for it there.  `inside` is
an address or a prefix within a route of the link through another of its
interfaces.  Overlapping inside networks share one edge through route links
of their own (a link routes a prefix once), each with its own outside
addresses and its own conntrack zone, so their connections never mix.
"""
from __future__ import annotations

import ipaddress
import zlib
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from controller.topology.entries import Entry, Sections
from controller.topology.model import PHYSICAL, Interface, Nat, Topology
from controller.topology.values import Invalid, _wrong, expects, parse_ipv4_address

NAT_KEYS = ('inside', 'outside')
ZONE_BASE, ZONE_SPAN = 0x8000, 0x8000       # NAT's conntrack zones: 0x8000-0xffff (per route link)


def nat_zone(link: str) -> int:
    """The conntrack zone of a route link's source NAT: from its name alone,
    so no other edit can move it (a moved zone loses every connection)."""
    return ZONE_BASE + zlib.crc32(link.encode('utf-8')) % ZONE_SPAN


@expects('an IPv4 address (1:1) or prefix (many:1) like 172.16.1.10 or 172.16.1.0/24')
def parse_inside(value) -> ipaddress.IPv4Network:
    if not isinstance(value, str):
        raise _wrong(parse_inside, value)
    try:
        loose = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise Invalid(f'{value!r} is not an IPv4 address or prefix like 172.16.1.10 or '
                      '172.16.1.0/24') from None
    if loose.network_address != ipaddress.IPv4Interface(value).ip:
        raise Invalid(f'{value} has host bits set; did you mean {loose} (many:1) or '
                      f'{value.split("/")[0]} (1:1)?')
    return loose


def read_nat(link: Entry) -> Optional[List[Entry]]:
    """The link's NAT rules, each read on its own (null or absent: none)."""
    if link.data.get('nat') is None:
        link.values['nat'] = ()
        return None
    rules = link.entries('nat', NAT_KEYS, 'NAT rules, each with inside and outside')
    for rule in rules or ():
        rule.required('inside', parse_inside)
        rule.required('outside', parse_ipv4_address)
    return rules


# -- rules across entries -------------------------------------------------------

def check_nat(s: Sections) -> None:
    """Outside addresses on a physical network of the link, free and unique;
    inside addresses behind another interface of the link; zones distinct."""
    taken = _interface_addresses(s)
    outsides: Dict[Tuple[str, ipaddress.IPv4Address], str] = {}
    zones: Dict[int, str] = {}
    for link, rules in s.nat.items():
        insides: Dict[ipaddress.IPv4Network, int] = {}
        routes = _routes(s, link)
        for index, rule in enumerate(rules):
            edge = _check_outside(s, link, rule, routes, taken, outsides)
            _check_inside(link, rule, routes, edge, insides, index)
        zone = nat_zone(link)
        other = zones.setdefault(zone, link)
        if other != link:
            s.route_links[link].problem('nat', f'route links {other} and {link} both get '
                                               f'conntrack zone {zone:#x} from their names; '
                                               'rename one of them')


def _interface_addresses(s: Sections) -> Dict[Tuple[str, ipaddress.IPv4Address], str]:
    found: Dict[Tuple[str, ipaddress.IPv4Address], str] = {}
    for name, e in s.interfaces.items():
        network, address = e.values.get('network'), e.values.get('ipv4')
        if network is not None and address is not None:
            found.setdefault((network, address), name)
    return found


class _Route(NamedTuple):
    interface: str
    network: str
    prefix: ipaddress.IPv4Network
    connected: bool              # the interface's own network (not a route beyond it)


def _routes(s: Sections, link: str) -> List[_Route]:
    """Each readable route of the link, and the connected network of each interface."""
    found = []
    for route in s.routes.get(link, ()):
        name = route.values.get('interface')
        iface = s.interfaces.get(name) if name is not None else None
        network = iface.values.get('network') if iface is not None else None
        net_entry = s.networks.get(network) if network is not None else None
        net = net_entry.values.get('ipv4') if net_entry is not None else None
        if name is None or network is None or net is None:
            continue
        found.append(_Route(name, network, net, True))
        if route.values.get('ipv4') not in (None, net):
            found.append(_Route(name, network, route.values['ipv4'], False))
    return found


def _check_outside(s: Sections, link: str, rule: Entry, routes: List[_Route], taken,
                   outsides: Dict[Tuple[str, ipaddress.IPv4Address], str]) -> Optional[str]:
    """The router interface (the edge) whose physical network holds the outside address."""
    outside = rule.values.get('outside')
    if outside is None:
        return None
    physical = [r for r in routes
                if r.connected and s.networks[r.network].values.get('mode') == PHYSICAL]
    edge = next((r for r in physical if outside in r.prefix), None)
    if edge is None:
        where = ', '.join(f'{r.prefix} ({r.network}, via {r.interface})' for r in physical)
        rule.problem('outside', f'{outside} is in no physical network of route link {link}; '
                                + (f'the outside address belongs on one of: {where}' if where else
                                   'NAT needs a route link with an interface on a physical network'))
        return None
    net = edge.prefix
    if outside in (net.network_address, net.broadcast_address):
        rule.problem('outside', f'{outside} is not a host address of network {edge.network} ({net})')
        return edge.interface
    owner = taken.get((edge.network, outside))
    if owner is not None:
        rule.problem('outside', f'{outside} is already the address of interface {owner} in network '
                                f'{edge.network}; the router answers ARP for outside addresses, so '
                                'each must be free')
        return edge.interface
    other = outsides.setdefault((edge.network, outside), rule.path)
    if other != rule.path:
        rule.problem('outside', f'{outside} is already the outside address of {other}; each outside '
                                'address maps to one inside (overlapping inside networks need '
                                'different outside addresses)')
    return edge.interface


def _check_inside(link: str, rule: Entry, routes: List[_Route], edge: Optional[str],
                  insides: Dict[ipaddress.IPv4Network, int], index: int) -> None:
    inside = rule.values.get('inside')
    if inside is None:
        return
    behind = [r for r in routes if r.interface != edge]
    holder = next((r for r in behind if inside.subnet_of(r.prefix)), None)
    if holder is None:
        where = ', '.join(f'{r.prefix} (via {r.interface})' for r in behind) or 'none'
        rule.problem('inside', f'{_shown(inside)} is not behind route link {link}; inside addresses '
                               'are in a prefix it routes through an interface other than the '
                               f'edge: {where}')
        return
    net = holder.prefix
    if inside.prefixlen == 32 and holder.connected and net.prefixlen < 31 and \
            inside.network_address in (net.network_address, net.broadcast_address):
        rule.problem('inside', f'{inside.network_address} is the network or broadcast address of '
                               f'{holder.network} ({net}), not a host')
        return
    earlier = insides.setdefault(inside, index)
    if earlier != index:
        rule.problem('inside', f'{_shown(inside)} is already the inside of nat[{earlier}] of this '
                               'route link; one inside, one outside')


def _shown(inside: ipaddress.IPv4Network) -> str:
    return str(inside.network_address) if inside.prefixlen == 32 else str(inside)


def build_nat(values: dict) -> Nat:
    return Nat(values['inside'], values['outside'])


def outside_slots(topology: Topology) -> Iterator[Tuple[str, ipaddress.IPv4Address]]:
    """(physical network, address) of every outside address: taken as if an
    interface had it (the incremental revalidator checks edits against them)."""
    for link in topology.route_links:
        for rule, edge in edge_rules(topology, link):
            yield edge.network, rule.outside


def edge_rules(topology: Topology, link: str) -> List[Tuple[Nat, Interface]]:
    """Each NAT rule of the link with its edge: the link's router interface
    on the physical network that holds the outside address."""
    found: List[Tuple[Nat, Interface]] = []
    if not topology.route_links[link].nat:      # most links: every route compiles through here
        return found
    routers = [topology.interfaces[r.interface] for r in topology.route_links[link].routes]
    for rule in topology.route_links[link].nat:
        for iface in routers:
            network = topology.networks[iface.network]
            if network.mode == PHYSICAL and rule.outside in network.ipv4:
                found.append((rule, iface))
                break
    return found


def outside_owner(topology: Topology, network: str, address) -> Optional[Interface]:
    """The edge interface that answers ARP for `address` in `network`, if it is an outside address."""
    for link in topology.route_links:
        for rule, edge in edge_rules(topology, link):
            if edge.network == network and rule.outside == address:
                return edge
    return None
