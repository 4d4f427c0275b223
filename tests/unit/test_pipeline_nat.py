"""NAT at the edge, run through the table simulator (with its connection
tracker) on topologies/nat.yml: 1:1 both ways, source NAT with replies and
ICMP errors, drops with their reasons, overlapping inside networks, traces."""
import pytest

from controller.explain.packet import Request, build
from controller.explain.source import load_located
from controller.explain.walk import Walker
from controller.openflow.ofsim import Fabric, FakeSwitch, deliveries, ports_of
from controller.pipeline import compile_datapath, tables
from controller.pipeline.drops import Drop
from controller.pipeline.flows import OFPP_CONTROLLER
from controller.topology import validate_text
from controller.topology.nat import nat_zone
from tests.unit.nat_topology import (
    LAN_GW3_MAC,
    LAN_GW_MAC,
    LAN_HOST_MAC,
    LAN_PORT,
    NET1_GW_MAC,
    NET3_GW_MAC,
    PATH,
    PORTS,
    VM1_MAC,
    VM1_PORT,
    VM2_MAC,
    VM2_PORT,
    VM3_MAC,
    VM3_PORT,
    nat_topology,
)

LAN_HOST, FLOATING, SNAT1, SNAT3 = '10.0.10.11', '10.0.10.110', '10.0.10.100', '10.0.10.103'


@pytest.fixture
def switch():
    return FakeSwitch.from_state(compile_datapath(nat_topology(), 'br0', PORTS))


def tcp(in_port, src_mac, dst_mac, src, dst, sport=40000, dport=80, flags=0x02, ttl=64):
    return dict(in_port=in_port, eth_src=src_mac, eth_dst=dst_mac, eth_type=0x0800, ipv4_src=src,
                ipv4_dst=dst, ip_proto=6, tcp_src=sport, tcp_dst=dport, tcp_flags=flags, nw_ttl=ttl)


def from_lan(dst, mac=LAN_GW_MAC, **kw):
    return tcp(LAN_PORT, LAN_HOST_MAC, mac, LAN_HOST, dst, **kw)


def last_flow(switch, packet):
    steps = []
    out = switch.run(packet, on_step=lambda table, f, pkt: steps.append(f))
    return out, steps[-1]


def test_the_router_answers_arp_for_outside_addresses_with_its_link_edge_mac(switch):
    for outside, mac in ((FLOATING, LAN_GW_MAC), (SNAT1, LAN_GW_MAC), (SNAT3, LAN_GW3_MAC)):
        out = switch.run(dict(in_port=LAN_PORT, eth_src=LAN_HOST_MAC, eth_dst='ff:ff:ff:ff:ff:ff',
                              eth_type=0x0806, arp_op=1, arp_sha=LAN_HOST_MAC, arp_spa=LAN_HOST,
                              arp_tha='00:00:00:00:00:00', arp_tpa=outside))
        assert ports_of(out) == [LAN_PORT]
        reply = out[0][1]
        assert (reply['arp_op'], reply['arp_spa'], reply['arp_sha'], reply['eth_dst']) == \
            (2, outside, mac, LAN_HOST_MAC)


def test_a_lan_host_reaches_the_vm_behind_a_floating_ip_and_its_reply_leaves_as_that_ip(switch):
    out = switch.run(from_lan(FLOATING))
    assert ports_of(out) == [VM1_PORT]
    inbound = out[0][1]
    assert (inbound['ipv4_src'], inbound['ipv4_dst'], inbound['eth_dst'], inbound['nw_ttl']) == \
        (LAN_HOST, '172.16.1.10', VM1_MAC, 63)
    out = switch.run(tcp(VM1_PORT, VM1_MAC, NET1_GW_MAC, '172.16.1.10', LAN_HOST, sport=80, dport=40000,
                         flags=0x12))
    assert ports_of(out) == [LAN_PORT]
    reply = out[0][1]
    assert (reply['ipv4_src'], reply['ipv4_dst'], reply['eth_src'], reply['eth_dst']) == \
        (FLOATING, LAN_HOST, LAN_GW_MAC, LAN_HOST_MAC)


