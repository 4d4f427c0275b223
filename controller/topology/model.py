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
from typing import Mapping, Optional, Tuple

VIF, SIMULATED, HOST = 'vif', 'simulated', 'host'
VIRTUAL, PHYSICAL = 'virtual', 'physical'
DHCP, ROUTER = 'dhcp', 'router'


@dataclass(frozen=True)
class Datapath:
    name: str
    dpid: int
    tunnel_ip: Optional[ipaddress.IPv4Address] = None


@dataclass(frozen=True)
class Network:
    name: str
    ipv4: ipaddress.IPv4Network
    mode: str = VIRTUAL
    vni: int = 0                    # always set after validation (explicit or derived)
    dns_servers: Tuple[ipaddress.IPv4Address, ...] = ()
    domain_name: Optional[str] = None
    lease_time: int = 86400


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


@dataclass(frozen=True)
class Route:
    interface: str
    ipv4: ipaddress.IPv4Network     # defaults to the interface's network
    gateway: Optional[ipaddress.IPv4Address] = None


@dataclass(frozen=True)
class RouteLink:
    name: str
    routes: Tuple[Route, ...]
    mac: Optional[str] = None


@dataclass(frozen=True)
class Topology:
    source: str
    datapaths: Mapping[str, Datapath] = field(default_factory=dict)
    networks: Mapping[str, Network] = field(default_factory=dict)
    interfaces: Mapping[str, Interface] = field(default_factory=dict)
    route_links: Mapping[str, RouteLink] = field(default_factory=dict)

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

    def network_by_vni(self, vni) -> Optional[Network]:
        return self._by_vni.get(vni)

    def interfaces_of(self, network: str):
        return list(self._by_network.get(network, ()))

    def ports_on(self, datapath: str) -> Mapping[str, Interface]:
        """Interfaces (vif and host) plugged into `datapath`, by port name
        (a read-only view of the index: no copy on the packet-in path)."""
        return MappingProxyType(self._by_datapath.get(datapath, {}))

