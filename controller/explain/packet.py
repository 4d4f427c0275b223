"""The frame an interface would send, built from the topology.

Addresses come from the source interface.  To an address of its own
network the frame goes to the owner's MAC; to any other address it goes to
a gateway's MAC, as a real host would after ARP: the network's router
interface whose route link routes the address, else the first router by
name (the one DHCP hands out as option 3).  An address of the own network
that no interface has is answered by nobody, so what the host really sends
is the ARP request for it, and that is what is traced.
"""
from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from controller.packets.constants import (
    ARP_REQUEST,
    BROADCAST_MAC,
    DHCP_CLIENT_PORT,
    DHCP_SERVER_PORT,
    DNS_PORT,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    ICMP_ECHO_REQUEST,
    IP_PROTO_ICMP,
    IP_PROTO_TCP,
    IP_PROTO_UDP,
)
from controller.topology import DNS, ROUTER, SIMULATED, Interface, Topology, routing
from controller.topology.nat import outside_owner

ICMP, TCP, UDP = 'icmp', 'tcp', 'udp'
PROTOCOLS = {ICMP: IP_PROTO_ICMP, TCP: IP_PROTO_TCP, UDP: IP_PROTO_UDP}
SOURCE_PORT = 49152             # the first ephemeral port
TTL = 64
ZERO_MAC = '00:00:00:00:00:00'


class ProbeError(ValueError):
    """The request cannot be traced: an unknown interface, a missing address (usage)."""


class NoRoute(ValueError):
    """The source host would not send the frame at all (a finding, not a usage error)."""


@dataclass(frozen=True)
class Request:
    source: str                       # interface name
    to: Optional[str] = None          # an IPv4 address or an interface name
    kind: str = ICMP                  # icmp | tcp | udp | arp | dhcp | dns
    dport: Optional[int] = None


@dataclass
class Probe:
    source: Interface
    fields: dict                      # OXM fields, without in_port
    summary: str
    notes: List[str] = field(default_factory=list)

    @property
    def datapath(self) -> str:
        assert self.source.datapath is not None
        return self.source.datapath

    @property
    def port(self) -> str:
        assert self.source.port is not None
        return self.source.port


def build(topology: Topology, request: Request) -> Probe:
    src = _source(topology, request.source)
    if request.kind == 'dhcp':
        return Probe(src, _dhcp_discover(src), f'DHCP discover from {src.name} ({src.mac})')
    if request.kind == 'dns':
        return _dns_query(topology, src)
    target, named = _destination(topology, request.to)
    if src.ipv4 is None:
        raise ProbeError(f'interface {src.name} has no ipv4 in the topology; only --dhcp can be '
                         'traced from it')
    if request.kind == 'arp':
        return _arp(src, target)
    own = topology.networks[src.network].ipv4
    notes = []
    if named is not None and named.network != src.network and target in own:
        notes.append(f'{named.name} is in network {named.network}, but its address {target} is inside '
                     f'{src.name}\'s own network {src.network} ({own}): the host looks for it there')
    if target == src.ipv4:
        raise NoRoute(f'{target} is {src.name}\'s own address: the host keeps the packet; '
                      f'{src.name} cannot reach {request.to} in another network with that address')
    if target in own:
        owner = [i for i in topology.interfaces_of(src.network) if i.ipv4 == target]
        edge = outside_owner(topology, src.network, target)
        if edge is not None:        # a NAT outside address: the router answered the host's ARP
            owner, notes = [edge], notes + [f'{target} is a NAT outside address: {edge.name} answers '
                                            'ARP for it, so the host sends to its MAC']
        if not owner:
            probe = _arp(src, target)
            probe.notes += notes + [f'no interface of network {src.network} has {target}: a host '
                                    'ARPs for it first, so that request is traced']
            return probe
        dst_mac, via = owner[0].mac, f'{owner[0].name}'
    else:
        gateway = _gateway(topology, src, target)
        dst_mac, via = gateway.mac, f'gateway {gateway.name} ({gateway.mac})'
    fields = _ip(src, dst_mac, target, request.kind, request.dport)
    port = f' port {request.dport}' if request.kind in (TCP, UDP) else ''
    what = 'ICMP echo request' if request.kind == ICMP else request.kind.upper()
    return Probe(src, fields, f'{what} {src.ipv4} -> {target}{port} from {src.name}, to {via}', notes)