def test_a_floating_ip_only_lets_in_connections_and_their_packets(switch):
    out, last = last_flow(switch, from_lan(FLOATING, flags=0x10))      # an ACK out of nowhere
    assert out == [] and last.drop == Drop.NAT_NO_CONNECTION
    assert ports_of(switch.run(from_lan(FLOATING))) == [VM1_PORT]
    assert ports_of(switch.run(from_lan(FLOATING, flags=0x10))) == [VM1_PORT]
    [conn] = switch.conntrack.connections(nat_zone('edge'))
    assert conn.nat == ('dst', '172.16.1.10', None)


def test_an_icmp_error_from_the_vm_behind_a_floating_ip_leaves_translated(switch):
    probe = dict(from_lan(FLOATING), ip_proto=17, udp_src=40000, udp_dst=33434)
    del probe['tcp_src'], probe['tcp_dst'], probe['tcp_flags']
    inbound = switch.run(probe)[0][1]
    inner = {k: inbound[k] for k in ('eth_type', 'ipv4_src', 'ipv4_dst', 'ip_proto', 'udp_src', 'udp_dst')}
    out = switch.run(dict(in_port=VM1_PORT, eth_src=VM1_MAC, eth_dst=NET1_GW_MAC, eth_type=0x0800,
                          ipv4_src='172.16.1.10', ipv4_dst=LAN_HOST, ip_proto=1, icmpv4_type=3,
                          icmpv4_code=3, nw_ttl=64, icmp_inner=inner))
    assert ports_of(out) == [LAN_PORT]
    error = out[0][1]
    assert error['ipv4_src'] == FLOATING and error['icmp_inner']['ipv4_dst'] == FLOATING


def test_a_vm_reaches_the_lan_through_source_nat_and_the_replies_find_their_way_back(switch):
    out = switch.run(tcp(VM2_PORT, VM2_MAC, NET1_GW_MAC, '172.16.1.20', LAN_HOST))
    assert ports_of(out) == [LAN_PORT]
    sent = out[0][1]
    assert (sent['ipv4_src'], sent['ipv4_dst'], sent['eth_src']) == (SNAT1, LAN_HOST, LAN_GW_MAC)
    assert len(switch.conntrack.connections(nat_zone('edge'))) == 1
    out = switch.run(from_lan(SNAT1, sport=80, dport=sent['tcp_src'], flags=0x12))
    assert ports_of(out) == [VM2_PORT]
    back = out[0][1]
    assert (back['ipv4_src'], back['ipv4_dst'], back['tcp_dst'], back['eth_dst']) == \
        (LAN_HOST, '172.16.1.20', 40000, VM2_MAC)


def test_the_lan_cannot_open_connections_to_a_source_nat_address(switch):
    out, last = last_flow(switch, from_lan(SNAT1))
    assert out == [] and last.drop == Drop.NAT_NO_CONNECTION
    # nor answer a connection nobody made
    out, last = last_flow(switch, from_lan(SNAT1, sport=80, dport=40000, flags=0x12))
    assert out == [] and last.drop == Drop.NAT_NO_CONNECTION


def test_what_conntrack_cannot_translate_never_leaves_with_an_inside_address(switch):
    out, last = last_flow(switch, tcp(VM2_PORT, VM2_MAC, NET1_GW_MAC, '172.16.1.20', LAN_HOST, flags=0x10))
    assert out == [] and last.drop == Drop.NAT_UNTRANSLATED


def test_an_icmp_error_about_a_source_nat_connection_reaches_the_vm_translated(switch):
    out = switch.run(dict(tcp(VM2_PORT, VM2_MAC, NET1_GW_MAC, '172.16.1.20', LAN_HOST, dport=33434),
                          ip_proto=17, udp_src=40000, udp_dst=33434))
    sent = out[0][1]
    unreachable = dict(in_port=LAN_PORT, eth_src=LAN_HOST_MAC, eth_dst=LAN_GW_MAC, eth_type=0x0800,
                       ipv4_src=LAN_HOST, ipv4_dst=SNAT1, ip_proto=1, icmpv4_type=3, icmpv4_code=3,
                       nw_ttl=64, icmp_inner={k: sent[k] for k in ('eth_type', 'ipv4_src', 'ipv4_dst',
                                                                   'ip_proto', 'udp_src', 'udp_dst')})
    out = switch.run(unreachable)
    assert ports_of(out) == [VM2_PORT]
    error = out[0][1]
    assert error['ipv4_dst'] == '172.16.1.20' and error['icmp_inner']['ipv4_src'] == '172.16.1.20'


