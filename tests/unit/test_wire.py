"""controller.openflow.wire encodes byte for byte what os-ken would send.

Every comparison serializes the os-ken message built by tests/osken_reference.py
(plain os-ken objects for our flow data) with the same xid and checks
equality of the whole message.

`python -m tests.unit.test_wire` prints a micro-benchmark.
"""
import ipaddress
import itertools
import struct

import pytest
from os_ken.ofproto import nicira_ext
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.openflow import wire
from controller.openflow.reconcile import Plan
from controller.openflow.session import BUNDLE_FLAGS
from controller.pipeline import compile_datapath
from controller.pipeline.flows import DecTtl, Flow, Group, Meter, Move, Output, SetField, ToGroup
from tests import osken_reference as ref
from tests.unit.factories import ALL_PORTS, ROUTED_PORTS, overlapping, routed
from tests.unit.test_pipeline_port_security import with_dhcp


class FakeDatapath:
    ofproto, ofproto_parser, id = ofp, parser, 1


DP = FakeDatapath()
_xids = itertools.count(0x1000, 7919)


def osken(msg, xid):
    """os-ken's bytes for `msg` sent with `xid`."""
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def states():
    return [compile_datapath(overlapping(), 'br0', ALL_PORTS),
            compile_datapath(routed(), 'br0', ROUTED_PORTS),
            compile_datapath(with_dhcp(), 'br0', ALL_PORTS)]


STATES = states()
FLOWS = [f for s in STATES for f in s.flows.values()]
GROUPS = [g for s in STATES for g in s.groups.values()]
METERS = [m for s in STATES for m in s.meters.values()]


def test_the_topologies_cover_every_kind_of_thing_we_encode():
    fields = {name for f in FLOWS for name, _ in f.match}
    assert fields >= {'in_port', 'metadata', 'eth_dst', 'eth_src', 'eth_type', 'ip_proto',
                      'ipv4_src', 'ipv4_dst', 'udp_src', 'udp_dst', 'icmpv4_type', 'arp_op',
                      'arp_spa', 'arp_tpa', 'arp_sha', 'reg0', 'nw_ttl'}
    assert any(isinstance(v, tuple) for f in FLOWS for name, v in f.match if name == 'eth_dst')
    assert any(isinstance(v, tuple) for f in FLOWS for name, v in f.match if name == 'ipv4_dst')
    kinds = {type(a) for f in FLOWS for a in f.actions}
    assert kinds == {Output, ToGroup, SetField, Move, DecTtl}
    assert any(f.meter is not None for f in FLOWS)
    assert any(f.write_metadata is not None for f in FLOWS)
    assert GROUPS and METERS
    assert len(FLOWS) > 150


@pytest.mark.parametrize('f', FLOWS, ids=lambda f: f.describe())
def test_every_compiled_flow_add_is_byte_identical(f):
    xid = next(_xids)
    expected = osken(ref.flow_add(DP, f), xid)
    assert wire.flow_add(f, xid) == expected
    assert wire.flow_add(f, xid, cookie=f.cookie) == expected
    cached = wire.flow_add(f)
    assert wire.xid_of(cached) == 0
    assert wire.with_xid(cached, xid) == expected
    buf = bytearray(b'prefix')
    wire.append(buf, cached, xid)
    assert bytes(buf) == b'prefix' + expected


@pytest.mark.parametrize('f', FLOWS, ids=lambda f: f.describe())
def test_every_compiled_flow_delete_is_byte_identical(f):
    xid = next(_xids)
    expected = osken(ref.flow_delete(DP, f.cookie, f.key), xid)
    assert wire.flow_delete(f.cookie, f.key, xid) == expected
    assert wire.with_xid(wire.flow_delete(f.cookie, f.key), xid) == expected


def test_every_compiled_group_mod_and_delete_is_byte_identical():
    for g in GROUPS:
        for command in (ofp.OFPGC_ADD, ofp.OFPGC_MODIFY):
            xid = next(_xids)
            assert wire.group_mod(g, command, xid) == osken(ref.group_mod(DP, g, command), xid)
        xid = next(_xids)
        expected = osken(ref.group_delete(DP, g.group_id), xid)
        assert wire.group_delete(g.group_id, xid) == expected