def _source(topology: Topology, name: str) -> Interface:
    iface = topology.interfaces.get(name)
    if iface is None:
        raise ProbeError(f'--from: no interface {name} in {topology.source}{_hint(topology, name)}')
    if iface.mode == SIMULATED or iface.datapath is None or iface.port is None:
        raise ProbeError(f'--from: {name} is a simulated interface; it sends nothing itself '
                         '(trace from a vif or host interface)')
    return iface


def _destination(topology: Topology, to: Optional[str]
                 ) -> Tuple[ipaddress.IPv4Address, Optional[Interface]]:
    """The destination address, and the interface when one was named."""
    if to is None:
        raise ProbeError('--to is required (an IPv4 address or an interface name), except with --dhcp')
    try:
        return ipaddress.IPv4Address(to), None
    except ValueError:
        pass
    iface = topology.interfaces.get(to)
    if iface is None:
        raise ProbeError(f'--to: {to} is neither an IPv4 address nor an interface of '
                         f'{topology.source}{_hint(topology, to)}')
    if iface.ipv4 is None:
        raise ProbeError(f'--to: interface {to} has no ipv4 in the topology')
    return iface.ipv4, iface


def _hint(topology: Topology, name: str) -> str:
    close = difflib.get_close_matches(name, list(topology.interfaces), n=1)
    return f'; did you mean {close[0]}?' if close else ''


def _gateway(topology: Topology, src: Interface, target) -> Interface:
    routers = sorted((i for i in topology.interfaces_of(src.network)
                      if ROUTER in i.services and i.ipv4 is not None), key=lambda i: i.name)
    for router in routers:
        for link, iface in routing.links_of_network(topology, src.network).items():
            if iface == router and routing.lookup(topology, link, router, target) is not None:
                return router
    if routers:
        return routers[0]
    raise NoRoute(f'{target} is outside network {src.network} ({topology.networks[src.network].ipv4}) '
                  f'and the network has no router interface: {src.name} has no route to it and '
                  'would send nothing')


def _arp(src: Interface, target) -> Probe:
    fields = dict(eth_src=src.mac, eth_dst=BROADCAST_MAC, eth_type=ETH_TYPE_ARP, arp_op=ARP_REQUEST,
                  arp_spa=str(src.ipv4), arp_tpa=str(target), arp_sha=src.mac, arp_tha=ZERO_MAC)
    return Probe(src, fields, f'ARP who-has {target} tell {src.ipv4}, from {src.name} (broadcast)')


def _dns_query(topology: Topology, src: Interface) -> Probe:
    """A DNS query to the dns interface of the source's network (what DHCP hands out)."""
    servers = [i for i in topology.interfaces_of(src.network) if DNS in i.services]
    if not servers:
        raise ProbeError(f'--dns: network {src.network} of {src.name} has no interface with the dns '
                         'service')
    if src.ipv4 is None:
        raise ProbeError(f'interface {src.name} has no ipv4 in the topology; only --dhcp can be '
                         'traced from it')
    server = servers[0]
    return Probe(src, _ip(src, server.mac, server.ipv4, UDP, DNS_PORT),
                 f'DNS query {src.ipv4} -> {server.ipv4} port {DNS_PORT} from {src.name}, to dns '
                 f'interface {server.name}')


def _dhcp_discover(src: Interface) -> dict:
    return dict(eth_src=src.mac, eth_dst=BROADCAST_MAC, eth_type=ETH_TYPE_IP,
                ipv4_src='0.0.0.0', ipv4_dst='255.255.255.255', ip_proto=IP_PROTO_UDP, nw_ttl=TTL,
                udp_src=DHCP_CLIENT_PORT, udp_dst=DHCP_SERVER_PORT)


def _ip(src: Interface, dst_mac: str, target, kind: str, dport: Optional[int]) -> dict:
    fields = dict(eth_src=src.mac, eth_dst=dst_mac, eth_type=ETH_TYPE_IP, ipv4_src=str(src.ipv4),
                  ipv4_dst=str(target), ip_proto=PROTOCOLS[kind], nw_ttl=TTL)
    if kind == ICMP:
        fields.update(icmpv4_type=ICMP_ECHO_REQUEST, icmpv4_code=0)
    else:
        fields.update({f'{kind}_src': SOURCE_PORT, f'{kind}_dst': dport if dport is not None else 80})
    return fields