def test_ttl_expiring_at_the_edge_is_punted_untranslated_so_time_exceeded_quotes_the_sent_packet(switch):
    out = switch.run(from_lan(FLOATING, ttl=1))
    assert ports_of(out) == [OFPP_CONTROLLER]
    assert out[0][1]['ipv4_dst'] == FLOATING


def test_overlapping_inside_networks_leave_as_their_own_outside_address_in_their_own_zone(switch):
    out3 = switch.run(tcp(VM3_PORT, VM3_MAC, NET3_GW_MAC, '172.16.1.10', LAN_HOST))
    out1 = switch.run(tcp(VM1_PORT, VM1_MAC, NET1_GW_MAC, '172.16.1.10', LAN_HOST))
    assert (out3[0][1]['ipv4_src'], out3[0][1]['eth_src']) == (SNAT3, LAN_GW3_MAC)
    assert (out1[0][1]['ipv4_src'], out1[0][1]['eth_src']) == (FLOATING, LAN_GW_MAC)
    assert len(switch.conntrack.connections(nat_zone('edge3'))) == 1
    # vm3's reply comes back to vm3, never to vm1 with the same address
    out = switch.run(from_lan(SNAT3, mac=LAN_GW3_MAC, sport=80, dport=out3[0][1]['tcp_src'], flags=0x12))
    assert ports_of(out) == [VM3_PORT]
    # and vm1's floating IP reached through edge3's router MAC leads nowhere
    assert switch.run(from_lan(FLOATING, mac=LAN_GW3_MAC)) == []


def test_traffic_between_inside_networks_and_non_nat_routes_is_not_translated():
    state = compile_datapath(nat_topology(), 'br0', PORTS)
    to_nat_out = [f for f in state.flows.values() if f.table == tables.L3 and f.goto == tables.NAT_OUT]
    assert {dict(f.match)['eth_dst'] for f in to_nat_out} == {NET1_GW_MAC, NET3_GW_MAC}
    into_inside = [f for f in state.flows.values() if f.table == tables.L3 and f.goto == tables.NEXTHOP]
    assert {dict(f.match)['eth_dst'] for f in into_inside} == {LAN_GW_MAC, LAN_GW3_MAC}


def test_a_datapath_without_nat_keeps_services_going_straight_to_routing():
    from controller.topology import load_topology
    from tests.unit.test_pipeline_drops import ROOT, numbered
    topo = load_topology(str(ROOT / 'topologies' / 'seed000.yml'))
    state = compile_datapath(topo, 'ovsbr0', numbered(topo, 'ovsbr0'))
    [default] = [f for f in state.flows.values() if f.table == tables.SERVICES and f.priority == 0]
    assert default.goto == tables.L3
    assert not [f for f in state.flows.values() if f.table in (25, 26, 32, 33) and f.priority > 0]


def test_the_trace_verdict_shows_the_translation_and_the_rule_behind_it():
    located = load_located(str(PATH))
    out = trace_offline(located, 'vm2', '10.0.10.11', proto='tcp', dport=80)
    assert out.verdict.text.endswith('translated by NAT: source 172.16.1.20 -> 10.0.10.100')
    rules = [str(o) for s in out.steps for o in s.origins if o.what.startswith('NAT')]
    assert rules == [f'NAT many:1 172.16.1.0/24 -> 10.0.10.100 of route link edge (conntrack zone '
                     f'{nat_zone("edge"):#x})  {PATH}:{line_of("outside: 10.0.10.100")} '
                     'route_links.edge.nat[1]']
    back = trace_offline(located, 'uplink', '10.0.10.110', proto='tcp', dport=22)
    assert back.verdict.text == ('delivered to vm1 (port vm1-veth) on datapath br0, translated by NAT: '
                                 'destination 10.0.10.110 -> 172.16.1.10')


def trace_offline(located, source, to, proto, dport):
    probe = build(located.topology, Request(source, to, proto, dport))
    return Walker.for_probe(located, probe).trace(probe)


def line_of(fragment: str) -> int:
    return next(n for n, line in enumerate(PATH.read_text().splitlines(), 1) if fragment in line)


