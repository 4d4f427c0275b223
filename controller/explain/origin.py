"""The topology objects behind a compiled flow, each with key path and line.

Flows carry no back-pointer to what made them (a cookie fingerprints the
flow, nothing more), so, like OVN's ovn-detrace mapping a cookie to its
logical flow, the objects are read back from what the flow matches and
does: the port it matches is an interface, metadata is a network's VNI, a
destination MAC is an interface of that network, an address in a route
link's table is a route, a tunnel address is a datapath.  A priority-0
flow is a stage's default and has no object.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from controller.explain.nat import NAT_TABLES, nat_origins
from controller.explain.sg import SG_TABLES, sg_origins
from controller.explain.source import Located, Where
from controller.packets.constants import DNS_PORT
from controller.pipeline import tables
from controller.pipeline.flows import Flow, SetField
from controller.pipeline.tunnel import TUNNEL_DST_FIELD, TUNNEL_SRC_FIELD, VNI_FIELD
from controller.topology import DHCP, ROUTER, SIMULATED, Interface, Network, routing


@dataclass(frozen=True)
class Origin:
    what: str                  # 'interface vm1 (port veth1 on br0, network net1)'
    where: Tuple[Where, ...]   # the keys of that object the flow comes from

    def __str__(self) -> str:
        first, *rest = self.where
        return '  '.join([self.what, str(first)] + [f':{w.line} {w.path}' for w in rest])

    @property
    def paths(self) -> Tuple[str, ...]:
        return tuple(w.path for w in self.where)


class Origins:
    """Reads flows of one datapath back to topology objects."""

    def __init__(self, located: Located, datapath: str, ports: Dict[str, int]):
        self.located, self.topology, self.datapath = located, located.topology, datapath
        self.port_names = {number: name for name, number in ports.items()}

    def of(self, f: Flow) -> List[Origin]:
        match = dict(f.match)
        found: List[Origin] = []
        network = self._network(match.get('metadata', match.get(VNI_FIELD)))
        port_iface = self._port_interface(match.get('in_port'))
        if port_iface is not None:
            found.append(self._iface(port_iface, 'port'))
        elif 'in_port' in match and self._is_tunnel_port(match['in_port']):
            found.append(Origin(f'the tunnel port of {self.datapath}',
                                (self.located.where('datapaths', self.datapath, 'tunnel_port'),)))
        if TUNNEL_SRC_FIELD in match:
            found += self._tunnel_peer(match[TUNNEL_SRC_FIELD], 'from')
        if network is not None:
            found.append(self._network_origin(network, 'vni' if VNI_FIELD in match else None))
        found += self._by_table(f, match, network, port_iface)
        for action in f.actions:
            if isinstance(action, SetField) and action.field == TUNNEL_DST_FIELD:
                found += self._tunnel_peer(action.value, 'to')
        return _unique(found)

    # -- per stage ------------------------------------------------------------
    def _by_table(self, f: Flow, match: dict, network: Optional[Network],
                  port_iface: Optional[Interface]) -> List[Origin]:
        if f.table == tables.CLASSIFIER and port_iface is not None and 'eth_src' in match:
            return [self._iface(port_iface, 'mac')]
        if f.table == tables.PORT_SECURITY:
            return self._port_security(match, port_iface)
        if f.table == tables.SERVICES:
            return self._services(match, network)
        if f.table == tables.L3 and network is not None:
            return self._l3(f, match, network)
        if f.table == tables.NEXTHOP and network is not None and tables.NEXT_HOP_REG in match:
            hop = ipaddress.IPv4Address(match[tables.NEXT_HOP_REG])
            return [self._iface(i, 'ipv4') for i in self._with_ipv4(network.name, hop)]
        if f.table in NAT_TABLES:
            return [Origin(what, (where,)) for what, where in nat_origins(self.located, f)]
        if f.table in SG_TABLES:
            port = self._port_interface(match.get(tables.SG_PORT_REG))
            rules = [Origin(what, (where,)) for what, where in sg_origins(self.located, f)]
            return ([self._iface(port, 'security_groups')] if port is not None else []) + rules
        if f.table == tables.L2 and network is not None and isinstance(match.get('eth_dst'), str):
            return [self._iface(i, 'mac') for i in self.topology.interfaces_of(network.name)
                    if i.mac == match['eth_dst'] and i.mode != SIMULATED]
        return []

    def _port_security(self, match: dict, iface: Optional[Interface]) -> List[Origin]:
        if iface is None:
            return []
        if match.get('udp_dst') == 67 and match.get('udp_src') == 68:
            servers = [i for i in self.topology.interfaces_of(iface.network) if DHCP in i.services]
            return [self._iface(s, 'services', 'DHCP service') for s in servers]
        if 'ipv4_src' in match or 'arp_spa' in match:
            return [self._iface(iface, 'ipv4')]
        return []

    def _services(self, match: dict, network: Optional[Network]) -> List[Origin]:
        target = match.get('arp_tpa', match.get('ipv4_dst'))
        if network is None or not isinstance(target, str):
            return []
        address = ipaddress.IPv4Address(target)
        own = [i for i in self._with_ipv4(network.name, address) if i.mode == SIMULATED]
        if own and match.get('udp_dst') == DNS_PORT:
            return [self._iface(i, 'services', 'dns service') for i in own]
        if own:
            return [self._iface(i, 'ipv4') for i in own]
        # a router answering for its interface in another network of its link
        return [self._iface(i, 'ipv4') for i in self.topology.interfaces.values()
                if ROUTER in i.services and i.ipv4 == address
                and any(r.network == network.name for link in self._links_of(i)
                        for r in routing.router_interfaces(self.topology, link))]

    def _l3(self, f: Flow, match: dict, network: Network) -> List[Origin]:
        ingress = routing.router_by_mac(self.topology, network.name, str(match.get('eth_dst')))
        if ingress is None:
            return []
        if 'nw_ttl' in match:
            return [self._iface(ingress, None, 'router interface (TTL expires here)')]
        out_mac = next((a.value for a in f.actions if isinstance(a, SetField) and a.field == 'eth_src'),
                       None)
        prefix = match.get('ipv4_dst')
        for link in self._links_of(ingress):
            for entry in routing.link_routes(self.topology, link):
                if entry.out.mac == out_mac and _same_prefix(entry.prefix, prefix):
                    return [self._route(link, entry)]
        return []

    # -- objects -------------------------------------------------------------
    def _route(self, link: str, entry: routing.RouteEntry) -> Origin:
        explicit = [r for r in self.topology.route_links[link].routes
                    if r.interface == entry.out.name and r.ipv4 == entry.prefix]
        what = f'route {entry.prefix} of route link {link} via {entry.out.name}'
        if entry.gateway is not None:
            what += f', gateway {entry.gateway}'
        if explicit:
            return Origin(what, (self.located.where_route(link, entry.out.name),))
        return Origin(what + f' (network {entry.out.network})',
                      (self.located.where('networks', entry.out.network, 'ipv4'),))

    def _iface(self, iface: Interface, key: Optional[str], role: Optional[str] = None) -> Origin:
        where = f'port {iface.port} on {iface.datapath}' if iface.port else iface.mode
        what = f'{role or "interface"} {iface.name} ({where}, network {iface.network})'
        return Origin(what, (self.located.where('interfaces', iface.name, key),))

    def _network_origin(self, network: Network, key: Optional[str]) -> Origin:
        return Origin(f'network {network.name} ({network.ipv4}, VNI {network.vni})',
                      (self.located.where('networks', network.name, key),))

    def _tunnel_peer(self, address, direction: str) -> List[Origin]:
        return [Origin(f'tunnel {direction} datapath {dp.name} ({dp.tunnel_ip})',
                       (self.located.where('datapaths', dp.name, 'tunnel_ip'),))
                for dp in self.topology.datapaths.values() if str(dp.tunnel_ip) == str(address)]

    # -- lookups -------------------------------------------------------------
    def _network(self, value) -> Optional[Network]:
        if value is None:
            return None
        vni = value[0] if isinstance(value, tuple) else value
        return self.topology.network_by_vni(int(vni) & tables.NETWORK_MASK)

    def _port_interface(self, number) -> Optional[Interface]:
        name = self.port_names.get(number) if number is not None else None
        return self.topology.ports_on(self.datapath).get(name) if name is not None else None

    def _is_tunnel_port(self, number) -> bool:
        conf = self.topology.datapaths.get(self.datapath)
        return conf is not None and self.port_names.get(number) == conf.tunnel_port

    def _with_ipv4(self, network: str, address) -> List[Interface]:
        return [i for i in self.topology.interfaces_of(network) if i.ipv4 == address]

    def _links_of(self, iface: Interface) -> List[str]:
        return [link for link, r in routing.links_of_network(self.topology, iface.network).items()
                if r == iface]


def _same_prefix(prefix: ipaddress.IPv4Network, matched) -> bool:
    if matched is None:
        return prefix.prefixlen == 0
    address, mask = matched
    return prefix == ipaddress.IPv4Network(f'{address}/{mask}')


def _unique(found: List[Origin]) -> List[Origin]:
    """One line per object, with every key of it that the flow comes from."""
    merged: Dict[str, List[Where]] = {}
    for o in found:
        wheres = merged.setdefault(o.what, [])
        wheres += [w for w in o.where if w not in wheres]
    return [Origin(what, tuple(wheres)) for what, wheres in merged.items()]
