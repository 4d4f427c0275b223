"""What one datapath needs to know to compile its flows."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, List, Mapping, Optional, Set

from controller.pipeline.flows import OFPP_CONTROLLER
from controller.pipeline.service_port import find_service_port
from controller.topology import DHCP, SIMULATED, Interface, Network, Topology, routing


@dataclass(frozen=True)
class DatapathView:
    """The topology as seen from one datapath with its current port numbers.

    `ports` maps OVS port names to OpenFlow port numbers, as the switch
    reported them; interfaces whose port is not (yet) on the switch are
    simply absent from `local`.
    """
    topology: Topology
    datapath: str
    ports: Mapping[str, int]

    @cached_property
    def local(self) -> Dict[str, int]:
        """Interface name -> ofport for interfaces plugged in here right now."""
        return {iface.name: self.ports[port]
                for port, iface in self.topology.ports_on(self.datapath).items()
                if port in self.ports}

    @cached_property
    def local_networks(self) -> Dict[str, Network]:
        """Networks with a port here, by name."""
        names = {self.topology.interfaces[i].network for i in self.local}
        return {n: self.topology.networks[n] for n in sorted(names)}

    @cached_property
    def _simulated(self):
        found: Dict[str, List[Interface]] = {}
        for iface in self.topology.interfaces.values():
            if iface.mode == SIMULATED and iface.ipv4 is not None:
                found.setdefault(iface.network, []).append(iface)
        return found

    def simulated_in(self, network: str):
        return self._simulated.get(network, [])

    @cached_property
    def dhcp_networks(self) -> Set[str]:
        """Networks with a simulated DHCP server (asked once per port)."""
        return {network for network, ifaces in self._simulated.items()
                if any(DHCP in i.services for i in ifaces)}

    @cached_property
    def service_port(self) -> Optional[int]:
        """The bridge's service port (controller.pipeline.service_port), if usable."""
        return find_service_port(self.ports)

    @property
    def punt_target(self) -> int:
        """Where DHCP and DNS go: the service port, or else the controller."""
        return OFPP_CONTROLLER if self.service_port is None else self.service_port

    def dhcp_target(self, network: str) -> Optional[int]:
        """Where `network`'s DHCP requests go from here; None: no DHCP service."""
        return self.punt_target if network in self.dhcp_networks else None

    def interface(self, name: str) -> Interface:
        return self.topology.interfaces[name]

    def vni(self, network: str) -> int:
        return self.topology.networks[network].vni

    @cached_property
    def local_links(self) -> List[str]:
        """Route links with a router interface in a network that has ports here."""
        local = self.local_networks
        return sorted(name for name in self.topology.route_links
                      if any(i.network in local
                             for i in routing.router_interfaces(self.topology, name)))

    @cached_property
    def routed_networks(self) -> List[str]:
        """Networks a local route link routes into that have ports here or
        on another datapath (routing is done where a packet enters)."""
        names: Set[str] = set()
        for link in self.local_links:
            names.update(i.network for i in routing.router_interfaces(self.topology, link))
        return sorted(n for n in names if n in self.local_networks or self.remote_interfaces(n))

    # -- across datapaths ----------------------------------------------------
    @cached_property
    def tunnel_port(self) -> Optional[int]:
        """The OpenFlow port of this datapath's VXLAN port, if the bridge has it."""
        conf = self.topology.datapaths.get(self.datapath)
        return self.ports.get(conf.tunnel_port) if conf is not None else None

    def tunnel_ip_of(self, datapath: Optional[str]) -> Optional[ipaddress.IPv4Address]:
        conf = self.topology.datapaths.get(datapath) if datapath is not None else None
        return conf.tunnel_ip if conf is not None else None

    @cached_property
    def _remote(self) -> Dict[str, List[Interface]]:
        return {}

    def remote_interfaces(self, network: str) -> List[Interface]:
        """Vif and host interfaces of `network` on other datapaths that have
        a tunnel endpoint."""
        found = self._remote.get(network)
        if found is None:
            found = self._remote[network] = [
                i for i in self.topology.interfaces_of(network)
                if i.mode != SIMULATED and i.datapath is not None and i.datapath != self.datapath
                and self.tunnel_ip_of(i.datapath) is not None]
        return found

    def peers_of(self, network: str) -> List[str]:
        """Other datapaths where `network` has interfaces (and a tunnel endpoint)."""
        return sorted(dp for dp in self.topology.span_of(network)
                      if dp != self.datapath and self.tunnel_ip_of(dp) is not None)

    def senders_to(self, network: str) -> List[str]:
        """Other datapaths that may send frames of `network` here."""
        return sorted(dp for dp in self.topology.senders_to(network)
                      if dp != self.datapath and self.tunnel_ip_of(dp) is not None)

    @cached_property
    def delivered_networks(self) -> List[str]:
        """Networks whose destinations L2 must know: local ones, and those
        this datapath routes into."""
        return sorted(set(self.local_networks) | set(self.routed_networks))

    @cached_property
    def needs_tunnel(self) -> bool:
        return (any(self.remote_interfaces(n) for n in self.delivered_networks)
                or any(self.senders_to(n) for n in self.local_networks))