def test_groups_with_every_action_kind_are_byte_identical():
    g = Group(7, ((Output(1), Output(0xfffffff8)), (SetField('eth_dst', '52:54:00:00:00:09'),
                                                    Output(2)),
                  (DecTtl(), Move('ipv4_dst', 'reg0', 32), ToGroup(3)), ()))
    xid = next(_xids)
    assert wire.group_mod(g, ofp.OFPGC_ADD, xid) == osken(ref.group_mod(DP, g, ofp.OFPGC_ADD),
                                                          xid)


def test_every_compiled_meter_mod_and_delete_is_byte_identical():
    for m in METERS + [Meter(0xffff0000 - 1, 1 << 31, 0)]:
        for command in (ofp.OFPMC_ADD, ofp.OFPMC_MODIFY):
            xid = next(_xids)
            assert wire.meter_mod(m, command, xid) == osken(ref.meter_mod(DP, m, command), xid)
        xid = next(_xids)
        assert wire.meter_delete(m.meter_id, xid) == osken(ref.meter_delete(DP, m.meter_id),
                                                           xid)


def test_barriers_are_byte_identical():
    for xid in (0, 1, 0x12345678, 0xffffffff):
        assert wire.barrier(xid) == osken(parser.OFPBarrierRequest(DP), xid)
    assert wire.with_xid(wire.barrier(), 9) == osken(parser.OFPBarrierRequest(DP), 9)


@pytest.mark.parametrize('type_', [ofp.ONF_BCT_OPEN_REQUEST, ofp.ONF_BCT_CLOSE_REQUEST,
                                   ofp.ONF_BCT_COMMIT_REQUEST, ofp.ONF_BCT_DISCARD_REQUEST])
def test_bundle_controls_are_byte_identical(type_):
    for bid, flags in ((1, BUNDLE_FLAGS), (0xfffffffe, ofp.ONF_BF_ATOMIC), (77, 0)):
        xid = next(_xids)
        expected = osken(parser.ONFBundleCtrlMsg(DP, bid, type_, flags, []), xid)
        assert wire.bundle_ctrl(bid, type_, flags, xid) == expected
        assert wire.with_xid(wire.bundle_ctrl(bid, type_, flags), xid) == expected


def _bundle_add_osken(bid, inner, xid):
    return osken(parser.ONFBundleAddMsg(DP, bid, BUNDLE_FLAGS, inner, []), xid)


def test_bundle_adds_are_byte_identical_and_share_the_xid_with_their_inner_message():
    bid = 42
    cases = []
    for f in FLOWS:
        cases.append((ref.flow_add(DP, f), wire.flow_add(f)))
        cases.append((ref.flow_delete(DP, f.cookie, f.key),
                      wire.flow_delete(f.cookie, f.key)))
    for g in GROUPS:
        cases.append((ref.group_mod(DP, g, ofp.OFPGC_ADD), wire.group_mod(g, ofp.OFPGC_ADD)))
        cases.append((ref.group_delete(DP, g.group_id), wire.group_delete(g.group_id)))
    for inner_osken, inner_wire in cases:
        xid = next(_xids)
        expected = _bundle_add_osken(bid, inner_osken, xid)
        assert struct.unpack_from('!I', expected, 24 + 4)[0] == xid       # inner xid == outer
        assert wire.bundle_add(bid, BUNDLE_FLAGS, inner_wire, xid) == expected
        # an inner message that already carries some other xid is restamped too
        assert wire.bundle_add(bid, BUNDLE_FLAGS, wire.with_xid(inner_wire, 5), xid) == expected
        buf = bytearray(b'x')
        wire.append_bundle_add(buf, bid, BUNDLE_FLAGS, inner_wire, xid)
        assert bytes(buf) == b'x' + expected


