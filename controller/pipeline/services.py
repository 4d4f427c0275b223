"""Table SERVICES: answers built in the datapath, without the controller.

Requests for a simulated interface's address, from its own network, are
turned into their reply in place (OVN's responder trick) and sent back out of
the port they came from, so they keep working while the controller is down.
A router answers ping on all its interfaces, from every network its link
routes for.

ARP:  eth.dst <- eth.src; eth.src <- MAC; arp.op <- 2 (reply);
      arp.tha <- arp.sha; arp.tpa <- arp.spa; arp.sha <- MAC; arp.spa <- IP
ICMP: eth.dst <- eth.src; eth.src <- MAC; ip.dst <- ip.src; ip.src <- IP;
      icmp.type <- 0 (echo reply; OVS fixes the checksums)
both: output IN_PORT

ARP replies to a router interface on a physical network, from the LAN
(a host port), go to the controller through the network's own meter: they
answer the router's requests for next hops.
"""
from controller.packets.constants import (
    ARP_REPLY,
    ARP_REQUEST,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    IP_PROTO_ICMP,
)
from controller.pipeline import nat, tables
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import OFPP_IN_PORT, Move, Output, SetField, flow
from controller.pipeline.nexthop import resolve_meter
from controller.pipeline.punt import Reason, to_controller
from controller.topology import HOST, PHYSICAL, routing

ANSWER_PRIORITY = 100


def services_flows(view: DatapathView):
    yield flow(tables.SERVICES, 0, goto=nat.services_goto(view))
    for vni, mac, outside in nat.outside_arp(view):     # NAT: the router answers for outside addresses
        yield arp_responder(vni, mac, outside)
    for net_name, net in view.local_networks.items():
        for sim in view.simulated_in(net_name):
            yield arp_responder(net.vni, sim.mac, str(sim.ipv4))
            yield icmp_echo_responder(net.vni, sim.mac, str(sim.ipv4))


def router_services_flows(view: DatapathView):
    local = view.local_networks
    for link in view.local_links:
        routers = routing.router_interfaces(view.topology, link)
        for ingress in routers:
            if ingress.network not in local:
                continue
            vni = view.vni(ingress.network)
            for other in routers:
                if other != ingress:      # to ingress's MAC: two links may share a network
                    yield icmp_echo_responder(vni, ingress.mac, str(other.ipv4), to_mac=ingress.mac)
            for host_port in _host_ports(view, ingress.network):
                # only the LAN answers the router's ARP requests: a VM's ARP
                # replies never reach the controller or spend the budget
                yield flow(tables.SERVICES, ANSWER_PRIORITY, to_controller(Reason.ARP_REPLY_TO_ROUTER),
                           meter=resolve_meter(vni), in_port=host_port, metadata=vni,
                           eth_type=ETH_TYPE_ARP, arp_op=ARP_REPLY, arp_tpa=str(ingress.ipv4))


def _host_ports(view: DatapathView, network: str):
    if view.topology.networks[network].mode != PHYSICAL:
        return []
    return sorted(ofport for name, ofport in view.local.items()
                  if view.interface(name).mode == HOST and view.interface(name).network == network)


def arp_responder(vni: int, mac: str, ip: str):
    actions = (
        Move('eth_src', 'eth_dst', 48),
        SetField('eth_src', mac),
        SetField('arp_op', ARP_REPLY),
        Move('arp_sha', 'arp_tha', 48),
        Move('arp_spa', 'arp_tpa', 32),
        SetField('arp_sha', mac),
        SetField('arp_spa', ip),
        Output(OFPP_IN_PORT),
    )
    return flow(tables.SERVICES, ANSWER_PRIORITY, actions, metadata=vni, eth_type=ETH_TYPE_ARP,
                arp_op=ARP_REQUEST, arp_tpa=ip)


def icmp_echo_responder(vni: int, mac: str, ip: str, to_mac=None):
    actions = (
        Move('eth_src', 'eth_dst', 48),
        SetField('eth_src', mac),
        Move('ipv4_src', 'ipv4_dst', 32),
        SetField('ipv4_src', ip),
        SetField('icmpv4_type', ICMP_ECHO_REPLY),
        Output(OFPP_IN_PORT),
    )
    at = {} if to_mac is None else {'eth_dst': to_mac}
    return flow(tables.SERVICES, ANSWER_PRIORITY, actions, metadata=vni, eth_type=ETH_TYPE_IP,
                ipv4_dst=ip, ip_proto=IP_PROTO_ICMP, icmpv4_type=ICMP_ECHO_REQUEST, **at)
