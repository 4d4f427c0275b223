"""What one datapath needs to know to compile its flows."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Dict, List, Mapping

from controller.topology import SIMULATED, Interface, Network, Topology, routing


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
        """Networks with ports here that a local route link routes into."""
        names = set()
        for link in self.local_links:
            names.update(i.network for i in routing.router_interfaces(self.topology, link))
        return sorted(n for n in names if n in self.local_networks)
