"""Conntrack actions and fields are encoded byte for byte as os-ken does,
and Open vSwitch's own parser reads them as we mean them.

os-ken is the oracle (tests/osken_reference.py builds NXActionCT /
NXActionNAT / NXActionCTClear and OFPMatch with ct_* fields); where os-ken
leaves out the padding of a NAT range that is not a multiple of 8 bytes,
ours is os-ken's plus the zero padding, and `ovs-ofctl ofp-print` decodes it.
"""
import subprocess

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.openflow import wire
from controller.pipeline.conntrack import describe_state, state
from controller.pipeline.flows import Ct, CtClear, Nat, Output, SetField, flow
from tests import osken_reference as ref


class FakeDatapath:
    ofproto, ofproto_parser, id = ofp, parser, 1


DP = FakeDatapath()
IP = 0x800

FLOWS = [
    flow(12, 10, actions=[Ct(zone=7, table=13)], in_port=3, eth_type=IP),
    flow(13, 20, actions=[Ct(commit=True, zone=7, exec=(SetField('ct_mark', 0x1234abcd),))],
         goto=20, eth_type=IP, ct_state=state(trk=1, new=1, inv=0), ip_proto=6, tcp_dst=80),
    flow(45, 20, actions=[Ct(commit=True, zone=0x7fff, exec=(SetField('ct_label', (1 << 127) | 5),))],
         goto=None, eth_type=IP, reg3=4, ct_state=state(trk=1, rpl=0)),
    flow(45, 30, actions=[Output(4)], eth_type=IP, reg3=4, ct_state=state(trk=1, est=1, rpl=0),
         ct_mark=0x1234abcd, ct_label=5, ct_zone=7),
    flow(45, 31, actions=[Output(4)], eth_type=IP, ct_mark=(0x10, 0xf0),
         ct_label=(1 << 100, 1 << 100), ipv4_src=('10.0.0.0', '255.0.0.0')),
    flow(26, 5, actions=[Ct(zone=0x8001, table=27, nat=Nat())], eth_type=IP),
    flow(33, 5, actions=[Ct(commit=True, zone=0x8001, nat=Nat('src', '10.0.10.100', '10.0.10.101'))],
         goto=35, eth_type=IP),
    flow(33, 6, actions=[Ct(commit=True, zone=0x8002, table=34,
                            nat=Nat('dst', '172.16.1.10', port_min=1000, port_max=2000),
                            exec=(SetField('ct_mark', 9),))], eth_type=IP),
    flow(33, 7, actions=[Ct(commit=True, force=True, zone=1, alg=21)], eth_type=IP, ip_proto=6),
    flow(34, 1, actions=[CtClear(), Ct(zone=2, table=35)], eth_type=IP),
]


def osken(msg, xid=0x77):
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


@pytest.mark.parametrize('f', FLOWS, ids=lambda f: f.describe())
def test_a_flow_with_conntrack_is_byte_identical_to_os_ken(f):
    assert wire.flow_add(f, 0x77) == osken(ref.flow_add(DP, f))


@pytest.mark.parametrize('nat', [
    Nat('src', '10.0.0.1'),                                   # 20 bytes: os-ken omits 4 of padding
    Nat('src', '10.0.0.1', '10.0.0.9', 1024, 65535),          # 28 bytes
    Nat('dst', '10.0.0.1', port_min=80),                      # 22 bytes
    Nat('src', '10.0.0.1', persistent=True, random=True),
])
def test_a_nat_range_is_os_kens_bytes_padded_to_eight(nat):
    buf = bytearray()
    ref.nat_of(parser, nat).serialize(buf, 0)
    ours = wire.actions_bytes([Ct(commit=True, zone=1, nat=nat)])[24:]
    assert len(ours) % 8 == 0
    assert ours == bytes(buf) + bytes(len(ours) - len(buf))
    assert int.from_bytes(ours[2:4], 'big') == len(ours)


def _ofp_print(msg: bytes) -> str:
    done = subprocess.run(['ovs-ofctl', 'ofp-print', msg.hex()], capture_output=True, text=True,
                          check=True)
    return done.stdout


def test_open_vswitch_reads_ct_actions_and_ct_fields_as_we_mean_them():
    text = _ofp_print(wire.flow_add(FLOWS[7]))
    assert ('ct(commit,table=34,zone=32770,nat(dst=172.16.1.10:1000-2000),'
            'exec(set_field:0x9->ct_mark))') in text
    text = _ofp_print(wire.flow_add(flow(33, 5, actions=[Ct(
        commit=True, zone=3, nat=Nat('src', '10.0.10.100', '10.0.10.101', 1024, 65535, random=True))],
        goto=35, eth_type=IP)))
    assert 'ct(commit,zone=3,nat(src=10.0.10.100-10.0.10.101:1024-65535,random))' in text
    assert 'goto_table:35' in text
    text = _ofp_print(wire.flow_add(FLOWS[3]))
    assert 'ct_state=+est-rpl+trk' in text
    assert 'ct_mark=0x1234abcd' in text and 'ct_label=0x5' in text and 'ct_zone=7' in text
    assert 'reg3=0x4' in text
    text = _ofp_print(wire.flow_add(FLOWS[9]))
    assert 'ct_clear,ct(table=35,zone=2)' in text


def test_a_ct_state_match_is_spelled_by_its_bits():
    assert state(trk=1, est=1, rpl=0) == (0x22, 0x2a)
    assert describe_state(*state(trk=1, new=1, inv=0)) == '+new-inv+trk'


def test_describe_reads_like_ovs_ofctl():
    assert FLOWS[7].describe().endswith(
        'ct(commit,table=34,zone=32770,nat(dst=172.16.1.10:1000-2000),exec(set_field:0x9->ct_mark))')
    assert 'ct_clear,ct(table=35,zone=2)' in FLOWS[9].describe()


@pytest.mark.parametrize('bad, message', [
    (lambda: Ct(zone=1 << 16), '16-bit'),
    (lambda: Ct(zone=1, exec=(SetField('ct_mark', 1),)), 'needs commit'),
    (lambda: Ct(commit=True, exec=(SetField('eth_dst', '00:00:00:00:00:01'),)), 'may only set'),
    (lambda: Ct(table=255), 'out of range'),
    (lambda: Nat('src', '10.0.0.300'), 'IPv4'),
    (lambda: Nat(None, '10.0.0.1'), 'needs kind'),
])
def test_a_conntrack_action_ovs_would_refuse_is_refused_when_made(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


@pytest.mark.parametrize('f', FLOWS, ids=lambda f: f.describe())
def test_a_conntrack_match_read_back_gives_the_same_flow_key(f):
    from controller.openflow.readback import key_from_stats
    buf = bytearray()
    ref.match_of(parser, f.match).serialize(buf, 0)
    stat = parser.OFPFlowStats(table_id=f.table, priority=f.priority,
                               match=parser.OFPMatch.parser(bytes(buf), 0))
    assert key_from_stats(stat) == f.key
