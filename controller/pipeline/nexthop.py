"""Table NEXTHOP: (outgoing network, next-hop address in reg0) -> destination MAC.

Every addressed interface of a routed network is a next hop the topology
knows.  On a physical network an address the topology does not know goes
to the controller (metered), which resolves it by ARP from the router
interface (controller.services.nexthop) and installs `learned_next_hop`,
an idle-expiring flow outside the desired state.
"""
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import Flow, Meter, SetField, flow
from controller.pipeline.punt import Reason, to_controller
from controller.topology import PHYSICAL, SIMULATED

RESOLVE_METER_BASE = 0xf2000000    # | the network's VNI: one budget per physical network
RESOLVE_RATE_PPS, RESOLVE_BURST = 20, 20
KNOWN_PRIORITY, LEARNED_PRIORITY, UNKNOWN_PRIORITY = 100, 50, 1
LEARNED_IDLE_SECONDS = 300         # a learned next hop unused this long expires in the switch


def nexthop_flows(view: DatapathView):
    yield flow(tables.NEXTHOP, 0, drop=Drop.UNKNOWN_NEXT_HOP)
    for network in view.routed_networks:
        vni = view.vni(network)
        for iface in view.topology.interfaces_of(network):
            if iface.mode != SIMULATED and iface.ipv4 is not None:
                yield flow(tables.NEXTHOP, KNOWN_PRIORITY, (SetField('eth_dst', iface.mac),),
                           goto=tables.L2, metadata=vni, **{tables.NEXT_HOP_REG: int(iface.ipv4)})
        if view.topology.networks[network].mode == PHYSICAL:
            yield flow(tables.NEXTHOP, UNKNOWN_PRIORITY, to_controller(Reason.NEXT_HOP_UNKNOWN),
                       meter=resolve_meter(vni), metadata=vni)


def learned_next_hop(vni: int, ip, mac: str) -> Flow:
    """A next hop resolved by ARP, below the topology's own next hops."""
    return flow(tables.NEXTHOP, LEARNED_PRIORITY, (SetField('eth_dst', mac),), goto=tables.L2,
                metadata=vni, **{tables.NEXT_HOP_REG: int(ip)})


def resolve_meter(vni: int) -> int:
    """The budget of one physical network for next-hop punts (unknown next
    hops, and the ARP replies that answer them): a flood in one network
    cannot stop resolution in another."""
    return RESOLVE_METER_BASE | vni


def nexthop_meters(view: DatapathView):
    for network in view.routed_networks:
        if view.topology.networks[network].mode == PHYSICAL:
            yield Meter(resolve_meter(view.vni(network)), RESOLVE_RATE_PPS, RESOLVE_BURST)
