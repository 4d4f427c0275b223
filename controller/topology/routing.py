"""Route links as a router: which prefixes leave through which interface.

A route link joins router interfaces (simulated, `router` service), each in
its own network.  Every router interface reaches its own network directly
(a connected route); a route with an `ipv4` beyond that network reaches it
through the route's `gateway`.  A packet entering the link through router
interface A goes out through the longest-prefix match among the routes of
the link's *other* interfaces.  Used by the pipeline (flows) and by the
controller (next hops to resolve, ICMP errors to source).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from controller.topology.model import ROUTER, Interface, Topology


@dataclass(frozen=True)
class RouteEntry:
    link: str
    prefix: ipaddress.IPv4Network
    out: Interface                              # the router interface it leaves through
    gateway: Optional[ipaddress.IPv4Address]    # None: the destination itself is the next hop


def link_routes(topology: Topology, link: str) -> List[RouteEntry]:
    entries, explicit = [], set()
    for route in topology.route_links[link].routes:
        iface = topology.interfaces[route.interface]
        explicit.add(route.ipv4)
        entries.append(RouteEntry(link, route.ipv4, iface, route.gateway))
    for route in topology.route_links[link].routes:
        iface = topology.interfaces[route.interface]
        connected = topology.networks[iface.network].ipv4
        if connected not in explicit:
            entries.append(RouteEntry(link, connected, iface, None))
            explicit.add(connected)
    return sorted(entries, key=lambda e: (-e.prefix.prefixlen, int(e.prefix.network_address)))


def router_interfaces(topology: Topology, link: str) -> List[Interface]:
    return [topology.interfaces[r.interface] for r in topology.route_links[link].routes]


def links_of_network(topology: Topology, network: str) -> Dict[str, Interface]:
    """Route link name -> this network's router interface on it."""
    found = {}
    for name in topology.route_links:
        for iface in router_interfaces(topology, name):
            if iface.network == network:
                found[name] = iface
    return found


def lookup(topology: Topology, link: str, ingress: Interface,
           dst: ipaddress.IPv4Address) -> Optional[RouteEntry]:
    """The route a packet entering through `ingress` to `dst` takes, if any."""
    for entry in link_routes(topology, link):
        if entry.out != ingress and dst in entry.prefix:
            return entry
    return None


def next_hop(entry: RouteEntry, dst: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    return entry.gateway if entry.gateway is not None else dst


def route_for_destination(topology: Topology, network: str, dst: ipaddress.IPv4Address
                          ) -> Optional[Tuple[Interface, ipaddress.IPv4Address]]:
    """For traffic leaving into `network` towards `dst`: (router interface, next hop).

    Used when a next hop must be resolved: the router interface of `network`
    whose link routes `dst` there, and the address to ARP for.
    """
    for link, iface in sorted(links_of_network(topology, network).items()):
        for entry in link_routes(topology, link):
            if entry.out == iface and dst in entry.prefix:
                return iface, next_hop(entry, dst)
    return None


def router_by_mac(topology: Topology, network: str, mac: str) -> Optional[Interface]:
    """The router interface of `network` with this MAC, if any."""
    for iface in topology.interfaces_of(network):
        if ROUTER in iface.services and iface.mac == mac:
            return iface
    return None