def test_a_whole_bundled_sync_is_the_same_byte_stream(monkeypatch):
    """What SwitchSession sends for a plan with everything in it."""
    import logging

    from controller.openflow import session as switch
    state = STATES[1]
    plan = Plan(meter_adds=list(state.meters.values()), group_adds=list(state.groups.values()),
                flow_adds=list(state.flows.values()),
                flow_deletes=[(f.cookie, f.key) for f in STATES[0].flows.values()],
                group_deletes=[77], meter_deletes=[9])
    before, bundled, after = ref.plan_messages(DP, plan)
    xid = itertools.count(100)
    expected = bytearray()
    for m in before:
        expected += osken(m, next(xid))
    expected += osken(parser.ONFBundleCtrlMsg(DP, 3, ofp.ONF_BCT_OPEN_REQUEST, BUNDLE_FLAGS, []),
                      next(xid))
    for m in bundled:
        expected += osken(parser.ONFBundleAddMsg(DP, 3, BUNDLE_FLAGS, m, []), next(xid))
    check = next(xid)
    expected += osken(parser.OFPBarrierRequest(DP), check)
    commit = bytearray(osken(parser.ONFBundleCtrlMsg(DP, 3, ofp.ONF_BCT_COMMIT_REQUEST,
                                                     BUNDLE_FLAGS, []), next(xid)))
    for m in after:
        commit += osken(m, next(xid))
    commit += osken(parser.OFPBarrierRequest(DP), next(xid))

    class Recording:
        ofproto, ofproto_parser, id, ports, xid = ofp, parser, 1, {}, 99

        def __init__(self):
            self.writes = []

        def send(self, buf):
            self.writes.append(bytes(buf))

    dp = Recording()
    session = switch.SwitchSession(dp, 'br0', logging.getLogger('test'))
    session._bundle_ids = itertools.count(3)
    assert session._send(plan) == check
    session.on_barrier(type('Reply', (), {'xid': check})())
    assert dp.writes == [bytes(expected), bytes(commit)]


def test_a_learned_next_hop_is_byte_identical():
    from controller.pipeline.flows import LEARNED_COOKIE_TAG
    from controller.pipeline.nexthop import LEARNED_IDLE_SECONDS, learned_next_hop
    ip = ipaddress.IPv4Address('10.0.10.254')
    xid = next(_xids)
    f = learned_next_hop(110, ip, '52:54:00:aa:bb:cc')
    cookie = LEARNED_COOKIE_TAG | int(ip)
    expected = osken(parser.OFPFlowMod(DP, cookie=cookie, table_id=f.table,
                                       command=ofp.OFPFC_ADD, priority=f.priority,
                                       idle_timeout=LEARNED_IDLE_SECONDS,
                                       match=ref.match_of(parser, f.match),
                                       instructions=ref.instructions_of(ofp, parser, f)), xid)
    assert wire.flow_add(f, xid, cookie=cookie, idle_timeout=LEARNED_IDLE_SECONDS) == expected


