"""The port numbers a datapath is compiled with when no switch is asked.

Flows name OpenFlow port numbers, which only a live bridge knows.  Offline,
every port of the topology on a datapath gets a number in port-name order
(1, 2, ...) and the tunnel port the next one, so every interface is
plugged in.  `numbered` takes several topologies at once (diff) so that a
port keeps its number on both sides of an edit: only what the edit changes
shows up as a flow change.
"""
from __future__ import annotations

from typing import Dict, Iterable, Set

from controller.topology import Topology


def numbered(datapath: str, *topologies: Topology) -> Dict[str, int]:
    """Port name -> OpenFlow port number for `datapath`, over all `topologies`."""
    names: Set[str] = set()
    tunnels: Set[str] = set()
    for topology in topologies:
        names.update(topology.ports_on(datapath))
        conf = topology.datapaths.get(datapath)
        if conf is not None:
            tunnels.add(conf.tunnel_port)
    ports = {name: number for number, name in enumerate(sorted(names - tunnels), 1)}
    for number, name in enumerate(sorted(tunnels), len(ports) + 1):
        ports[name] = number
    return ports


def by_number(ports: Dict[str, int]) -> Dict[int, str]:
    return {number: name for name, number in ports.items()}


def datapaths_of(topologies: Iterable[Topology]):
    return sorted({dp for t in topologies for dp in t.datapaths})
