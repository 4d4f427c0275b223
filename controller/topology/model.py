"""The validated topology: an immutable model of topology file v1.

Everything downstream (the flow pipeline, the DHCP responder, the Mininet
builder) reads this model and never the YAML.  `controller.topology.load_topology`
is the only way to get one from a file; it raises `TopologyError` with every
problem.  This module imports nothing of the project: validation builds it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Dict, FrozenSet, Mapping, Optional, Tuple

VIF, SIMULATED, HOST = 'vif', 'simulated', 'host'
VIRTUAL, PHYSICAL = 'virtual', 'physical'
DHCP, ROUTER, DNS = 'dhcp', 'router', 'dns'


@dataclass(frozen=True)
class Datapath:
    name: str
    dpid: int
    tunnel_ip: Optional[ipaddress.IPv4Address] = None
    tunnel_port: str = 'vxlan0'      # the bridge's flow-based VXLAN port


@dataclass(frozen=True)
class Network:
    name: str
    ipv4: ipaddress.IPv4Network
    mode: str = VIRTUAL
    vni: int = 0                    # always set after validation (explicit or derived)
    dns_servers: Tuple[ipaddress.IPv4Address, ...] = ()
    domain_name: Optional[str] = None
    lease_time: int = 86400
    mtu: int = 1450                  # DHCP option 26: 1500 - VXLAN's 50
    dns_upstream: Tuple[ipaddress.IPv4Address, ...] = ()     # where the dns service forwards
    # A records of the dns service: (name relative to domain_name, lower-case, its addresses)
    dns_records: Tuple[Tuple[str, Tuple[ipaddress.IPv4Address, ...]], ...] = ()


@dataclass(frozen=True)
class Interface:
    name: str
    network: str
    mac: str                        # lower-case, colon separated
    ipv4: Optional[ipaddress.IPv4Address] = None
    mode: str = VIF
    datapath: Optional[str] = None  # vif and host only
    port: Optional[str] = None      # vif and host only
    services: Tuple[str, ...] = ()  # simulated only
    security_groups: Tuple[str, ...] = ()   # vif only (controller.topology.security_groups)

    def __hash__(self) -> int:
        # Kept once computed: the compiler's per-port memo hashes every
        # interface on every compile (10,000 of them at a time).
        cached = self.__dict__.get('_hash')
        if cached is None:
            cached = hash((self.name, self.network, self.mac, self.ipv4, self.mode, self.datapath,
                           self.port, self.services, self.security_groups))
            object.__setattr__(self, '_hash', cached)
        return cached


@dataclass(frozen=True)
class Route:
    interface: str
    ipv4: ipaddress.IPv4Network     # defaults to the interface's network
    gateway: Optional[ipaddress.IPv4Address] = None


@dataclass(frozen=True)
class Nat:
    """One NAT rule of a route link (controller.topology.nat): a /32 inside is
    1:1 (a floating IP, both directions), a shorter prefix many:1 source NAT."""
    inside: ipaddress.IPv4Network
    outside: ipaddress.IPv4Address

    @property
    def one_to_one(self) -> bool:
        return self.inside.prefixlen == 32


@dataclass(frozen=True)
class RouteLink:
    name: str
    routes: Tuple[Route, ...]
    nat: Tuple[Nat, ...] = ()


@dataclass(frozen=True)
class SgRule:
    """One rule of a security group (controller.topology.security_groups):
    IPv4 of `proto` (None: any) to destination ports port_min..port_max
    (None: any), from/to `cidr` or the members of `group` (None: anywhere).
    `tag` names the rule in conntrack (ct_mark/ct_label), from its content."""
    direction: str                  # 'ingress' | 'egress'
    proto: Optional[int] = None     # 1 icmp, 6 tcp, 17 udp
    port_min: Optional[int] = None
    port_max: Optional[int] = None
    cidr: Optional[ipaddress.IPv4Network] = None
    group: Optional[str] = None
    tag: int = 0


@dataclass(frozen=True)
class SecurityGroup:
    name: str
    ingress: Tuple[SgRule, ...] = ()
    egress: Tuple[SgRule, ...] = ()


@dataclass(frozen=True)
class Topology:
    source: str
    datapaths: Mapping[str, Datapath] = field(default_factory=dict)
    networks: Mapping[str, Network] = field(default_factory=dict)
    interfaces: Mapping[str, Interface] = field(default_factory=dict)
    route_links: Mapping[str, RouteLink] = field(default_factory=dict)
    security_groups: Mapping[str, SecurityGroup] = field(default_factory=dict)

    def datapath_by_dpid(self, dpid: int) -> Optional[Datapath]:
        for dp in self.datapaths.values():
            if dp.dpid == dpid:
                return dp
        return None

    # Indexes, built once per (immutable) topology: lookups stay O(1) at
    # 10,000 interfaces.  cached_property writes around the frozen dataclass.
    @cached_property
    def _by_network(self):
        index = {name: [] for name in self.networks}
        for iface in self.interfaces.values():
            index.setdefault(iface.network, []).append(iface)
        return index

    @cached_property
    def _by_datapath(self):
        index = {}
        for iface in self.interfaces.values():
            if iface.datapath is not None and iface.port is not None:
                index.setdefault(iface.datapath, {})[iface.port] = iface
        return index

    @cached_property
    def _by_vni(self):
        return {net.vni: net for net in self.networks.values()}

    @cached_property
    def _group_members(self) -> Dict[str, Tuple[Interface, ...]]:
        found: Dict[str, list] = {name: [] for name in self.security_groups}
        for iface in self.interfaces.values():
            for group in iface.security_groups:
                found.setdefault(group, []).append(iface)
        return {name: tuple(members) for name, members in found.items()}

    def members_of(self, group: str) -> Tuple[Interface, ...]:
        """The interfaces in security group `group`, in file order."""
        return self._group_members.get(group, ())

    def network_by_vni(self, vni) -> Optional[Network]:
        return self._by_vni.get(vni)

    def interfaces_of(self, network: str):
        return list(self._by_network.get(network, ()))

    # -- across datapaths ----------------------------------------------------
    @cached_property
    def _span(self) -> Dict[str, FrozenSet[str]]:
        found: Dict[str, set] = {name: set() for name in self.networks}
        for iface in self.interfaces.values():
            if iface.datapath is not None and iface.mode != SIMULATED:
                found.setdefault(iface.network, set()).add(iface.datapath)
        return {name: frozenset(dps) for name, dps in found.items()}

    def span_of(self, network: str) -> FrozenSet[str]:
        """The datapaths where `network` has vif or host interfaces."""
        return self._span.get(network, frozenset())

    @cached_property
    def _joined(self) -> Dict[str, FrozenSet[str]]:
        found: Dict[str, set] = {name: {name} for name in self.networks}
        for link in self.route_links.values():
            members = {self.interfaces[r.interface].network for r in link.routes}
            for network in members:
                found[network] |= members
        return {name: frozenset(nets) for name, nets in found.items()}

    def joined_to(self, network: str) -> FrozenSet[str]:
        """`network` and every network a route link joins it to: where its
        traffic may be routed (in the datapath where it enters)."""
        return self._joined.get(network, frozenset({network}))

    def senders_to(self, network: str) -> FrozenSet[str]:
        """Datapaths that may send traffic into `network`: those where it,
        or a network joined to it, has interfaces."""
        return frozenset(dp for n in self.joined_to(network) for dp in self.span_of(n))

    def ports_on(self, datapath: str) -> Mapping[str, Interface]:
        """Interfaces (vif and host) plugged into `datapath`, by port name
        (a read-only view of the index: no copy on the packet-in path)."""
        return MappingProxyType(self._by_datapath.get(datapath, {}))