# -- field by field, against os-ken's own tables ------------------------------
SAMPLES = {
    'in_port': [1, 0xfffffffe], 'metadata': [0x65, 0xffffffffffffffff, (0x65, 0xffffff)],
    'eth_dst': ['52:54:00:00:00:01', 'FF:FF:FF:FF:FF:FF',
                ('01:00:00:00:00:00', '01:00:00:00:00:00'),
                ('52:54:00:00:01:ff', 'ff:ff:ff:ff:ff:00')],
    'eth_src': ['52:54:00:00:00:01', ('52:54:00:00:00:01', 'ff:ff:ff:00:00:00'),
                0x525400000001, '52-54-00-00-00-02', '525400000003'],        # other spellings
    'eth_type': [0x0800, 0x0806], 'ip_proto': [1, 17], 'ipv4_src': ['0.0.0.0', '172.16.1.1'],
    'ipv4_dst': ['255.255.255.255', ('172.16.2.7', '255.255.255.0'), ('0.0.0.0', '0.0.0.0'),
                 '10.0.10.0/24', 167772161, ipaddress.IPv4Address('10.0.0.2')],
    'tcp_src': [22], 'tcp_dst': [0xffff], 'udp_src': [68], 'udp_dst': [67],
    'icmpv4_type': [8, 0], 'icmpv4_code': [0, 3], 'arp_op': [1, 2],
    'arp_spa': ['10.0.10.1', ('10.0.10.0', '255.255.255.0')], 'arp_tpa': ['172.16.1.254'],
    'arp_sha': ['52:54:00:00:10:fe'], 'arp_tha': ['00:00:00:00:00:00'],
    'reg0': [0, 167774974, (0x0a000000, 0xff000000)], 'reg1': [0, 4, 0xffffffff],
    'reg2': [0, 1], 'tunnel_id': [1, 4401, 0xffffff], 'vlan_vid': [0, 0x1000 | 42, (0x1000, 0x1000)],
    'vlan_pcp': [0, 2, 7],
    'tun_ipv4_src': ['198.18.1.1', '0.0.0.0'], 'tun_ipv4_dst': ['198.18.1.2'],
    'nw_ttl': [0, 1, 255],
    'reg3': [0, 7], 'reg4': [(0x8001, 0xffff)], 'reg5': [0xffffffff], 'reg6': [(4, 4), 1 << 31],
    'ct_state': [0x22, (0x21, 0x31)], 'ct_zone': [1, 0xffff], 'ct_mark': [0x1234abcd, (1, 0xff)],
    'ct_label': [5, (1 << 127) | 0xffffffff, (1 << 64, (1 << 128) - 1)],
}


def test_every_supported_field_has_os_kens_oxm_header():
    assert set(SAMPLES) == wire.SUPPORTED_FIELDS
    for name in wire.SUPPORTED_FIELDS:
        buf = bytearray()
        ofp.oxm_serialize_header(ofp.oxm_from_user_header(name), buf, 0)
        assert wire._FIELDS[name].header == bytes(buf), name


@pytest.mark.parametrize('name', sorted(SAMPLES))
def test_every_supported_field_matches_and_sets_like_os_ken(name):
    for value in SAMPLES[name]:
        key = (3, 100, ((name, value),))
        xid = next(_xids)
        assert wire.flow_delete(9, key, xid) == osken(ref.flow_delete(DP, 9, key), xid)
        if isinstance(value, tuple) or '/' in str(value):
            continue
        f = Flow(3, 100, (), (SetField(name, value), Output(1)))
        assert wire.flow_add(f, xid) == osken(ref.flow_add(DP, f), xid), value


def test_moves_between_every_pair_of_same_sized_fields_are_byte_identical():
    fields = sorted(wire.SUPPORTED_FIELDS)
    sizes = {n: wire._FIELDS[n].size for n in fields}
    moves = tuple(Move(a, b, sizes[a] * 8) for a in fields for b in fields
                  if sizes[a] == sizes[b] and a != b)
    f = Flow(1, 1, (), moves, goto=2)
    assert wire.flow_add(f, 1) == osken(ref.flow_add(DP, f), 1)


def test_a_match_on_every_field_at_once_is_in_os_kens_order_with_nicira_fields_last():
    match = tuple(sorted((n, v[0]) for n, v in SAMPLES.items()))
    f = Flow(30, 2000, match, (DecTtl(),), goto=31, write_metadata=(1, 0xff), meter=4)
    expected = osken(ref.flow_add(DP, f), 5)
    assert wire.flow_add(f, 5) == expected
    # the Nicira fields (registers, nw_ttl, tunnel addresses) are the last TLVs
    body = wire.match_bytes(match)
    headers, at, length = [], 4, struct.unpack_from('!H', body, 2)[0]
    while at < length:
        h, = struct.unpack_from('!I', body, at)
        headers.append(h)
        at += 4 + (h & 0xff)
    nicira = [nicira_ext.nxm_nx_reg(n) for n in range(7)]
    nicira += [nicira_ext.NXM_NX_IP_TTL, nicira_ext.NXM_NX_TUN_IPV4_SRC, nicira_ext.NXM_NX_TUN_IPV4_DST]
    nicira += [struct.unpack('!I', wire._FIELDS[n].header)[0]   # headers checked against os-ken above
               for n in ('ct_state', 'ct_zone', 'ct_mark', 'ct_label')]
    assert [h >> 9 for h in headers[-len(nicira):]] == [h >> 9 for h in nicira]
    assert headers[:-len(nicira)] == sorted(headers[:-len(nicira)])


