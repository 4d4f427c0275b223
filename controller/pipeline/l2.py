"""Table L2: deliver within a network by destination MAC.

Every MAC is known from the topology, so there is no learning and unknown
unicast is dropped, except on physical networks, where it leaves through
the host port (the LAN holds machines the topology does not list).

A destination on another datapath is reached through the tunnel: the
network's VNI as the key, that datapath's tunnel_ip as the destination.

Broadcast and multicast go to the network's flood group, whose buckets are
that network's ports here plus one copy to each other datapath with ports
in the network, and no other: a frame can never be flooded into another
network, even one with the same addresses.  The group id is the network's
VNI, stable across edits.  A frame that came from the tunnel is delivered
here only (split horizon), and never out of a host port: the LAN got it
from the uplink where it entered.
"""
from typing import Dict, List, Tuple

from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import Action, Group, Output, SetField, ToGroup, flow
from controller.pipeline.tunnel import to_datapath
from controller.topology import HOST

MULTICAST_BIT = ('01:00:00:00:00:00', '01:00:00:00:00:00')
UNICAST_PRIORITY, FROM_TUNNEL_FLOOD_PRIORITY, FLOOD_PRIORITY = 100, 60, 50
FROM_TUNNEL_TO_LAN_PRIORITY, TO_LAN_PRIORITY = 11, 10


def l2_flows(view: DatapathView):
    yield flow(tables.L2, 0, drop=Drop.UNKNOWN_DESTINATION)       # unknown unicast
    for net in view.local_networks.values():
        yield flow(tables.L2, FLOOD_PRIORITY, (ToGroup(net.vni),), metadata=net.vni,
                   eth_dst=MULTICAST_BIT)
    yield from _remote_flows(view)
    yield from _from_tunnel_flood_flows(view)


def l2_port_flows(iface, ofport: int, vni: int):
    if iface.security_groups:       # filtered by its groups on the way (controller.pipeline.acl)
        yield flow(tables.L2, UNICAST_PRIORITY, (SetField(tables.SG_PORT_REG, ofport),),
                   goto=tables.SG_INGRESS, metadata=vni, eth_dst=iface.mac)
        return
    yield flow(tables.L2, UNICAST_PRIORITY, (Output(ofport),), metadata=vni, eth_dst=iface.mac)


def _remote_flows(view: DatapathView):
    """Unicast to interfaces on other datapaths: into the tunnel."""
    port = view.tunnel_port
    if port is None:
        return
    for network in view.delivered_networks:
        vni = view.vni(network)
        for iface in view.remote_interfaces(network):
            yield flow(tables.L2, UNICAST_PRIORITY,
                       to_datapath(vni, view.tunnel_ip_of(iface.datapath), port),
                       metadata=vni, eth_dst=iface.mac)


def _from_tunnel_flood_flows(view: DatapathView):
    """Broadcast from the tunnel: this datapath's ports of the network only."""
    if view.tunnel_port is None or not view.needs_tunnel:
        return
    ports = _local_ports(view, include_hosts=False)
    for name, net in view.local_networks.items():
        if view.senders_to(name):
            outputs = tuple(Output(p) for p in ports.get(name, ()))
            yield flow(tables.L2, FROM_TUNNEL_FLOOD_PRIORITY, outputs, metadata=net.vni,
                       drop=None if outputs else Drop.SPLIT_HORIZON,      # only uplinks here
                       eth_dst=MULTICAST_BIT, **{tables.FROM_TUNNEL_REG: 1})


def host_port_flows(view: DatapathView):
    """Physical networks: frames for MACs the topology does not know go to
    the LAN, except frames from the tunnel (their own uplink served them)."""
    hosts: Dict[str, int] = {}
    for name, ofport in sorted(view.local.items()):
        iface = view.interface(name)
        if iface.mode == HOST:
            hosts.setdefault(iface.network, ofport)
    for network, ofport in sorted(hosts.items()):
        vni = view.vni(network)
        yield flow(tables.L2, TO_LAN_PRIORITY, (Output(ofport),), metadata=vni)
        if view.tunnel_port is not None and view.senders_to(network):
            yield flow(tables.L2, FROM_TUNNEL_TO_LAN_PRIORITY, metadata=vni,
                       drop=Drop.SPLIT_HORIZON, **{tables.FROM_TUNNEL_REG: 1})


def flood_groups(view: DatapathView):
    port = view.tunnel_port
    for net_name, ports in sorted(_local_ports(view, include_hosts=True).items()):
        vni = view.vni(net_name)
        buckets: List[Tuple[Action, ...]] = [(Output(p),) for p in ports]
        if port is not None:
            buckets += [to_datapath(vni, view.tunnel_ip_of(dp), port) for dp in view.peers_of(net_name)]
        yield Group(vni, tuple(buckets))


def _local_ports(view: DatapathView, include_hosts: bool):
    """Network name -> sorted port numbers of its interfaces plugged in here."""
    found: dict = {}
    for name, ofport in view.local.items():
        iface = view.interface(name)
        if include_hosts or iface.mode != HOST:
            found.setdefault(iface.network, []).append(ofport)
    return {network: sorted(ports) for network, ports in found.items()}
