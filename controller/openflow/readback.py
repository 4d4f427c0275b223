"""What a switch reports back, as our flow data; OpenFlow error names.

Reading back: flow stats -> flow keys, group and meter descriptions ->
Group/Meter (or None when they are not ones we could have made).  Sending
is controller/wire.py's job.
"""
from __future__ import annotations

from typing import Optional

from controller.pipeline.flows import FlowKey, Group, Meter, Output, SetField, ToGroup


def canonical_match(ofpmatch) -> tuple:
    """An OFPMatch read from a switch, in our canonical (sorted) form."""
    items = []
    for name, value in ofpmatch.items():
        if isinstance(value, list):
            value = tuple(value)
        items.append((name, value))
    return tuple(sorted(items))


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
