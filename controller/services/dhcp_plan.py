"""What the simulated DHCP server of one network hands out, precomputed.

Everything that does not depend on the request: the server, the clients by
MAC, the router (option 3), the RFC 3442 routes (option 121) and the
encoded options.  `NetworkPlans` builds them lazily for one topology; the
DHCP service keeps one and replaces it when the topology changes.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from controller.packets import dhcp as p
from controller.topology import DHCP, DNS, ROUTER, SIMULATED, Interface, Topology

UINT32 = 0xffffffff



@dataclass(frozen=True)
class NetworkPlan:
    """What the DHCP server of one network hands out, precomputed."""
    network: str
    server: Optional[Interface]
    clients: Dict[str, Interface]        # chaddr -> vif/host interface
    simulated_macs: frozenset
    router: Optional[Interface]          # option 3
    netmask: ipaddress.IPv4Address
    broadcast: ipaddress.IPv4Address     # the network's directed broadcast
    options: Dict[int, bytes]            # 1, 3, 6, 15, 51, 54, 58, 59, 121
    classless_routes: Tuple[Tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...]


def _routers(topology: Topology, network: str) -> List[Tuple[Interface, ipaddress.IPv4Address]]:
    """The network's router interfaces that have an address, by name, each with that address."""
    return sorted(((i, i.ipv4) for i in topology.interfaces.values()
                   if i.network == network and i.mode == SIMULATED
                   and ROUTER in i.services and i.ipv4 is not None),
                  key=lambda router: router[0].name)


def _prefixes_behind(topology: Topology, router: Interface) -> List[ipaddress.IPv4Network]:
    """Destination prefixes of the other routes on every route link that
    routes through `router`."""
    found = []
    for link in sorted(topology.route_links.values(), key=lambda rl: rl.name):
        if not any(r.interface == router.name for r in link.routes):
            continue
        for route in link.routes:
            if route.interface != router.name and route.ipv4 not in found:
                found.append(route.ipv4)
    return found


def _classless_routes(topology: Topology, network: str, own: ipaddress.IPv4Network,
                      routers: List[Tuple[Interface, ipaddress.IPv4Address]]
                      ) -> Tuple[Tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...]:
    """Option 121 content, or () when option 3 alone says everything."""
    if len(routers) < 2:
        return ()
    (default_router, default_ip), others = routers[0], routers[1:]
    default = ipaddress.IPv4Network('0.0.0.0/0')
    chosen: Dict[ipaddress.IPv4Network, ipaddress.IPv4Address] = {}
    for router, router_ip in others:
        for prefix in _prefixes_behind(topology, router):
            if prefix == default or prefix.subnet_of(own):
                continue     # the default goes to option 3's router; own prefix is on-link
            chosen.setdefault(prefix, router_ip)
    if not chosen:
        return ()
    # Prefixes behind the default router that a wider prefix above would
    # capture must be listed too, or longest-prefix match sends them astray.
    for prefix in _prefixes_behind(topology, default_router):
        if prefix == default or prefix.subnet_of(own) or prefix in chosen:
            continue
        if any(prefix.subnet_of(wider) for wider in chosen):
            chosen[prefix] = default_ip
    routes = sorted(chosen.items(), key=lambda kv: (-kv[0].prefixlen,
                                                    int(kv[0].network_address)))
    routes.append((default, default_ip))
    return tuple(routes)


def _encode_domain(name: str) -> bytes:
    try:
        return name.encode('idna')
    except UnicodeError:
        return name.encode('utf-8', 'replace')


def _build_plan(topology: Topology, network: str) -> Optional[NetworkPlan]:
    net = topology.networks.get(network)
    if net is None:
        return None
    members = sorted(topology.interfaces_of(network), key=lambda i: i.name)
    servers = [i for i in members if i.mode == SIMULATED and DHCP in i.services
               and i.ipv4 is not None]
    server = servers[0] if servers else None
    clients = {i.mac.lower(): i for i in members if i.mode != SIMULATED}
    simulated = frozenset(i.mac.lower() for i in members if i.mode == SIMULATED)
    routers = _routers(topology, network)
    router, router_ip = routers[0] if routers else (None, None)
    routes = _classless_routes(topology, network, net.ipv4, routers)
    lease = max(0, min(int(net.lease_time), UINT32))
    opts: Dict[int, bytes] = {p.OPT_SUBNET_MASK: net.ipv4.netmask.packed}
    if router_ip is not None:
        opts[p.OPT_ROUTER] = router_ip.packed
    # dns_servers when given, else the network's own dns interface
    resolvers = net.dns_servers or tuple(i.ipv4 for i in members if i.mode == SIMULATED
                                         and DNS in i.services and i.ipv4 is not None)[:1]
    if resolvers:
        opts[p.OPT_DNS] = b''.join(ipaddress.IPv4Address(d).packed for d in resolvers)
    if net.domain_name:
        opts[p.OPT_DOMAIN_NAME] = _encode_domain(net.domain_name)
    opts[p.OPT_MTU] = struct.pack('!H', net.mtu)
    opts[p.OPT_LEASE_TIME] = struct.pack('!I', lease)
    if server is not None:
        opts[p.OPT_SERVER_ID] = server.ipv4.packed
    opts[p.OPT_RENEWAL_TIME] = struct.pack('!I', lease // 2)
    opts[p.OPT_REBINDING_TIME] = struct.pack('!I', lease * 7 // 8)
    if routes:
        opts[p.OPT_CLASSLESS_ROUTES] = p.encode_classless_routes(routes)
    return NetworkPlan(network=network, server=server, clients=clients,
                       simulated_macs=simulated, router=router,
                       netmask=net.ipv4.netmask, broadcast=net.ipv4.broadcast_address,
                       options=opts, classless_routes=routes)




class NetworkPlans:
    """The plans of one (immutable) topology, each built on first use."""

    def __init__(self, topology: Topology):
        self.topology = topology
        self._plans: Dict[str, Optional[NetworkPlan]] = {}

    def get(self, network: str) -> Optional[NetworkPlan]:
        """The plan of `network`; None if the topology has no such network."""
        if network not in self._plans:
            self._plans[network] = _build_plan(self.topology, network)
        return self._plans[network]
