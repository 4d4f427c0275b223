"""Our flow data <-> os-ken OpenFlow 1.3 messages.

The only module besides app.py that imports os-ken.  Everything here is a
pure translation, testable by serializing and parsing messages.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from os_ken.ofproto import nicira_ext

from controller.pipeline.flows import DecTtl, Flow, Group, Meter, Move, Output, SetField, ToGroup
from controller.pipeline import tables
from controller.pipeline.flows import LEARNED_COOKIE_TAG, flow
from controller.reconcile import FlowKey, Plan
from controller.resolver import LEARNED_IDLE_SECONDS

LEARNED_PRIORITY = 50          # below the topology's own next hops (100)

ALL_ONES_64 = 0xffffffffffffffff


_NX_FIELDS = {f.name for f in nicira_ext.oxm_types}


def match_of(parser, match: tuple):
    """OVS checks prerequisites field by field in wire order, and os-ken sorts
    Nicira fields (nw_ttl, reg0) before eth_type: move them after."""
    fields = list(parser.OFPMatch(**dict(match)).items())
    ordered = ([kv for kv in fields if kv[0] not in _NX_FIELDS]
               + [kv for kv in fields if kv[0] in _NX_FIELDS])
    return parser.OFPMatch(_ordered_fields=ordered)


def canonical_match(ofpmatch) -> tuple:
    """An OFPMatch read from a switch, in our canonical (sorted) form."""
    items = []
    for name, value in ofpmatch.items():
        if isinstance(value, list):
            value = tuple(value)
        items.append((name, value))
    return tuple(sorted(items))


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
                                              n_bits=a.n_bits, src_ofs=0, dst_ofs=0))
        else:
            raise TypeError(f'unknown action {a!r}')
    return out


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


def learned_next_hop(dp, vni: int, ip, mac: str):
    """A next hop resolved by ARP: not part of the desired state (its own
    cookie tag keeps the reconciler away), it expires when idle."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    f = flow(tables.NEXTHOP, LEARNED_PRIORITY, (SetField('eth_dst', mac),), goto=tables.L2,
             metadata=vni, **{tables.NEXT_HOP_REG: int(ip)})
    return parser.OFPFlowMod(dp, cookie=LEARNED_COOKIE_TAG | int(ip), table_id=f.table,
                             command=ofp.OFPFC_ADD, priority=f.priority,
                             idle_timeout=LEARNED_IDLE_SECONDS, match=match_of(parser, f.match),
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


def messages_for(dp, plan: Plan) -> List:
    """The plan as one ordered list of messages (no bundle)."""
    before, bundled, after = plan_messages(dp, plan)
    return before + bundled + after


_ERROR_CODE_PREFIX = {0: 'OFPHFC_', 1: 'OFPBRC_', 2: 'OFPBAC_', 3: 'OFPBIC_', 4: 'OFPBMC_',
                      5: 'OFPFMFC_', 6: 'OFPGMFC_', 7: 'OFPPMFC_', 8: 'OFPTMFC_', 9: 'OFPQOFC_',
                      10: 'OFPSCFC_', 11: 'OFPRRFC_', 12: 'OFPMMFC_', 13: 'OFPTFFC_'}


def describe_error(ofp, err_type, code) -> str:
    """'OFPET_METER_MOD_FAILED/OFPMMFC_INVALID_METER' from the numbers, when known."""
    def name(prefix, value):
        for attr in dir(ofp):
            if attr.startswith(prefix) and getattr(ofp, attr) == value:
                return attr
        return str(value)
    return f'{name("OFPET_", err_type)}/{name(_ERROR_CODE_PREFIX.get(err_type, "-"), code)}'


def key_from_stats(stat) -> FlowKey:
    return (stat.table_id, stat.priority, canonical_match(stat.match))


def group_from_desc(desc) -> Optional[Group]:
    """Decode a group read from a switch; None if it is not one we could have made."""
    if desc.type != 0:                      # OFPGT_ALL
        return None
    buckets = []
    for bucket in desc.buckets:
        actions = []
        for a in bucket.actions:
            decoded = _decode_action(a)
            if decoded is None:
                return None
            actions.append(decoded)
        buckets.append(tuple(actions))
    return Group(desc.group_id, tuple(buckets))


def _decode_action(a):
    name = type(a).__name__
    if name == 'OFPActionOutput':
        return Output(a.port)
    if name == 'OFPActionGroup':
        return ToGroup(a.group_id)
    if name == 'OFPActionSetField':
        return SetField(a.key, a.value)
    return None


def meter_from_config(config) -> Optional[Meter]:
    """Decode a meter read from a switch; None if it is not one we could have made."""
    bands = list(config.bands)
    if len(bands) != 1 or type(bands[0]).__name__ != 'OFPMeterBandDrop':
        return None
    return Meter(config.meter_id, bands[0].rate, bands[0].burst_size)