TWO_DATAPATH_PORTS = {'h1': {'uplink': LAN_PORT, 'vm2-veth': VM2_PORT, 'vm3-veth': VM3_PORT, 'vxlan0': 10},
                      'h2': {'vm1-veth': VM1_PORT, 'vxlan0': 10}}


def two_datapaths():
    """nat.yml with vm1 moved to datapath h2; the LAN's uplink stays on h1."""
    text = PATH.read_text().replace('  br0:\n    dpid: 0x1\n',
                                    '  h1: {dpid: 0x1, tunnel_ip: 198.18.0.1}\n'
                                    '  h2: {dpid: 0x2, tunnel_ip: 198.18.0.2}\n')
    text = text.replace('datapath: br0\n    port: vm1-veth', 'datapath: h2\n    port: vm1-veth')
    return validate_text(text.replace('datapath: br0', 'datapath: h1'), 'two.yml')


def across_two_datapaths():
    topo, fab = two_datapaths(), Fabric()
    for n, dp in enumerate(('h1', 'h2'), 1):
        state = compile_datapath(topo, dp, TWO_DATAPATH_PORTS[dp])
        fab.add(dp, FakeSwitch.from_state(state), 10, f'198.18.0.{n}')
    return fab


def test_nat_runs_only_where_the_lan_has_an_uplink_and_is_refused_with_a_reason_elsewhere():
    fab = across_two_datapaths()
    # the floating IP is translated on h1, where the LAN comes in, and the VM on h2 gets it
    out = fab.run('h1', from_lan(FLOATING))
    assert deliveries(out) == [('h2', VM1_PORT)] and out[0][2]['ipv4_dst'] == '172.16.1.10'
    # h2 has no uplink: its conntrack would hold state the LAN's packets never reach
    steps = []
    reply = tcp(VM1_PORT, VM1_MAC, NET1_GW_MAC, '172.16.1.10', LAN_HOST, sport=80, dport=40000, flags=0x12)
    assert fab.switches['h2'].run(reply, on_step=lambda t, f, p: steps.append(f)) == []
    assert steps[-1].drop == Drop.NAT_NO_UPLINK
    # while a VM on h1 is NATed as ever
    out = fab.run('h1', tcp(VM2_PORT, VM2_MAC, NET1_GW_MAC, '172.16.1.20', LAN_HOST))
    assert deliveries(out) == [('h1', LAN_PORT)] and out[0][2]['ipv4_src'] == SNAT1


def test_vnetctl_diff_flags_a_removed_nat_rule_as_disruptive_and_an_unrelated_edit_as_not():
    from controller.explain.changes import disruptions
    from controller.explain.source import locate_text
    text = PATH.read_text()
    old = locate_text(text, 'nat.yml')
    removed = locate_text(text.replace('      - {inside: 172.16.1.0/24, outside: 10.0.10.100}', ''), 'new.yml')
    [found] = disruptions(old, removed)
    assert str(found) == (f'nat.yml:{line_of("outside: 10.0.10.100")} route_links.edge.nat[1]: NAT rule '
                          '172.16.1.0/24 -> 10.0.10.100 (source NAT) of route link edge is removed or '
                          'changed: connections through it are cut')
    unrelated = locate_text(text.replace('ipv4: 172.16.1.20\n', 'ipv4: 172.16.1.21\n'), 'new.yml')
    assert not [d for d in disruptions(old, unrelated) if 'NAT' in d.text]


def test_a_trace_that_ends_at_conntrack_says_so_instead_of_calling_it_a_drop_reason():
    from controller.explain.verdict import Step, drop_reason
    state = compile_datapath(nat_topology(), 'br0', PORTS)
    [snat] = [f for f in state.flows.values() if f.table == tables.NAT_OUT and f.priority == 124
              and dict(f.match)['eth_src'] == LAN_GW_MAC]
    why = drop_reason([Step('br0', tables.NAT_OUT, snat, snat.cookie, snat.describe())], nat_topology())
    assert why == ('on br0, table 32 (nat out): handed to conntrack (ct(commit,table=33,zone='
                   f'{nat_zone("edge")},nat(src=10.0.10.100))), which continues in table 33; the '
                   "switch's trace does not run conntrack, so follow it without --live")
