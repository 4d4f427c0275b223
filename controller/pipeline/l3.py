"""Tables L3 and NEXTHOP: route links, routed in the datapath.

L3: a packet sent to router interface A's MAC, from A's network, whose
destination falls in a route of A's link (longest prefix first: priority
grows with prefix length) leaves through that route's interface B: source
MAC <- B's MAC, TTL - 1, reg0 <- next hop (the destination itself, or the
route's gateway), metadata <- B's network.  TTL <= 1 goes to the controller
instead (through a meter), which answers ICMP time exceeded from A.

NEXTHOP: (network, reg0) -> destination MAC, for every addressed interface
of the network.  On a physical network an address the topology does not
know goes to the controller (metered), which resolves it by ARP from the
router interface and installs an idle-expiring flow of its own.
"""

from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import (
    ARP_REPLY,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    OFPP_CONTROLLER,
    DecTtl,
    Flow,
    Meter,
    Move,
    Output,
    SetField,
    flow,
)
from controller.pipeline.services import icmp_echo_responder
from controller.topology import PHYSICAL, SIMULATED, routing

TTL_METER, RESOLVE_METER = 0xfffe0001, 0xfffe0002   # out of the port-number range
PUNT_RATE_PPS, PUNT_BURST = 20, 20
TO_CONTROLLER = (Output(OFPP_CONTROLLER),)
ROUTE_BASE_PRIORITY, TTL_PRIORITY = 100, 2000
LEARNED_PRIORITY = 50


def local_links(view: DatapathView):
    """Route links with a router interface in a network that has ports here."""
    local = view.local_networks
    return sorted(name for name in view.topology.route_links
                  if any(i.network in local
                         for i in routing.router_interfaces(view.topology, name)))


def l3_flows(view: DatapathView):
    yield flow(tables.L3, 0, goto=tables.L2)
    local = view.local_networks
    for link in local_links(view):
        for ingress in routing.router_interfaces(view.topology, link):
            if ingress.network in local:
                yield from _routes_from(view, link, ingress)


def _routes_from(view, link, ingress):
    vni = view.vni(ingress.network)
    at_router = dict(metadata=vni, eth_dst=ingress.mac, eth_type=ETH_TYPE_IP)
    for ttl in (0, 1):
        yield flow(tables.L3, TTL_PRIORITY, TO_CONTROLLER, meter=TTL_METER, nw_ttl=ttl, **at_router)
    for entry in routing.link_routes(view.topology, link):
        if entry.out == ingress:
            continue
        if entry.gateway is not None:
            hop = SetField(tables.NEXT_HOP_REG, int(entry.gateway))
        else:
            hop = Move('ipv4_dst', tables.NEXT_HOP_REG, 32)
        prefix = {}
        if entry.prefix.prefixlen:
            prefix['ipv4_dst'] = (str(entry.prefix.network_address), str(entry.prefix.netmask))
        yield flow(tables.L3, ROUTE_BASE_PRIORITY + entry.prefix.prefixlen,
                   (SetField('eth_src', entry.out.mac), DecTtl(), hop),
                   write_metadata=(view.vni(entry.out.network), tables.NETWORK_MASK),
                   goto=tables.NEXTHOP, **at_router, **prefix)


def learned_next_hop(vni: int, ip, mac: str) -> Flow:
    """A next hop resolved by ARP (installed by the controller, outside the
    desired state), below the topology's own next hops."""
    return flow(tables.NEXTHOP, LEARNED_PRIORITY, (SetField('eth_dst', mac),), goto=tables.L2,
                metadata=vni, **{tables.NEXT_HOP_REG: int(ip)})


def nexthop_flows(view: DatapathView):
    yield flow(tables.NEXTHOP, 0)
    for network in _routed_networks(view):
        vni = view.vni(network)
        for iface in view.topology.interfaces_of(network):
            if iface.mode != SIMULATED and iface.ipv4 is not None:
                yield flow(tables.NEXTHOP, 100, (SetField('eth_dst', iface.mac),),
                           goto=tables.L2, metadata=vni,
                           **{tables.NEXT_HOP_REG: int(iface.ipv4)})
        if view.topology.networks[network].mode == PHYSICAL:
            yield flow(tables.NEXTHOP, 1, TO_CONTROLLER, meter=RESOLVE_METER, metadata=vni)


def router_services_flows(view: DatapathView):
    """Routers answer ping on all their interfaces; ARP replies to them are learned."""
    local = view.local_networks
    for link in local_links(view):
        routers = routing.router_interfaces(view.topology, link)
        for ingress in routers:
            if ingress.network not in local:
                continue
            vni = view.vni(ingress.network)
            for other in routers:
                if other != ingress:
                    yield icmp_echo_responder(vni, ingress.mac, str(other.ipv4))
            if view.topology.networks[ingress.network].mode == PHYSICAL:
                yield flow(tables.SERVICES, 100, TO_CONTROLLER, meter=RESOLVE_METER, metadata=vni,
                           eth_type=ETH_TYPE_ARP, arp_op=ARP_REPLY, arp_tpa=str(ingress.ipv4))


def l3_meters(view: DatapathView):
    if local_links(view):
        yield Meter(TTL_METER, PUNT_RATE_PPS, PUNT_BURST)
        if any(view.topology.networks[n].mode == PHYSICAL for n in _routed_networks(view)):
            yield Meter(RESOLVE_METER, PUNT_RATE_PPS, PUNT_BURST)


def _routed_networks(view):
    local = view.local_networks
    names = set()
    for link in local_links(view):
        names.update(i.network for i in routing.router_interfaces(view.topology, link))
    return sorted(n for n in names if n in local)
