"""What one datapath needs to know to compile its flows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping

from controller.topology import Interface, Network, Topology, SIMULATED


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

    @property
    def local(self) -> Dict[str, int]:
        """Interface name -> ofport for interfaces plugged in here right now."""
        found = {}
        for iface in self.topology.interfaces.values():
            if iface.datapath == self.datapath and iface.port in self.ports:
                found[iface.name] = self.ports[iface.port]
        return found

    def local_networks(self) -> Dict[str, Network]:
        names = {self.topology.interfaces[i].network for i in self.local}
        return {n: self.topology.networks[n] for n in sorted(names)}

    def simulated_in(self, network: str):
        return [i for i in self.topology.interfaces_of(network)
                if i.mode == SIMULATED and i.ipv4 is not None]

    def interface(self, name: str) -> Interface:
        return self.topology.interfaces[name]

    def vni(self, network: str) -> int:
        return self.topology.networks[network].vni
