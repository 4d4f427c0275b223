"""The dns service's punt, in table SERVICES.

A UDP query to port 53 of a network's dns interface, from that network,
goes to the controller (controller.services.dns) through the network's own
DNS meter: a flood of queries in one network spends that network's budget
only, and what reaches the controller is capped by the switch.  Through a
packet-in the budget is DNS_RATE_PPS; through the bridge's service port
(controller.pipeline.service_port), which costs the switch no more than
forwarding to a DNS server does, it is DNS_SERVICE_PORT_RATE_PPS: above
what the socket's thread answers, so honest load never meets it, and a
flood is cut at the switch and then by the socket's bounded queue.  The punt
sits on every datapath where the network has ports, so a query is answered
from the datapath where it enters: like DHCP, it never crosses a tunnel.
Queries from other networks (routed to the dns address) are not answered.
"""
from controller.packets.constants import DNS_PORT, ETH_TYPE_IP, IP_PROTO_UDP
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import OFPP_CONTROLLER, Meter, flow
from controller.pipeline.punt import Reason
from controller.pipeline.service_port import punt
from controller.topology import DNS

DNS_METER_BASE = 0xf3000000        # | the network's VNI
# dig and resolvers send one or two packets per lookup; this covers a
# network's worth of busy clients while a flood cannot take the controller.
DNS_RATE_PPS, DNS_BURST = 2000, 1000
# dnsmasq answers 30-80k queries/s here; the service port's thread about as many
DNS_SERVICE_PORT_RATE_PPS, DNS_SERVICE_PORT_BURST = 100_000, 20_000
QUERY_PRIORITY = 110               # above the ARP/ICMP answers (which are not UDP anyway)


def dns_meter(vni: int) -> int:
    return DNS_METER_BASE | vni


def dns_servers(view: DatapathView):
    """(network, its dns interface) for the networks with ports here."""
    for name in view.local_networks:
        for sim in view.simulated_in(name):
            if DNS in sim.services:
                yield name, sim
                break


def dns_flows(view: DatapathView):
    for network, server in dns_servers(view):
        vni = view.vni(network)
        yield flow(tables.SERVICES, QUERY_PRIORITY, punt(Reason.DNS_QUERY, view.punt_target),
                   meter=dns_meter(vni), metadata=vni, eth_type=ETH_TYPE_IP,
                   ipv4_dst=str(server.ipv4), ip_proto=IP_PROTO_UDP, udp_dst=DNS_PORT)


def dns_meters(view: DatapathView):
    rate, burst = dns_budget(view.punt_target)
    for network, _ in dns_servers(view):
        yield Meter(dns_meter(view.vni(network)), rate, burst)


def dns_budget(target: int):
    """(packets/s, burst) of a network's DNS meter, punting to `target`."""
    if target == OFPP_CONTROLLER:
        return DNS_RATE_PPS, DNS_BURST
    return DNS_SERVICE_PORT_RATE_PPS, DNS_SERVICE_PORT_BURST
