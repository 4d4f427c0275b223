"""Routing through route links, executed by the table simulator."""
from controller.openflow.ofsim import FakeSwitch, ports_of
from controller.pipeline import compile_datapath
from controller.pipeline.flows import OFPP_CONTROLLER
from tests.unit.factories import ROUTED_PORTS, routed

A1, B1, C1 = '52:54:00:00:01:01', '52:54:00:00:02:01', '52:54:00:00:03:01'
GW1, GW2, GW2B, GW3, LANGW = ('52:54:00:00:01:fe', '52:54:00:00:02:fe', '52:54:00:00:02:fd',
                              '52:54:00:00:03:fe', '52:54:00:00:10:fe')


def switch():
    return FakeSwitch.from_state(compile_datapath(routed(), 'br0', ROUTED_PORTS))


def ip(in_port, src_mac, dst_mac, src, dst, ttl=64, **extra):
    fields = dict(in_port=in_port, eth_src=src_mac, eth_dst=dst_mac, eth_type=0x0800,
                  ipv4_src=src, ipv4_dst=dst, ip_proto=6, nw_ttl=ttl)
    return dict(fields, **extra)


def test_a_packet_to_the_gateway_for_the_linked_network_is_routed_with_ttl_decremented():
    out = switch().run(ip(1, A1, GW1, '172.16.1.1', '172.16.2.1'))
    assert ports_of(out) == [2]
    routed_pkt = out[0][1]
    assert (routed_pkt['eth_src'], routed_pkt['eth_dst']) == (GW2, B1)
    assert routed_pkt['nw_ttl'] == 63


def test_the_reply_is_routed_back_the_same_way():
    out = switch().run(ip(2, B1, GW2, '172.16.2.1', '172.16.1.1'))
    assert ports_of(out) == [1]
    assert (out[0][1]['eth_src'], out[0][1]['eth_dst']) == (GW1, A1)


def test_a_network_with_the_same_prefix_but_not_on_the_link_is_not_routed():
    assert switch().run(ip(3, C1, GW3, '172.16.1.1', '172.16.2.1')) == []
    # and net2 cannot reach into net3 through rl1 (rl1 leads to net1 only)
    out = switch().run(ip(2, B1, GW2, '172.16.2.1', '172.16.1.1'))
    assert ports_of(out) == [1]


def test_a_packet_with_ttl_1_goes_to_the_controller_instead_of_being_routed():
    out = switch().run(ip(1, A1, GW1, '172.16.1.1', '172.16.2.1', ttl=1))
    assert ports_of(out) == [OFPP_CONTROLLER]


def test_routers_answer_ping_on_their_other_interfaces():
    ping = ip(1, A1, GW1, '172.16.1.1', '172.16.2.254', ip_proto=1, icmpv4_type=8, icmpv4_code=0)
    out = switch().run(ping)
    assert ports_of(out) == [1]
    reply = out[0][1]
    assert (reply['ipv4_src'], reply['eth_src'], reply['icmpv4_type']) == ('172.16.2.254', GW1, 0)


def test_a_default_route_sends_off_lan_destinations_to_the_lan_gateway():
    out = switch().run(ip(2, B1, GW2B, '172.16.2.1', '198.51.100.7'))
    # the gateway 10.0.10.254 is not in the topology: its MAC must be resolved first
    assert ports_of(out) == [OFPP_CONTROLLER]


def test_a_registered_host_on_the_physical_network_is_reached_without_the_controller():
    out = switch().run(ip(2, B1, GW2B, '172.16.2.1', '10.0.10.11'))
    assert ports_of(out) == [4]
    assert (out[0][1]['eth_src'], out[0][1]['eth_dst']) == (LANGW, '52:54:00:00:10:01')


def test_longest_prefix_wins_over_the_default_route():
    # 10.0.10.0/24 is lan-gw's connected route: direct, not via 10.0.10.254
    state = compile_datapath(routed(), 'br0', ROUTED_PORTS)
    prios = sorted(f.priority for f in state.flows.values()
                   if f.table == 30 and dict(f.match).get('eth_dst') == GW2B)
    assert prios == [1, 100, 124, 2000, 2000]       # 1: what no route covers is dropped


def test_the_physical_lan_reaches_the_virtual_network_through_its_router():
    out = switch().run(ip(4, '02:00:00:00:00:77', LANGW, '10.0.10.77', '172.16.2.1'))
    assert ports_of(out) == [2]
    assert out[0][1]['eth_src'] == GW2B


def test_unknown_unicast_on_a_physical_network_leaves_through_the_host_port():
    frame = ip(4, '52:54:00:00:10:01', '02:00:00:00:00:88', '10.0.10.11', '10.0.10.88')
    assert switch().run(frame) == []     # from the host port itself: no hairpin
    state = compile_datapath(routed(), 'br0', ROUTED_PORTS)
    host_flows = [f for f in state.flows.values() if f.table == 40 and f.priority == 10]
    assert [f.actions[0].port for f in host_flows] == [4]


def test_arp_replies_to_the_lan_router_go_to_the_controller_for_learning():
    reply = dict(in_port=4, eth_src='02:00:00:00:00:54', eth_dst=LANGW, eth_type=0x0806,
                 arp_op=2, arp_sha='02:00:00:00:00:54', arp_spa='10.0.10.254',
                 arp_tha=LANGW, arp_tpa='10.0.10.1')
    assert ports_of(switch().run(reply)) == [OFPP_CONTROLLER]


def test_each_ingress_network_has_its_own_time_exceeded_budget():
    """A TTL=1 flood from one network cannot use up another network's replies."""
    state = compile_datapath(routed(), 'br0', ROUTED_PORTS)
    punts = [f for f in state.flows.values() if dict(f.match).get('nw_ttl') in (0, 1)]
    meter_of = {dict(f.match)['metadata']: f.meter for f in punts}
    assert len(set(meter_of.values())) == len(meter_of) > 1
    assert set(meter_of.values()) <= set(state.meters)


def test_only_the_lan_port_may_send_arp_replies_to_the_router_to_the_controller():
    state = compile_datapath(routed(), 'br0', ROUTED_PORTS)
    punts = [dict(f.match) for f in state.flows.values()
             if dict(f.match).get('arp_op') == 2 and f.meter is not None]
    assert punts and all(m['in_port'] == ROUTED_PORTS['up0'] for m in punts)
