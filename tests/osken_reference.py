"""The os-ken encoding of our flow data: the reference `controller.wire`
is proven byte-identical against.

The controller sends what controller/wire.py encodes (os-ken's message
objects cost ~85 µs a flow-mod); this module keeps the straightforward
os-ken translation, used by the tests as the oracle.
"""
from __future__ import annotations

from typing import List, Tuple

from os_ken.ofproto import nicira_ext

from controller.openflow.reconcile import Plan
from controller.pipeline.flows import (
    Ct,
    CtClear,
    DecTtl,
    Flow,
    FlowKey,
    Group,
    Meter,
    Move,
    Nat,
    Output,
    OutputReg,
    PopVlan,
    SetField,
    ToGroup,
)

ALL_ONES_64 = 0xffffffffffffffff


_NX_FIELDS = {f.name for f in nicira_ext.oxm_types}


def match_of(parser, match: tuple):
    """OVS checks prerequisites field by field in wire order, and os-ken sorts
    Nicira fields (nw_ttl, reg0) before eth_type: move them after."""
    fields = list(parser.OFPMatch(**dict(match)).items())
    ordered = ([kv for kv in fields if kv[0] not in _NX_FIELDS]
               + [kv for kv in fields if kv[0] in _NX_FIELDS])
    return parser.OFPMatch(_ordered_fields=ordered)


def actions_of(parser, actions) -> list:
    out = []
    for a in actions:
        if isinstance(a, Output):
            out.append(parser.OFPActionOutput(a.port, 0xffff))
        elif isinstance(a, ToGroup):
            out.append(parser.OFPActionGroup(a.group_id))
        elif isinstance(a, SetField):
            out.append(parser.OFPActionSetField(**{a.field: a.value}))
        elif isinstance(a, DecTtl):
            out.append(parser.OFPActionDecNwTtl())
        elif isinstance(a, Move):
            out.append(parser.NXActionRegMove(src_field=a.src, dst_field=a.dst,
                                              n_bits=a.n_bits, src_ofs=a.src_ofs,
                                              dst_ofs=a.dst_ofs))
        elif isinstance(a, PopVlan):
            out.append(parser.OFPActionPopVlan())
        elif isinstance(a, OutputReg):
            out.append(parser.NXActionOutputReg(ofs_nbits=nicira_ext.ofs_nbits(0, a.n_bits - 1),
                                                src=a.field, max_len=0xffff))
        elif isinstance(a, Ct):
            nested = [nat_of(parser, a.nat)] if a.nat is not None else []
            nested += actions_of(parser, a.exec)
            out.append(parser.NXActionCT(
                flags=nicira_ext.NX_CT_F_COMMIT * a.commit | nicira_ext.NX_CT_F_FORCE * a.force,
                zone_src='', zone_ofs_nbits=a.zone,
                recirc_table=nicira_ext.NX_CT_RECIRC_NONE if a.table is None else a.table,
                alg=a.alg, actions=nested))
        elif isinstance(a, CtClear):
            out.append(parser.NXActionCTClear())
        else:
            raise TypeError(f'unknown action {a!r}')
    return out


NX_NAT_F = {None: 0, 'src': 1, 'dst': 2}      # NX_NAT_F_SRC, _DST (not in nicira_ext)


def nat_of(parser, n: Nat):
    """os-ken's NXActionNAT (which leaves out the padding of a range whose
    size is not a multiple of 8: tests/unit/test_wire_ct.py allows for that)."""
    return parser.NXActionNAT(
        flags=NX_NAT_F[n.kind] | 4 * n.persistent | 16 * n.random,
        range_ipv4_min=n.ip_min or '', range_ipv4_max=n.ip_max or '',
        range_proto_min=n.port_min, range_proto_max=n.port_max)


def instructions_of(ofp, parser, f: Flow) -> list:
    inst = []
    if f.meter is not None:
        inst.append(parser.OFPInstructionMeter(f.meter, ofp.OFPIT_METER))
    if f.actions:
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                 actions_of(parser, f.actions)))
    if f.write_metadata is not None:
        inst.append(parser.OFPInstructionWriteMetadata(*f.write_metadata))
    if f.goto is not None:
        inst.append(parser.OFPInstructionGotoTable(f.goto))
    return inst


def flow_add(dp, f: Flow):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPFlowMod(dp, cookie=f.cookie, table_id=f.table, command=ofp.OFPFC_ADD,
                             priority=f.priority, match=match_of(parser, f.match),
                             instructions=instructions_of(ofp, parser, f))


def flow_delete(dp, cookie: int, key: FlowKey):
    """Delete exactly that entry, and only while it still carries `cookie`."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    table, priority, match = key
    return parser.OFPFlowMod(dp, cookie=cookie, cookie_mask=ALL_ONES_64, table_id=table,
                             command=ofp.OFPFC_DELETE_STRICT, priority=priority,
                             out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                             match=match_of(parser, match))


def group_mod(dp, group: Group, command):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    buckets = [parser.OFPBucket(actions=actions_of(parser, b)) for b in group.buckets]
    return parser.OFPGroupMod(dp, command=command, type_=ofp.OFPGT_ALL,
                              group_id=group.group_id, buckets=buckets)


def group_delete(dp, group_id: int):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPGroupMod(dp, command=ofp.OFPGC_DELETE, type_=ofp.OFPGT_ALL,
                              group_id=group_id)


def meter_mod(dp, meter: Meter, command):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    band = parser.OFPMeterBandDrop(rate=meter.rate_pps, burst_size=meter.burst)
    return parser.OFPMeterMod(dp, command=command, flags=ofp.OFPMF_PKTPS | ofp.OFPMF_BURST,
                              meter_id=meter.meter_id, bands=[band])


def meter_delete(dp, meter_id: int):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPMeterMod(dp, command=ofp.OFPMC_DELETE, flags=0, meter_id=meter_id,
                              bands=[])


def plan_messages(dp, plan: Plan) -> Tuple[List, List, List]:
    """The plan as (before, bundled, after) message lists.

    OVS cannot put meter mods in a bundle, so new and changed meters go just
    before it and stale ones just after; flows and groups go in the bundle.
    The order within each list is safe even without a bundle.
    """
    ofp = dp.ofproto
    before = [meter_mod(dp, m, ofp.OFPMC_ADD) for m in plan.meter_adds]
    before += [meter_mod(dp, m, ofp.OFPMC_MODIFY) for m in plan.meter_mods]
    bundled = [group_mod(dp, g, ofp.OFPGC_ADD) for g in plan.group_adds]
    bundled += [group_mod(dp, g, ofp.OFPGC_MODIFY) for g in plan.group_mods]
    bundled += [flow_add(dp, f) for f in plan.flow_adds]
    bundled += [flow_delete(dp, c, key) for c, key in plan.flow_deletes]
    bundled += [group_delete(dp, gid) for gid in plan.group_deletes]
    after = [meter_delete(dp, mid) for mid in plan.meter_deletes]
    return before, bundled, after
