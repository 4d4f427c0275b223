"""Table L3: route links, routed in the datapath.

A packet sent to router interface A's MAC, from A's network, whose
destination falls in a route of A's link (longest prefix first: priority
grows with prefix length) leaves through that route's interface B: source
MAC <- B's MAC, TTL - 1, reg0 <- next hop (the destination itself, or the
route's gateway), metadata <- B's network.  TTL <= 1 goes to the controller
instead (through the ingress network's own meter, so a flood from one
network leaves the others their replies), and the controller answers ICMP
time exceeded from A.
An IPv4 packet to a router interface's MAC that no route covers is
dropped (NO_ROUTE).  Everything else continues to L2 unchanged.
"""
from controller.packets.constants import ETH_TYPE_IP
from controller.pipeline import nat, tables
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import DecTtl, Meter, Move, SetField, flow
from controller.pipeline.punt import Reason, to_controller
from controller.topology import routing

TTL_METER_BASE = 0xf1000000        # | the ingress network's VNI: one budget per network
PUNT_RATE_PPS, PUNT_BURST = 20, 20
ROUTE_BASE_PRIORITY, TTL_PRIORITY, NO_ROUTE_PRIORITY = 100, 2000, 1


def l3_flows(view: DatapathView):
    yield flow(tables.L3, 0, goto=tables.L2)
    local = view.local_networks
    for link in view.local_links:
        for ingress in routing.router_interfaces(view.topology, link):
            if ingress.network in local:
                yield from _routes_from(view, link, ingress)


def _routes_from(view, link, ingress):
    vni = view.vni(ingress.network)
    at_router = dict(metadata=vni, eth_dst=ingress.mac, eth_type=ETH_TYPE_IP)
    for ttl in (0, 1):
        yield flow(tables.L3, TTL_PRIORITY, to_controller(Reason.TTL_EXPIRED), meter=ttl_meter(vni),
                   drop=Drop.TTL_EXPIRED, nw_ttl=ttl, **at_router)
    yield flow(tables.L3, NO_ROUTE_PRIORITY, drop=Drop.NO_ROUTE, **at_router)
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
                   goto=nat.routed_goto(view, link, entry.out), **at_router, **prefix)


def ttl_meter(vni: int) -> int:
    return TTL_METER_BASE | vni


def l3_meters(view: DatapathView):
    local = view.local_networks
    ingress = {i.network for link in view.local_links
               for i in routing.router_interfaces(view.topology, link) if i.network in local}
    for network in sorted(ingress):
        yield Meter(ttl_meter(view.vni(network)), PUNT_RATE_PPS, PUNT_BURST)