def test_instruction_combinations_are_byte_identical():
    m = (('in_port', 1),)
    for meter, actions, md, goto in itertools.product((None, 7), ((), (Output(2),)),
                                                      (None, (5, 0xffffff)), (None, 10)):
        f = Flow(0, 10, m, actions, goto=goto, write_metadata=md, meter=meter)
        assert wire.flow_add(f, 3) == osken(ref.flow_add(DP, f), 3), f
    f = Flow(0, 0, ())
    assert wire.flow_add(f, 3) == osken(ref.flow_add(DP, f), 3)          # empty match


def test_unsupported_things_raise_a_clear_error():
    with pytest.raises(wire.WireError, match='mpls_label'):
        wire.flow_add(Flow(0, 1, (('mpls_label', 5),)))
    with pytest.raises(wire.WireError, match='unsupported action'):
        wire.flow_add(Flow(0, 1, (), ('drop',)))
    with pytest.raises(wire.WireError, match='MAC'):
        wire.flow_add(Flow(0, 1, (('eth_dst', '52:54:00'),)))
    with pytest.raises(wire.WireError, match='IPv4'):
        wire.flow_add(Flow(0, 1, (('ipv4_dst', '10.0.0.300'),)))
    with pytest.raises(wire.WireError, match='16-bit'):
        wire.flow_add(Flow(0, 1, (('eth_type', 0x10000),)))
    with pytest.raises(wire.WireError, match='no mask'):
        masked = ('52:54:00:00:00:01', 'ff:ff:ff:ff:ff:ff')
        wire.flow_add(Flow(0, 1, (), (SetField('eth_dst', masked),)))
    with pytest.raises(wire.WireError):
        wire.flow_add(Flow(0, 1, (), (Output(-1),)))
    with pytest.raises(wire.WireError, match='MAC'):
        wire.flow_add(Flow(0, 1, (('eth_dst', b'RT\0\0\0\1'),)))      # os-ken refuses it too
    with pytest.raises(wire.WireError, match='8-bit'):
        wire.flow_add(Flow(0, 1, (('nw_ttl', 1.0),)))


# -- micro-benchmark (python -m tests.unit.test_wire) --------------------------
def bench(rounds=20):
    import time
    flows = FLOWS
    n = len(flows) * rounds
    cookies = {f: f.cookie for f in flows}

    def per_flow(fn):
        best = float('inf')
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(rounds):
                fn()
            best = min(best, time.perf_counter() - t)
        return best / n * 1e6

    def osken_all():
        buf = bytearray()
        for f in flows:
            m = ref.flow_add(DP, f)
            m.set_xid(1)
            m.serialize()
            buf += m.buf

    def wire_uncached():
        buf = bytearray()
        for f in flows:
            wire.append(buf, wire.flow_add(f, cookie=cookies[f]), 1)

    cache = {cookies[f]: wire.flow_add(f) for f in flows}
    keys = list(cache)

    def wire_cached():
        buf = bytearray()
        for c in keys:
            wire.append(buf, cache[c], 1)

    def wire_cached_bundled():
        buf = bytearray()
        for c in keys:
            wire.append_bundle_add(buf, 1, 3, cache[c], 1)

    def cookie_only():
        for f in flows:
            f.cookie

    print(f'{len(flows)} flows x {rounds}; us per flow-mod (best of 5):')
    print(f'  os-ken build+serialize        {per_flow(osken_all):7.2f}')
    print(f'  wire, encoded from the Flow   {per_flow(wire_uncached):7.2f}')
    print(f'  wire, cached message + xid    {per_flow(wire_cached):7.2f}')
    print(f'  wire, cached, in bundle-add   {per_flow(wire_cached_bundled):7.2f}')
    print(f'  (Flow.cookie alone            {per_flow(cookie_only):7.2f})')


if __name__ == '__main__':
    bench()
