"""Source checks on vif ports, DHCP to the controller, ping answered in the datapath."""
import pytest

from controller.openflow.ofsim import FakeSwitch, ports_of
from controller.pipeline import compile_datapath
from controller.pipeline.flows import OFPP_CONTROLLER
from controller.topology import HOST, Interface
from tests.unit.factories import ALL_PORTS, net, overlapping, sim, topology, vif

VM1, VM2 = '52:54:00:00:00:01', '52:54:00:00:00:02'
BROADCAST = 'ff:ff:ff:ff:ff:ff'


def with_dhcp():
    topo = overlapping()
    dhcp = sim('dhcp1', 'net1', '52:54:00:00:01:fd', '172.16.1.253', services=('dhcp',))
    return topology(list(topo.networks.values()), list(topo.interfaces.values()) + [dhcp])


def switch(topo=None):
    return FakeSwitch.from_state(compile_datapath(topo or overlapping(), 'br0', ALL_PORTS))


def ip_frame(in_port, src_mac, src_ip, dst_mac=VM2, dst_ip='172.16.1.2', **extra):
    fields = dict(in_port=in_port, eth_src=src_mac, eth_dst=dst_mac, eth_type=0x0800,
                  ipv4_src=src_ip, ipv4_dst=dst_ip, ip_proto=6)
    return dict(fields, **extra)


def dhcp_discover(in_port=1, mac=VM1):
    return dict(in_port=in_port, eth_src=mac, eth_dst=BROADCAST, eth_type=0x0800,
                ipv4_src='0.0.0.0', ipv4_dst='255.255.255.255', ip_proto=17,
                udp_src=68, udp_dst=67)


def test_a_frame_with_a_spoofed_source_mac_is_dropped():
    assert switch().run(ip_frame(1, '52:54:00:00:00:99', '172.16.1.1')) == []


def test_a_frame_with_another_interfaces_source_mac_is_dropped_even_in_the_same_network():
    assert switch().run(ip_frame(1, VM2, '172.16.1.2', dst_mac=VM2)) == []


def test_ipv4_with_a_spoofed_source_address_is_dropped_and_the_honest_one_passes():
    sw = switch()
    assert sw.run(ip_frame(1, VM1, '172.16.1.77')) == []
    assert ports_of(sw.run(ip_frame(1, VM1, '172.16.1.1'))) == [2]


def test_arp_claiming_another_address_is_dropped_but_an_address_probe_passes():
    sw = switch()
    arp = dict(in_port=1, eth_src=VM1, eth_dst=BROADCAST, eth_type=0x0806, arp_op=1,
               arp_sha=VM1, arp_tha='00:00:00:00:00:00', arp_tpa='172.16.1.2')
    assert sw.run(dict(arp, arp_spa='172.16.1.2')) == []
    assert ports_of(sw.run(dict(arp, arp_spa='0.0.0.0'))) == [2]
    assert ports_of(sw.run(dict(arp, arp_spa='172.16.1.1'))) == [2]
    assert sw.run(dict(arp, arp_spa='172.16.1.1', arp_sha=VM2)) == []


def test_dhcp_server_replies_from_a_vif_are_dropped():
    offer = ip_frame(2, VM2, '172.16.1.2', dst_mac=BROADCAST, dst_ip='255.255.255.255')
    offer.update(ip_proto=17, udp_src=67, udp_dst=68)
    assert switch(with_dhcp()).run(offer) == []
    assert switch().run(offer) == []


def test_dhcp_requests_go_to_the_controller_through_the_ports_own_meter():
    sw = switch(with_dhcp())
    out = sw.run(dhcp_discover())
    assert ports_of(out) == [OFPP_CONTROLLER]
    state = compile_datapath(with_dhcp(), 'br0', ALL_PORTS)
    punts = [f for f in state.flows.values() if f.meter is not None]
    assert sorted(f.meter for f in punts) == [1, 2]          # net1's ports only
    assert sorted(state.meters) == [1, 2]


def test_dhcp_requests_in_a_network_without_the_service_are_just_broadcast():
    assert ports_of(switch().run(dhcp_discover())) == [2]


