"""Table PORT_SECURITY: a vif speaks only with its own addresses.

Reached only from vif ports, whose source MAC the classifier already
checked.  Here:
  * DHCP client requests (UDP 68->67) go to the controller through a meter of
    their own per port, so a DISCOVER flood from one port cannot starve the
    others; in a network without a DHCP service they continue like any frame.
  * DHCP server traffic from a vif is dropped: anything from UDP port 67, and
    anything to UDP port 68 whatever its source port (a rogue server need
    not answer from 67: udhcpc does not check).
  * IPv4 must come from the interface's ipv4; ARP must claim the interface's
    MAC and ipv4 (or 0.0.0.0, an address probe).  Everything else IPv4/ARP
    is dropped.  IPv6 continues on its source MAC alone (link-local traffic
    within the network); every other ethertype is dropped.  VLAN-tagged
    frames never get here: the classifier takes only untagged ones.
An interface without an ipv4 gets the DHCP rules but no address checks.
"""
from typing import Optional

from controller.packets.constants import (
    DHCP_CLIENT_PORT,
    DHCP_SERVER_PORT,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    ETH_TYPE_IPV6,
    IP_PROTO_UDP,
)
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import Meter, flow
from controller.pipeline.punt import Reason
from controller.pipeline.service_port import punt
from controller.topology import VIF

# A client needs 2 packets per lease; this leaves room for retries and a
# whole VM fleet booting at once, while a flood from one port is capped.
DHCP_RATE_PPS, DHCP_BURST = 50, 100
NEXT = tables.SERVICES


def dhcp_meter_id(ofport: int) -> int:
    return ofport


def port_security_flows(view: DatapathView):
    yield flow(tables.PORT_SECURITY, 0, drop=Drop.OTHER_ETHERTYPE)


def port_security_port_flows(iface, ofport: int, dhcp_target: Optional[int]):
    """dhcp_target: where DHCP requests go (the controller or the service
    port; controller.pipeline.service_port), None where there is no DHCP."""
    if iface.mode == VIF:
        yield from _dhcp_flows(iface, ofport, dhcp_target)
        yield from _address_flows(iface, ofport)


def port_security_meters(view: DatapathView):
    dhcp, interfaces = view.dhcp_networks, view.topology.interfaces
    for name, ofport in view.local.items():
        meter = port_meter(interfaces[name], ofport, interfaces[name].network in dhcp)
        if meter is not None:
            yield meter


def port_meter(iface, ofport: int, has_dhcp: bool) -> Optional[Meter]:
    """A vif's budget of DHCP requests (none where its network has no DHCP)."""
    if iface.mode == VIF and has_dhcp:
        return Meter(dhcp_meter_id(ofport), DHCP_RATE_PPS, DHCP_BURST)
    return None


def has_dhcp(view, network) -> bool:
    return network in view.dhcp_networks


def _dhcp_flows(iface, ofport, dhcp_target: Optional[int]):
    t, p = tables.PORT_SECURITY, ofport
    udp = dict(in_port=p, eth_type=ETH_TYPE_IP, ip_proto=IP_PROTO_UDP)
    yield flow(t, 110, drop=Drop.ROGUE_DHCP, udp_src=DHCP_SERVER_PORT, **udp)
    yield flow(t, 110, drop=Drop.ROGUE_DHCP, udp_dst=DHCP_CLIENT_PORT, **udp)   # any source port
    request = dict(in_port=p, eth_type=ETH_TYPE_IP, ip_proto=IP_PROTO_UDP,
                   udp_src=DHCP_CLIENT_PORT, udp_dst=DHCP_SERVER_PORT)
    if dhcp_target is not None:
        yield flow(t, 120, punt(Reason.DHCP_REQUEST, dhcp_target, p), meter=dhcp_meter_id(p), **request)
    else:
        yield flow(t, 120, goto=NEXT, **request)


def _address_flows(iface, ofport):
    t, p = tables.PORT_SECURITY, ofport
    ip_next = tables.SG_EGRESS if iface.security_groups else NEXT    # IP of a vif in groups: filtered
    yield flow(t, 10, in_port=p, eth_type=ETH_TYPE_IPV6, goto=ip_next)
    if iface.ipv4 is None:
        yield flow(t, 10, in_port=p, eth_type=ETH_TYPE_IP, goto=ip_next)
        yield flow(t, 10, in_port=p, eth_type=ETH_TYPE_ARP, goto=NEXT)
        return
    ip = str(iface.ipv4)
    yield flow(t, 100, in_port=p, eth_type=ETH_TYPE_IP, ipv4_src=ip, goto=ip_next)
    for spa in (ip, '0.0.0.0'):
        yield flow(t, 100, in_port=p, eth_type=ETH_TYPE_ARP, arp_spa=spa, arp_sha=iface.mac, goto=NEXT)
    yield flow(t, 50, drop=Drop.SPOOFED_IPV4, in_port=p, eth_type=ETH_TYPE_IP)
    yield flow(t, 50, drop=Drop.SPOOFED_ARP, in_port=p, eth_type=ETH_TYPE_ARP)
    # other ethertypes: the table's last flow (OTHER_ETHERTYPE)
