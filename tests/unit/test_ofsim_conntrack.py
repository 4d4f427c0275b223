"""The table simulator's connection tracker behaves as OVS's ct() does."""
import pytest

from controller.openflow.ofsim import FakeSwitch, PrerequisiteError
from controller.pipeline.conntrack import DNAT, EST, INV, NEW, REL, RPL, SNAT, TRK, state
from controller.pipeline.flows import Ct, CtClear, Nat, Output, SetField, flow

IP = 0x800
A, B, X = '10.0.0.1', '10.0.0.2', '192.0.2.100'


def tcp(src, dst, sport, dport, flags=None, **extra):
    pkt = dict(dict(in_port=1, eth_type=IP, ip_proto=6, ipv4_src=src, ipv4_dst=dst,
                    tcp_src=sport, tcp_dst=dport), **extra)
    if flags is not None:
        pkt['tcp_flags'] = flags
    return pkt


def stateful(commit_actions=(), zone=5):
    """Table 0 sends IP through ct; table 1 commits new and passes what is
    tracked, reporting each packet's state as the output port's packet."""
    return FakeSwitch([
        flow(0, 1, actions=[Ct(zone=zone, table=1)], eth_type=IP),
        flow(1, 10, actions=[Output(9)], eth_type=IP, ct_state=state(trk=1, inv=1)),
        flow(1, 5, actions=[Ct(commit=True, zone=zone, exec=tuple(commit_actions)), Output(2)],
             eth_type=IP, ct_state=state(trk=1, new=1)),
        flow(1, 4, actions=[Output(2)], eth_type=IP, ct_state=state(trk=1, est=1)),
    ])


def seen(switch, pkt):
    (port, out), = switch.run(pkt)
    return port, out['ct_state']


def test_a_committed_connection_sees_its_reply_as_established_and_reply():
    sw = stateful()
    assert seen(sw, tcp(A, B, 1000, 80)) == (2, TRK | NEW)
    assert seen(sw, tcp(A, B, 1000, 80)) == (2, TRK | NEW)          # no reply yet
    assert seen(sw, tcp(B, A, 80, 1000, flags=0x12)) == (2, TRK | EST | RPL)
    assert seen(sw, tcp(A, B, 1000, 80, flags=0x10)) == (2, TRK | EST)


def test_a_tcp_segment_without_syn_and_no_connection_is_invalid():
    sw = stateful()
    assert seen(sw, tcp(B, A, 80, 1000, flags=0x12)) == (9, TRK | INV)
    assert sw.conntrack.connections() == []


def test_without_commit_nothing_is_remembered():
    sw = FakeSwitch([flow(0, 1, actions=[Ct(zone=5, table=1)], eth_type=IP),
                     flow(1, 1, actions=[Output(2)], eth_type=IP)])
    sw.run(tcp(A, B, 1000, 80))
    (_, out), = sw.run(tcp(B, A, 80, 1000))
    assert out['ct_state'] == TRK | NEW
    assert sw.conntrack.connections() == []


def test_zones_keep_connections_apart_and_mark_and_label_are_set_by_exec():
    sw = stateful([SetField('ct_mark', 0xabc), SetField('ct_label', 1 << 100)], zone=5)
    sw.run(tcp(A, B, 1000, 80))
    (_, out), = sw.run(tcp(B, A, 80, 1000))
    assert (out['ct_mark'], out['ct_label'], out['ct_zone']) == (0xabc, 1 << 100, 5)
    other = FakeSwitch([
        flow(0, 1, actions=[Ct(zone=6, table=1)], eth_type=IP),
        flow(1, 1, actions=[Output(2)], eth_type=IP)], conntrack=sw.conntrack)
    (_, out), = other.run(tcp(B, A, 80, 1000))
    assert out['ct_state'] == TRK | NEW and out['ct_mark'] == 0


def test_connections_outlive_a_new_switch_that_shares_the_tracker_and_flush_ends_them():
    sw = stateful()
    sw.run(tcp(A, B, 1000, 80))
    again = stateful()
    again.conntrack = sw.conntrack
    assert seen(again, tcp(B, A, 80, 1000)) == (2, TRK | EST | RPL)
    sw.conntrack.flush(zone=5)
    assert seen(again, tcp(B, A, 80, 1000, flags=0x10)) == (9, TRK | INV)


def test_an_echo_reply_is_a_reply_and_one_out_of_nowhere_is_invalid():
    sw = stateful()
    ping = dict(in_port=1, eth_type=IP, ip_proto=1, ipv4_src=A, ipv4_dst=B, icmpv4_type=8, icmp_id=7)
    pong = dict(ping, ipv4_src=B, ipv4_dst=A, icmpv4_type=0)
    assert seen(sw, pong) == (9, TRK | INV)
    assert seen(sw, ping) == (2, TRK | NEW)
    assert seen(sw, pong) == (2, TRK | EST | RPL)