def test_host_ports_are_not_source_checked():
    topo = topology([net('lan', '10.0.10.0/24', 9)],
                    [Interface(name='uplink', network='lan', mac='52:54:00:00:09:01',
                               mode=HOST, datapath='br0', port='up0'),
                     vif('c1', 'lan', '52:54:00:00:09:02', '10.0.10.2', port='p-c1')])
    sw = FakeSwitch.from_state(compile_datapath(topo, 'br0', {'up0': 1, 'p-c1': 2}))
    assert ports_of(sw.run(ip_frame(1, '02:00:00:00:00:99', '10.0.10.99',
                                    dst_mac='52:54:00:00:09:02'))) == [2]


def test_an_echo_request_to_the_gateway_is_answered_in_the_datapath():
    sw = switch()
    ping = ip_frame(1, VM1, '172.16.1.1', dst_mac='52:54:00:00:01:fe', dst_ip='172.16.1.254',
                    ip_proto=1, icmpv4_type=8, icmpv4_code=0)
    out = sw.run(ping)
    assert ports_of(out) == [1]
    reply = out[0][1]
    assert (reply['icmpv4_type'], reply['ipv4_src'], reply['ipv4_dst']) == (0, '172.16.1.254', '172.16.1.1')
    assert (reply['eth_src'], reply['eth_dst']) == ('52:54:00:00:01:fe', VM1)


def test_an_echo_request_to_the_other_networks_gateway_mac_is_answered_by_its_own_network():
    ping = ip_frame(3, '52:54:00:00:00:03', '172.16.1.1', dst_mac='52:54:00:00:01:fe',
                    dst_ip='172.16.1.254', ip_proto=1, icmpv4_type=8, icmpv4_code=0)
    out = switch().run(ping)
    assert out[0][1]['eth_src'] == '52:54:00:00:03:fe'


@pytest.mark.parametrize('tags', [[42], [42, 7], [0, 0]])
def test_a_tagged_frame_from_a_vif_is_dropped_at_any_tag_depth(tags):
    """OVS parses one tag; behind it an honest-looking IPv4 packet, a gateway
    ARP or a DHCP offer must not pass either."""
    tagged = ip_frame(1, VM1, '172.16.1.1', vlan_vid=0x1000 | tags[0])
    if len(tags) > 1:                       # QinQ: the ethertype behind the outer tag is a tag
        tagged['eth_type'] = 0x8100
    assert switch(with_dhcp()).run(tagged) == []


def test_a_rogue_dhcp_server_is_dropped_whatever_its_source_port():
    for src_port in (67, 68, 1067, 5353):
        offer = ip_frame(2, VM2, '172.16.1.2', dst_mac=BROADCAST, dst_ip='255.255.255.255',
                         ip_proto=17, udp_src=src_port, udp_dst=68)
        assert switch().run(offer) == [], src_port


@pytest.mark.parametrize('eth_type, passes', [(0x86dd, True), (0x88cc, False), (0x8847, False),
                                              (0x8863, False), (0x9000, False)])
def test_a_vif_may_send_ipv4_arp_and_ipv6_and_nothing_else(eth_type, passes):
    frame = dict(in_port=1, eth_src=VM1, eth_dst=VM2, eth_type=eth_type)
    assert (ports_of(switch().run(frame)) == [2]) is passes


def test_a_tagged_frame_from_the_lan_is_dropped_too():
    topo = topology([net('lan', '10.0.10.0/24', 9)],
                    [Interface(name='uplink', network='lan', mac='52:54:00:00:09:01',
                               mode=HOST, datapath='br0', port='up0'),
                     vif('c1', 'lan', '52:54:00:00:09:02', '10.0.10.2', port='p-c1')])
    sw = FakeSwitch.from_state(compile_datapath(topo, 'br0', {'up0': 1, 'p-c1': 2}))
    frame = ip_frame(1, '02:00:00:00:00:99', '10.0.10.99', dst_mac='52:54:00:00:09:02')
    assert ports_of(sw.run(frame)) == [2]
    assert sw.run(dict(frame, vlan_vid=0x1000 | 7)) == []
