"""Table L2: deliver within a network by destination MAC.

Every MAC is known from the topology, so there is no learning and unknown
unicast is dropped, except on physical networks, where it leaves through
the host port (the LAN holds machines the topology does not list).
Broadcast and multicast go to the network's flood group, whose buckets are
that network's ports on this datapath only: a frame can never be flooded
into another network, even one with the same addresses.
The group id is the network's VNI, stable across edits.
"""
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import Group, Output, ToGroup, flow
from controller.topology import HOST

MULTICAST_BIT = ('01:00:00:00:00:00', '01:00:00:00:00:00')


def l2_flows(view: DatapathView):
    yield flow(tables.L2, 0)                               # unknown unicast: drop
    for net in view.local_networks.values():
        yield flow(tables.L2, 50, (ToGroup(net.vni),), metadata=net.vni, eth_dst=MULTICAST_BIT)


def l2_port_flows(iface, ofport: int, vni: int):
    yield flow(tables.L2, 100, (Output(ofport),), metadata=vni, eth_dst=iface.mac)


def host_port_flows(view: DatapathView):
    """Physical networks: frames for MACs the topology does not know go to the LAN."""
    hosts = {}
    for name, ofport in sorted(view.local.items()):
        iface = view.interface(name)
        if iface.mode == HOST:
            hosts.setdefault(iface.network, ofport)
    for network, ofport in sorted(hosts.items()):
        yield flow(tables.L2, 10, (Output(ofport),), metadata=view.vni(network))


def flood_groups(view: DatapathView):
    ports_by_net = {}
    for name, ofport in view.local.items():
        ports_by_net.setdefault(view.interface(name).network, []).append(ofport)
    for net_name, ports in sorted(ports_by_net.items()):
        yield Group(view.vni(net_name), tuple((Output(p),) for p in sorted(ports)))
