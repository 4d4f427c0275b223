"""Flow data -> os-ken messages, and what a switch reports back -> flow keys."""
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.openflow import readback as openflow
from controller.openflow import wire
from controller.openflow.reconcile import Plan
from controller.pipeline import compile_datapath
from tests import osken_reference as ref
from tests.unit.factories import ALL_PORTS, ROUTED_PORTS, overlapping, routed


class FakeDatapath:
    ofproto, ofproto_parser, id = ofp, parser, 1


def desired():
    """Every kind of flow we make: L2, ARP/ICMP, port security, routing, next hops."""
    a = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    b = compile_datapath(routed(), 'br0', ROUTED_PORTS)
    return type(a)({**a.flows, **b.flows}, {**a.groups, **b.groups}, {**a.meters, **b.meters})


def test_every_compiled_flow_serializes_to_a_valid_flow_mod():
    dp = FakeDatapath()
    for f in desired().flows.values():
        msg = ref.flow_add(dp, f)
        msg.set_xid(1)
        msg.serialize()
        assert msg.cookie == f.cookie and len(msg.buf) >= 56


def test_a_match_read_back_from_a_switch_gives_the_same_flow_key():
    for f in desired().flows.values():
        match = ref.match_of(parser, f.match)
        buf = bytearray()
        match.serialize(buf, 0)
        parsed = parser.OFPMatch.parser(bytes(buf), 0)
        stat = parser.OFPFlowStats(table_id=f.table, priority=f.priority, match=parsed)
        assert openflow.key_from_stats(stat) == f.key


def test_a_flood_group_read_back_decodes_to_the_desired_group():
    for g in desired().groups.values():
        msg = ref.group_mod(FakeDatapath(), g, ofp.OFPGC_ADD)
        desc = parser.OFPGroupDescStats(type_=ofp.OFPGT_ALL, group_id=g.group_id,
                                        buckets=msg.buckets)
        assert openflow.group_from_desc(desc) == g


def test_the_message_order_puts_groups_before_the_flows_that_use_them_and_deletes_last():
    state = desired()
    plan = Plan(group_adds=list(state.groups.values()), flow_adds=list(state.flows.values()),
                flow_deletes=[(0x766e000000000001, (0, 100, (('in_port', 9),)))], group_deletes=[77])
    before, bundled, after = wire.plan_messages(plan)
    kinds = [_kind(m) for m in before + bundled + after]
    assert kinds[0] == ('group_mod', ofp.OFPGC_ADD)
    assert kinds[-2] == ('flow_mod', ofp.OFPFC_DELETE_STRICT)
    assert kinds[-1] == ('group_mod', ofp.OFPGC_DELETE)


def _kind(msg: bytes):
    """(message, command) from an encoded flow-mod or group-mod."""
    if msg[1] == ofp.OFPT_FLOW_MOD:
        return 'flow_mod', msg[25]                       # after header, cookie, mask, table
    return 'group_mod', int.from_bytes(msg[8:10], 'big')


def test_a_stale_flow_is_deleted_strictly_and_only_while_it_carries_its_cookie():
    msg = ref.flow_delete(FakeDatapath(), 0x766e0000000000aa, (40, 100, (('metadata', 5),)))
    assert msg.command == ofp.OFPFC_DELETE_STRICT
    assert msg.cookie == 0x766e0000000000aa and msg.cookie_mask == 0xffffffffffffffff


def test_a_meter_read_back_decodes_to_the_desired_meter():
    for m in desired().meters.values():
        msg = ref.meter_mod(FakeDatapath(), m, ofp.OFPMC_ADD)
        config = parser.OFPMeterConfigStats(flags=msg.flags, meter_id=m.meter_id, bands=msg.bands)
        assert openflow.meter_from_config(config) == m


def test_nicira_fields_are_sent_after_the_standard_fields_they_depend_on():
    from controller.pipeline.flows import flow
    f = flow(30, 2000, nw_ttl=1, eth_type=0x0800, metadata=5, reg0=7)
    names = [name for name, _ in ref.match_of(parser, f.match).items()]
    assert names.index('eth_type') < names.index('nw_ttl')
    assert names[-2:] == ['nw_ttl', 'reg0'] or names[-2:] == ['reg0', 'nw_ttl']