def snat_switch():
    """Table 0: from port 1 (inside) commit with SNAT to X; from port 2
    (outside) un-NAT; out the other port."""
    return FakeSwitch([
        flow(0, 2, actions=[Ct(commit=True, zone=0x8001, nat=Nat('src', X)), Output(2)],
             in_port=1, eth_type=IP),
        flow(0, 1, actions=[Ct(zone=0x8001, table=1, nat=Nat())], in_port=2, eth_type=IP),
        flow(1, 1, actions=[Output(1)], eth_type=IP, ct_state=state(trk=1, est=1)),
        flow(1, 2, actions=[Output(1)], eth_type=IP, ct_state=state(trk=1, rel=1)),
        flow(1, 0, actions=[Output(7)], eth_type=IP),
    ])


def test_source_nat_rewrites_the_sender_and_the_reply_comes_back_to_it():
    sw = snat_switch()
    (port, out), = sw.run(tcp(A, B, 1000, 80))
    assert (port, out['ipv4_src'], out['ipv4_dst']) == (2, X, B)
    (port, back), = sw.run(tcp(B, X, 80, 1000, flags=0x12, in_port=2))
    assert (port, back['ipv4_src'], back['ipv4_dst'], back['tcp_dst']) == (1, B, A, 1000)
    assert back['ct_state'] == TRK | EST | RPL | SNAT


def test_an_icmp_error_about_a_connection_is_related_and_translated_inside_and_out():
    sw = snat_switch()
    sw.run(dict(tcp(A, B, 1000, 80), ip_proto=17, udp_src=1000, udp_dst=53))
    sent = dict(eth_type=IP, ip_proto=17, ipv4_src=X, ipv4_dst=B, udp_src=1000, udp_dst=53)
    error = dict(in_port=2, eth_type=IP, ip_proto=1, ipv4_src='198.51.100.1', ipv4_dst=X,
                 icmpv4_type=3, icmpv4_code=3, icmp_inner=sent)
    (port, out), = sw.run(error)
    assert port == 1 and out['ct_state'] == TRK | REL | RPL | SNAT
    assert (out['ipv4_src'], out['ipv4_dst']) == ('198.51.100.1', A)
    assert (out['icmp_inner']['ipv4_src'], out['icmp_inner']['ipv4_dst']) == (A, B)
    unrelated = dict(error, icmp_inner=dict(sent, udp_src=9))
    (port, out), = sw.run(unrelated)
    assert port == 7 and out['ct_state'] == TRK | INV


def test_destination_nat_on_commit_rewrites_the_destination():
    sw = FakeSwitch([flow(0, 1, actions=[Ct(commit=True, zone=1, nat=Nat('dst', B, port_min=8080)),
                                         Output(2)], eth_type=IP)])
    (_, out), = sw.run(tcp(A, X, 1000, 80))
    assert (out['ipv4_dst'], out['tcp_dst']) == (B, 8080)
    assert sw.conntrack.connections()[0].reply == (6, B, A, 8080, 1000)
    assert DNAT == 0x80


def test_ct_clear_forgets_the_state_and_flows_without_ip_may_not_use_ct():
    sw = FakeSwitch([flow(0, 1, actions=[Ct(zone=1, table=1)], eth_type=IP),
                     flow(1, 1, actions=[CtClear(), Output(2)], eth_type=IP)])
    (_, out), = sw.run(tcp(A, B, 1, 2))
    assert 'ct_state' not in out
    with pytest.raises(PrerequisiteError, match='ct'):
        FakeSwitch([flow(0, 1, actions=[Ct(zone=1)], in_port=1)])
    with pytest.raises(PrerequisiteError, match='nat'):
        FakeSwitch([flow(0, 1, actions=[Ct(commit=True, nat=Nat('src', X))], eth_type=0x86dd)])


def test_a_recirculation_loop_is_caught():
    sw = FakeSwitch([flow(0, 1, actions=[Ct(zone=1, table=0)], eth_type=IP)])
    with pytest.raises(AssertionError, match='recirculating'):
        sw.run(tcp(A, B, 1, 2))


def test_a_nat_without_recirculation_changes_what_leaves_but_not_what_later_tables_match():
    # As OVS does: ct(commit,nat) then goto_table translates the packet in
    # the datapath, but the next table is looked up on the old addresses.
    sw = FakeSwitch([
        flow(0, 1, actions=[Ct(commit=True, zone=7, nat=Nat('dst', B))], goto=1, eth_type=IP),
        flow(1, 5, actions=[Output(2)], eth_type=IP, ipv4_dst=X),
        flow(1, 4, actions=[Output(3)], eth_type=IP, ipv4_dst=B),
    ])
    (port, out), = sw.run(tcp(A, X, 1000, 80))
    assert port == 2 and out['ipv4_dst'] == B
    assert '_nat_pending' not in out
