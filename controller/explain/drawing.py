"""The topology as a Graphviz graph: what `vnetctl graph` draws.

Datapaths are boxes (clusters) holding their interfaces; each network has
its own colour and a node of its own that its interfaces hang from;
simulated interfaces (answered on every datapath) hang from their network
too; each route link is a router node joined to its router interfaces; a
dashed edge joins two datapaths that meet over VXLAN (they share a
network, or one routes into a network of the other), labelled with those
networks.  A datapath with more than `collapse` interfaces of one network
shows them as one node with a count, so a 10,000-interface file stays a
picture.
"""
from __future__ import annotations

import itertools
from typing import Dict, List, Tuple

import graphviz

from controller.topology import SIMULATED, Interface, Topology

# Colour-blind-friendly pastels (Okabe-Ito lightened), then more.
PALETTE = ('#9ecae1', '#fdae6b', '#a1d99b', '#fc9272', '#bcbddc', '#fdd0a2', '#c7e9c0',
           '#d9d9d9', '#f7b6d2', '#c6dbef', '#fee391', '#b3de69')
FONT = 'Helvetica'


def colours(topology: Topology) -> Dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(topology.networks))}


def draw(topology: Topology, collapse: int = 12) -> graphviz.Graph:
    g = graphviz.Graph('topology', graph_attr={
        'rankdir': 'LR', 'compound': 'true', 'fontname': FONT, 'nodesep': '0.3', 'ranksep': '0.9',
        'label': f'{topology.source}', 'labelloc': 't', 'fontsize': '16'},
        node_attr={'fontname': FONT, 'fontsize': '11'}, edge_attr={'fontname': FONT, 'fontsize': '10'})
    colour = colours(topology)
    for name, net in sorted(topology.networks.items()):
        g.node(_id('net', name), f'{name}\n{net.ipv4}\nVNI {net.vni}' + (
            f'\n{net.mode}' if net.mode != 'virtual' else ''),
            shape='ellipse', style='filled,bold', fillcolor=colour[name])
    for dp in sorted(topology.datapaths):
        _datapath(g, topology, dp, colour, collapse)
    _simulated(g, topology, colour)
    _route_links(g, topology, colour)
    _tunnels(g, topology)
    return g


def _id(*parts: str) -> str:
    return '__'.join(('n',) + parts).replace('"', '')


def _datapath(g: graphviz.Graph, topology: Topology, name: str, colour, collapse: int) -> None:
    conf = topology.datapaths[name]
    label = f'{name}  (dpid {conf.dpid:#x})'
    if conf.tunnel_ip is not None:
        label += f'\ntunnel {conf.tunnel_ip} ({conf.tunnel_port})'
    with g.subgraph(name=f'cluster_{name}') as c:
        c.attr(label=label, style='rounded,filled', fillcolor='#f7f7f7', color='#636363')
        c.node(_id('dp', name), '', shape='point', style='invis')
        by_network: Dict[str, List[Interface]] = {}
        for iface in topology.ports_on(name).values():
            by_network.setdefault(iface.network, []).append(iface)
        for network, members in sorted(by_network.items()):
            if len(members) > collapse:
                node = _id('many', name, network)
                c.node(node, f'{len(members)} interfaces\nof {network}', shape='box3d',
                       style='filled', fillcolor=colour[network])
                g.edge(node, _id('net', network), color=colour[network], penwidth='2')
                continue
            for iface in sorted(members, key=lambda i: i.name):
                node = _id('if', iface.name)
                role = ' (host)' if iface.mode == 'host' else ''
                c.node(node, f'{iface.name}{role}\n{iface.ipv4 or "no ipv4"}\nport {iface.port}',
                       shape='box', style='rounded,filled', fillcolor=colour[network])
                g.edge(node, _id('net', network), color=colour[network], penwidth='2')


def _simulated(g: graphviz.Graph, topology: Topology, colour) -> None:
    for iface in sorted(topology.interfaces.values(), key=lambda i: i.name):
        if iface.mode != SIMULATED:
            continue
        services = ', '.join(iface.services) or 'ARP, ping'
        g.node(_id('if', iface.name), f'{iface.name}\n{iface.ipv4}\n({services})', shape='note',
               style='filled', fillcolor=colour[iface.network])
        g.edge(_id('net', iface.network), _id('if', iface.name), color=colour[iface.network],
               style='dotted')


def _route_links(g: graphviz.Graph, topology: Topology, colour) -> None:
    for name, link in sorted(topology.route_links.items()):
        router = _id('rl', name)
        g.node(router, f'router\n{name}', shape='doubleoctagon', style='filled', fillcolor='#ffffff')
        for route in link.routes:
            iface = topology.interfaces[route.interface]
            label = str(route.ipv4) + (f' via {route.gateway}' if route.gateway else '')
            g.edge(_id('if', iface.name), router, label=label, color=colour[iface.network],
                   penwidth='2')


def tunnels(topology: Topology) -> List[Tuple[str, str, List[str]]]:
    """(datapath, datapath, networks) for each pair that meets over VXLAN."""
    found: Dict[Tuple[str, str], set] = {}
    for network in topology.networks:
        members = sorted(topology.span_of(network))
        senders = sorted(topology.senders_to(network))
        for a, b in itertools.product(senders, members):
            if a != b and topology.datapaths[a].tunnel_ip and topology.datapaths[b].tunnel_ip:
                found.setdefault(tuple(sorted((a, b))), set()).add(network)   # type: ignore[arg-type]
    return [(a, b, sorted(nets)) for (a, b), nets in sorted(found.items())]


def _tunnels(g: graphviz.Graph, topology: Topology) -> None:
    for a, b, networks in tunnels(topology):
        g.edge(_id('dp', a), _id('dp', b), ltail=f'cluster_{a}', lhead=f'cluster_{b}',
               label='VXLAN: ' + ', '.join(networks), style='dashed', color='#636363', penwidth='1.5',
               constraint='false')
