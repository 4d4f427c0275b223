"""Networks across datapaths: the rules for tunnels.

A network spans the datapaths where it has vif or host interfaces, and a
route link carries a network's traffic to every datapath of the networks it
joins (routing is done where a packet enters).  Datapaths that exchange
traffic meet over VXLAN, so each of them needs a `tunnel_ip`.
"""
from __future__ import annotations

from typing import Dict, List, Set

from controller.topology.entries import Sections
from controller.topology.model import SIMULATED


def _components(s: Sections) -> Dict[str, Set[str]]:
    """Network -> the networks it exchanges traffic with (itself and every
    network on a route link it is on)."""
    joined: Dict[str, Set[str]] = {name: {name} for name in s.networks}
    for routes in s.routes.values():
        members = set()
        for route in routes:
            iface = s.interfaces.get(route.values.get('interface') or '')
            network = iface.values.get('network') if iface is not None else None
            if network in joined:
                members.add(network)
        for network in members:
            joined[network] |= members
    return joined


def _datapaths_by_network(s: Sections) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    for e in s.interfaces.values():
        network, datapath = e.values.get('network'), e.values.get('datapath')
        if e.values.get('mode') == SIMULATED or network is None or datapath not in s.datapaths:
            continue
        if datapath not in found.setdefault(network, []):
            found[network].append(datapath)
    return found


def check_tunnels(s: Sections) -> None:
    """Every datapath that exchanges traffic with another has a tunnel_ip."""
    spans = _datapaths_by_network(s)
    reported: Set[str] = set()
    for network, joined in sorted(_components(s).items()):
        datapaths = sorted({dp for n in joined for dp in spans.get(n, ())})
        if len(datapaths) < 2:
            continue
        for dp in datapaths:
            entry = s.datapaths[dp]
            if dp in reported or 'dpid' not in entry.values or entry.values.get('tunnel_ip'):
                continue
            reported.add(dp)
            how = 'spans' if len(spans.get(network, ())) > 1 else 'is routed to networks on'
            entry.report.add(entry.path_of('tunnel_ip'), entry.line,
                             f'missing: network {network} {how} datapaths {", ".join(datapaths)}, '
                             f'which meet over VXLAN; give {dp} its tunnel endpoint address '
                             '(tunnel_ip: 198.18.0.1, say)')
