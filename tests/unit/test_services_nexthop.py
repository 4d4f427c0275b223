"""Next hops on physical networks: asked by ARP, learned only from answers
we are waiting for, from the LAN, naming a unicast MAC."""
import ipaddress
import logging

import pytest

from controller.packets.arp import arp_request, parse_arp
from controller.packets.constants import ARP_REPLY, ETH_TYPE_IP
from controller.packets.ethernet import ETH_HEADER, mac_to_bytes
from controller.services import build_registry
from controller.services.actions import InstallFlow, SendFrame
from controller.services.nexthop import NextHopService
from controller.services.registry import PacketIn
from tests.unit.factories import ROUTED_PORTS, routed

LAN_GW_MAC, LAN_GW_IP = '52:54:00:00:10:fe', '10.0.10.1'
GATEWAY = '10.0.10.254'
UPLINK = ROUTED_PORTS['up0']


class Switch:
    label, dpid = 'br0 (dpid 0x1)', 1

    def interface_at(self, topology, ofport):
        return None

    def host_ports(self, topology, network):
        return [UPLINK] if network == 'lan' else []


def packet(frame, in_port=UPLINK, now=100.0, network='lan'):
    topology = routed()
    return PacketIn(topology, Switch(), in_port, topology.networks[network], frame, now)


def routed_to_the_internet():
    """A packet from net2 routed into lan towards 8.8.8.8 (next hop: the gateway)."""
    ip = bytes([0x45, 0, 0, 20, 0, 0, 0, 0, 63, 17, 0, 0]) + ipaddress.IPv4Address('172.16.2.1').packed \
        + ipaddress.IPv4Address('8.8.8.8').packed
    return ETH_HEADER.pack(mac_to_bytes('ff:ff:ff:ff:ff:ff'), mac_to_bytes(LAN_GW_MAC), ETH_TYPE_IP) + ip


def arp_reply(sha, spa=GATEWAY, tha=LAN_GW_MAC, tpa=LAN_GW_IP):
    request = bytearray(arp_request(sha, spa, tpa))
    request[0:6] = mac_to_bytes(tha)
    request[14 + 6:14 + 8] = ARP_REPLY.to_bytes(2, 'big')
    request[14 + 18:14 + 24] = mac_to_bytes(tha)
    assert parse_arp(bytes(request)).op == ARP_REPLY
    return bytes(request)


def asked(service):
    out = service.resolve(packet(routed_to_the_internet(), in_port=2, network='lan'))
    assert [type(a) for a in out] == [SendFrame] and out[0].port == UPLINK
    service.last_request = out[0].frame
    return service


def test_an_unknown_next_hop_is_asked_for_by_arp_out_of_the_lan_port_with_back_off():
    service = asked(NextHopService(logging.getLogger('test')))
    request = parse_arp(service.last_request)
    assert (str(request.tpa), request.sha, str(request.spa)) == (GATEWAY, LAN_GW_MAC, LAN_GW_IP)
    assert service.resolve(packet(routed_to_the_internet(), now=100.5)) == []   # within the back-off
    assert len(service.resolve(packet(routed_to_the_internet(), now=101.1))) == 1


def test_the_answer_to_our_question_becomes_an_idle_expiring_next_hop():
    service = asked(NextHopService(logging.getLogger('test')))
    [learned] = service.learn(packet(arp_reply('52:54:00:aa:bb:cc'), now=100.2))
    assert isinstance(learned, InstallFlow) and learned.idle_timeout > 0
    assert dict(learned.flow.match)['reg0'] == int(ipaddress.IPv4Address(GATEWAY))


def test_an_unsolicited_arp_reply_is_not_learned():
    service = NextHopService(logging.getLogger('test'))
    assert service.learn(packet(arp_reply('52:54:00:aa:bb:cc'))) == []
    assert service.refused == 1


def test_an_answer_that_comes_too_late_is_not_learned():
    service = asked(NextHopService(logging.getLogger('test')))
    assert service.learn(packet(arp_reply('52:54:00:aa:bb:cc'), now=160.0)) == []


@pytest.mark.parametrize('mac', ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00'])
def test_a_broadcast_multicast_or_zero_mac_is_never_learned(mac):
    service = asked(NextHopService(logging.getLogger('test')))
    assert service.learn(packet(arp_reply(mac), now=100.1)) == []


def test_an_answer_from_a_port_that_is_not_the_lan_is_not_learned():
    service = asked(NextHopService(logging.getLogger('test')))
    assert service.learn(packet(arp_reply('52:54:00:aa:bb:cc'), in_port=2, now=100.1)) == []


def test_the_registry_dispatches_by_the_reason_the_flow_wrote_and_survives_garbage():
    registry = build_registry(logging.getLogger('test'))
    assert registry.dispatch(4, packet(b'\x00' * 7)) == []            # ARP reply reason, garbage frame
    assert registry.dispatch(77, packet(b'')) == []                    # no such reason
    assert registry.counts == {'ARP_REPLY_TO_ROUTER': 1, 'unknown': 1}
    assert registry.failures == 0


def test_a_dhcp_request_that_waited_longer_than_a_client_waits_is_not_answered():
    from controller.packets import dhcp as p
    from controller.services.dhcp_service import STALE_SECONDS, DhcpService
    from tests.unit.test_pipeline_port_security import with_dhcp

    class Port1(Switch):
        def interface_at(self, topology, ofport):
            return topology.interfaces['vm1']

    topology = with_dhcp()
    discover = p.build_request(p.DISCOVER, 0x1234, '52:54:00:00:00:01')
    service = DhcpService(logging.getLogger('test'))

    def ask(waited):
        return service(PacketIn(topology, Port1(), 1, topology.networks['net1'], discover, 100.0,
                                waited=waited))
    assert [type(a) for a in ask(0.05)] == [SendFrame]
    assert ask(STALE_SECONDS + 0.5) == [] and service.stale == 1
