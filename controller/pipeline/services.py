"""Table SERVICES: answers built in the datapath, without the controller.

Requests for a simulated interface's address, from its own network, are
turned into their reply in place (OVN's responder trick) and sent back out of
the port they came from, so they keep working while the controller is down.

ARP:  eth.dst <- eth.src; eth.src <- MAC; arp.op <- 2 (reply);
      arp.tha <- arp.sha; arp.tpa <- arp.spa; arp.sha <- MAC; arp.spa <- IP
ICMP: eth.dst <- eth.src; eth.src <- MAC; ip.dst <- ip.src; ip.src <- IP;
      icmp.type <- 0 (echo reply; OVS fixes the checksums)
both: output IN_PORT
"""
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import (
    ARP_REPLY,
    ARP_REQUEST,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    IP_PROTO_ICMP,
    OFPP_IN_PORT,
    Move,
    Output,
    SetField,
    flow,
)

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0


def services_flows(view: DatapathView):
    yield flow(tables.SERVICES, 0, goto=tables.L3)
    for net_name, net in view.local_networks.items():
        for sim in view.simulated_in(net_name):
            yield arp_responder(net.vni, sim.mac, str(sim.ipv4))
            yield icmp_echo_responder(net.vni, sim.mac, str(sim.ipv4))


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
    return flow(tables.SERVICES, 100, actions, metadata=vni, eth_type=ETH_TYPE_ARP,
                arp_op=ARP_REQUEST, arp_tpa=ip)


def icmp_echo_responder(vni: int, mac: str, ip: str):
    actions = (
        Move('eth_src', 'eth_dst', 48),
        SetField('eth_src', mac),
        Move('ipv4_src', 'ipv4_dst', 32),
        SetField('ipv4_src', ip),
        SetField('icmpv4_type', ICMP_ECHO_REPLY),
        Output(OFPP_IN_PORT),
    )
    return flow(tables.SERVICES, 100, actions, metadata=vni, eth_type=ETH_TYPE_IP,
                ipv4_dst=ip, ip_proto=IP_PROTO_ICMP, icmpv4_type=ICMP_ECHO_REQUEST)
