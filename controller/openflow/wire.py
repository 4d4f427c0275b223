"""Our flow data -> OpenFlow 1.3 wire bytes, without os-ken objects.

Building and serializing os-ken message objects costs about 100 us per
flow-mod; this module encodes `controller.pipeline.flows` data straight to
bytes with `struct`, byte for byte what os-ken sends for the same data
(tests/unit/test_wire.py proves it for every flow the pipeline makes,
against the os-ken translation in tests/osken_reference.py).

Every function returns one complete message.  Its xid is the `xid` argument
(0 by default, a placeholder): a message for a given Flow never changes, so
callers may cache `flow_add(f)` by cookie and stamp the xid on the way out
with `with_xid` (a new bytes object) or, cheaper, `append` (straight into
the bytearray being sent).  A bundle-add's inner message must carry the
outer xid: `bundle_add` and `append_bundle_add` stamp both.

Match fields and set-field actions are encoded by `controller.openflow.oxm`
(the field table; matches in os-ken's field order); the names it shares
(`match_bytes`, `SUPPORTED_FIELDS`, `WireError`) are importable from here too.

What os-ken sends, reproduced here: a (value, mask) match is sent as
(value & mask, mask) and always in the masked form, even for an all-ones
mask; "10.0.0.0/24" text is a masked match too; output actions carry
max_len 0xffff; flow adds have out_port/out_group 0, deletes ANY; a
set-field is padded to 16 bytes (8 + a value of at most 8); NXAST_REG_MOVE
is exactly 24 bytes (no padding) with the Move's bit offsets; NXAST_OUTPUT_REG
reads from bit 0 and carries max_len 0xffff, as OVS's own `output:reg5[0..14]`
does; a bundle add without properties has no padding after its inner message.
"""
from __future__ import annotations

import socket
import struct
from typing import List, Optional, Tuple

from controller.openflow.oxm import _FIELDS as _FIELDS  # re-exported (tests use it)
from controller.openflow.oxm import OFPAT_SET_FIELD as OFPAT_SET_FIELD  # re-exported
from controller.openflow.oxm import SUPPORTED_FIELDS, WireError, _field, _set_field, match_bytes
from controller.pipeline.flows import (
    Ct,
    CtClear,
    DecTtl,
    Flow,
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

__all__ = [
    'WireError', 'flow_add', 'flow_delete', 'group_mod', 'group_delete', 'meter_mod',
    'meter_delete', 'barrier', 'bundle_ctrl', 'bundle_add', 'with_xid', 'xid_of', 'append',
    'append_bundle_add', 'match_bytes', 'actions_bytes', 'SUPPORTED_FIELDS',
]

# -- protocol constants (OpenFlow 1.3, ONF bundle extension, Nicira) --------
OFP_VERSION = 4
OFPT_EXPERIMENTER = 4
OFPT_FLOW_MOD = 14
OFPT_GROUP_MOD = 15
OFPT_BARRIER_REQUEST = 20
OFPT_METER_MOD = 29

OFPFC_ADD = 0
OFPFC_MODIFY = 1
OFPFC_MODIFY_STRICT = 2
OFPFC_DELETE = 3
OFPFC_DELETE_STRICT = 4

OFPGC_ADD = 0
OFPGC_MODIFY = 1
OFPGC_DELETE = 2
OFPGT_ALL = 0

OFPMC_ADD = 0
OFPMC_MODIFY = 1
OFPMC_DELETE = 2
OFPMF_PKTPS = 2
OFPMF_BURST = 4
OFPMBT_DROP = 1

OFPP_ANY = 0xffffffff
OFPG_ANY = 0xffffffff
OFP_NO_BUFFER = 0xffffffff
OFPCML_NO_BUFFER = 0xffff
ALL_ONES_64 = 0xffffffffffffffff

OFPIT_GOTO_TABLE = 1
OFPIT_WRITE_METADATA = 2
OFPIT_APPLY_ACTIONS = 4
OFPIT_METER = 6

OFPAT_OUTPUT = 0
OFPAT_POP_VLAN = 18
OFPAT_DEC_NW_TTL = 24
OFPAT_GROUP = 22
# OFPAT_SET_FIELD = 25 is in oxm (set-field actions), imported above
OFPAT_EXPERIMENTER = 0xffff

NX_EXPERIMENTER_ID = 0x00002320
NXAST_REG_MOVE = 6
NXAST_OUTPUT_REG = 15
NXAST_CT = 35
NXAST_NAT = 36
NXAST_CT_CLEAR = 43
NX_CT_F_COMMIT, NX_CT_F_FORCE = 1, 2
NX_CT_RECIRC_NONE = 0xff
NX_NAT_F_SRC, NX_NAT_F_DST, NX_NAT_F_PERSISTENT, NX_NAT_F_PROTO_RANDOM = 1, 2, 4, 16
NX_NAT_RANGE_IPV4_MIN, NX_NAT_RANGE_IPV4_MAX = 1, 2
NX_NAT_RANGE_PROTO_MIN, NX_NAT_RANGE_PROTO_MAX = 16, 32

ONF_EXPERIMENTER_ID = 0x4f4e4600
ONF_ET_BUNDLE_CONTROL = 2300
ONF_ET_BUNDLE_ADD_MESSAGE = 2301
ONF_BCT_OPEN_REQUEST = 0
ONF_BCT_CLOSE_REQUEST = 2
ONF_BCT_COMMIT_REQUEST = 4
ONF_BCT_DISCARD_REQUEST = 6
ONF_BF_ATOMIC = 1
ONF_BF_ORDERED = 2

# -- structs ------------------------------------------------------------------
# header + ofp_flow_mod up to the match: version, type, length, xid, cookie,
# cookie_mask, table_id, command, idle, hard, priority, buffer_id, out_port,
# out_group, flags, pad[2]
_FLOW_MOD = struct.Struct('!BBHIQQBBHHHIIIH2x')
_FLOW_MOD_LEN = _FLOW_MOD.size                      # 48
_HEADER = struct.Struct('!BBHI')
_XID = struct.Struct('!I')
_GROUP_MOD = struct.Struct('!BBHIHBxI')             # header + command, type, pad, group_id
_BUCKET = struct.Struct('!HHII4x')                  # len, weight, watch_port, watch_group
_METER_MOD = struct.Struct('!BBHIHHI')              # header + command, flags, meter_id
_METER_BAND_DROP = struct.Struct('!HHII4x')         # type, len, rate, burst_size
_BUNDLE_CTRL = struct.Struct('!BBHIIIIHH')          # header + exp id, exp type + id, type, flags
_BUNDLE_ADD = struct.Struct('!BBHIIII2xH')          # header + exp id, exp type + id, pad, flags
_BUNDLE_ADD_LEN = _BUNDLE_ADD.size                  # 24
_INST_HDR = struct.Struct('!HH4x')
_INST_METER = struct.Struct('!HHI')
_INST_WRITE_METADATA = struct.Struct('!HH4xQQ')
_INST_GOTO = struct.Struct('!HHB3x')
_ACTION_OUTPUT = struct.Struct('!HHIH6x')
_ACTION_GROUP = struct.Struct('!HHI')
# type, len, experimenter, subtype, n_bits, src_ofs, dst_ofs; then the src and
# dst OXM headers: 24 bytes in all, so no padding
_ACTION_REG_MOVE = struct.Struct('!HHIHHHH')
# NXAST_OUTPUT_REG: header, subtype, ofs_nbits, the src OXM header, max_len, pad
_ACTION_OUTPUT_REG = struct.Struct('!HHIHH4sH6x')
# NXAST_CT: header, subtype, flags, zone_src (0: immediate), zone (ofs_nbits),
# recirc_table, pad, alg; then the nested actions (exec, nat)
_ACTION_CT = struct.Struct('!HHIHH4sHB3xH')
# NXAST_NAT: header, subtype, pad, flags, range_present; then the ranges present
_ACTION_NAT = struct.Struct('!HHIH2xHH')
_ACTION_CT_CLEAR = struct.pack('!HHIH6x', 0xffff, 16, NX_EXPERIMENTER_ID, NXAST_CT_CLEAR)

_BARRIER = _HEADER.pack(OFP_VERSION, OFPT_BARRIER_REQUEST, 8, 0)
_DEC_NW_TTL = struct.pack('!HH4x', OFPAT_DEC_NW_TTL, 8)
_POP_VLAN = struct.pack('!HH4x', OFPAT_POP_VLAN, 8)


# -- actions -------------------------------------------------------------------
def _output(a) -> bytes:
    return _ACTION_OUTPUT.pack(OFPAT_OUTPUT, 16, a.port, OFPCML_NO_BUFFER)


def _move(a) -> bytes:
    return (_ACTION_REG_MOVE.pack(OFPAT_EXPERIMENTER, 24, NX_EXPERIMENTER_ID, NXAST_REG_MOVE,
                                  a.n_bits, a.src_ofs, a.dst_ofs)
            + _field(a.src).header + _field(a.dst).header)


def _output_reg(a) -> bytes:
    """Output to the port in bits [0, n_bits) of a.field (ofs_nbits: ofs << 6 | n_bits - 1)."""
    if not 1 <= a.n_bits <= 32:
        raise WireError(f'{a!r}: n_bits must be 1..32')
    return _ACTION_OUTPUT_REG.pack(OFPAT_EXPERIMENTER, 24, NX_EXPERIMENTER_ID, NXAST_OUTPUT_REG,
                                   a.n_bits - 1, _field(a.field).header, OFPCML_NO_BUFFER)


def _pop_vlan(a) -> bytes:
    return _POP_VLAN


def _group(a) -> bytes:
    return _ACTION_GROUP.pack(OFPAT_GROUP, 8, a.group_id)


def _dec_ttl(a) -> bytes:
    return _DEC_NW_TTL


def _nat(n: Nat) -> bytes:
    """NXAST_NAT, padded to 8 bytes (os-ken's NXActionNAT writes a range
    whose size is not a multiple of 8 without its padding; OVS needs it)."""
    flags = {None: 0, 'src': NX_NAT_F_SRC, 'dst': NX_NAT_F_DST}[n.kind]
    flags |= (NX_NAT_F_PERSISTENT if n.persistent else 0) | (NX_NAT_F_PROTO_RANDOM if n.random else 0)
    present, ranges = 0, b''
    for bit, ip in ((NX_NAT_RANGE_IPV4_MIN, n.ip_min), (NX_NAT_RANGE_IPV4_MAX, n.ip_max)):
        if ip is not None:
            present |= bit
            ranges += socket.inet_aton(ip)
    for bit, port in ((NX_NAT_RANGE_PROTO_MIN, n.port_min), (NX_NAT_RANGE_PROTO_MAX, n.port_max)):
        if port is not None:
            present |= bit
            ranges += port.to_bytes(2, 'big')
    length = (_ACTION_NAT.size + len(ranges) + 7) // 8 * 8
    return (_ACTION_NAT.pack(OFPAT_EXPERIMENTER, length, NX_EXPERIMENTER_ID, NXAST_NAT, flags, present)
            + ranges + bytes(length - _ACTION_NAT.size - len(ranges)))


def _ct(a: Ct) -> bytes:
    """NXAST_CT with an immediate zone; nested actions: nat, then exec's set-fields."""
    nested = (_nat(a.nat) if a.nat is not None else b'') + b''.join(_set_field(x) for x in a.exec)
    flags = (NX_CT_F_COMMIT if a.commit else 0) | (NX_CT_F_FORCE if a.force else 0)
    table = NX_CT_RECIRC_NONE if a.table is None else a.table
    return _ACTION_CT.pack(OFPAT_EXPERIMENTER, _ACTION_CT.size + len(nested), NX_EXPERIMENTER_ID,
                           NXAST_CT, flags, b'\0\0\0\0', a.zone, table, a.alg) + nested


def _ct_clear(a) -> bytes:
    return _ACTION_CT_CLEAR


_ACTION_ENCODERS = {Output: _output, SetField: _set_field, Move: _move, ToGroup: _group,
                    DecTtl: _dec_ttl, Ct: _ct, CtClear: _ct_clear, PopVlan: _pop_vlan,
                    OutputReg: _output_reg}
_ACTION_ENCODERS_get = _ACTION_ENCODERS.get


def _unsupported(a):
    raise WireError(f'unsupported action {a!r}')


def actions_bytes(actions) -> bytes:
    """A list of actions, each a multiple of 8 bytes long."""
    try:
        return b''.join([_ACTION_ENCODERS_get(type(a), _unsupported)(a) for a in actions])
    except struct.error as e:
        raise WireError(f'{actions!r}: {e}') from None


def _instructions(f: Flow) -> bytes:
    """Same order as the reference's instructions_of: meter, apply, write-metadata, goto."""
    out = []
    if f.meter is not None:
        out.append(_INST_METER.pack(OFPIT_METER, 8, f.meter))
    if f.actions:
        acts = actions_bytes(f.actions)
        out.append(_INST_HDR.pack(OFPIT_APPLY_ACTIONS, 8 + len(acts)))   # actions are 8-aligned
        out.append(acts)
    if f.write_metadata is not None:
        value, mask = f.write_metadata
        out.append(_INST_WRITE_METADATA.pack(OFPIT_WRITE_METADATA, 24, value, mask))
    if f.goto is not None:
        out.append(_INST_GOTO.pack(OFPIT_GOTO_TABLE, 8, f.goto))
    return b''.join(out)


# -- messages ------------------------------------------------------------------
def flow_add(f: Flow, xid: int = 0, cookie: Optional[int] = None, idle_timeout: int = 0) -> bytes:
    """OFPFC_ADD of `f`.  Pass `cookie` if you already have f.cookie (it
    hashes the whole flow); `cookie`/`idle_timeout` also make the message
    of a learned next hop (SwitchSession.learn_next_hop)."""
    if cookie is None:
        cookie = f.cookie
    try:
        tail = match_bytes(f.match) + _instructions(f)
        return _FLOW_MOD.pack(OFP_VERSION, OFPT_FLOW_MOD, _FLOW_MOD_LEN + len(tail), xid,
                              cookie, 0, f.table, OFPFC_ADD, idle_timeout, 0, f.priority,
                              OFP_NO_BUFFER, 0, 0, 0) + tail
    except struct.error as e:
        raise WireError(f'{f!r}: {e}') from None


def flow_delete(cookie: int, key, xid: int = 0) -> bytes:
    """OFPFC_DELETE_STRICT of the entry `key` = (table, priority, match), only
    while it carries `cookie`."""
    table, priority, match = key
    tail = match_bytes(match)
    try:
        return _FLOW_MOD.pack(OFP_VERSION, OFPT_FLOW_MOD, _FLOW_MOD_LEN + len(tail), xid,
                              cookie, ALL_ONES_64, table, OFPFC_DELETE_STRICT, 0, 0, priority,
                              OFP_NO_BUFFER, OFPP_ANY, OFPG_ANY, 0) + tail
    except struct.error as e:
        raise WireError(f'delete {cookie!r} {key!r}: {e}') from None


def group_mod(g: Group, command: int, xid: int = 0) -> bytes:
    """An ALL group; command OFPGC_ADD or OFPGC_MODIFY."""
    buckets = []
    for b in g.buckets:
        acts = actions_bytes(b)
        buckets.append(_BUCKET.pack(16 + len(acts), 0, OFPP_ANY, OFPG_ANY))
        buckets.append(acts)
    tail = b''.join(buckets)
    try:
        return _GROUP_MOD.pack(OFP_VERSION, OFPT_GROUP_MOD, 16 + len(tail), xid,
                               command, OFPGT_ALL, g.group_id) + tail
    except struct.error as e:
        raise WireError(f'{g!r}: {e}') from None


def group_delete(group_id: int, xid: int = 0) -> bytes:
    return _GROUP_MOD.pack(OFP_VERSION, OFPT_GROUP_MOD, 16, xid, OFPGC_DELETE, OFPGT_ALL,
                           group_id)


def meter_mod(m: Meter, command: int, xid: int = 0) -> bytes:
    """A pkt/s meter with a burst and one drop band."""
    return (_METER_MOD.pack(OFP_VERSION, OFPT_METER_MOD, 32, xid, command,
                            OFPMF_PKTPS | OFPMF_BURST, m.meter_id)
            + _METER_BAND_DROP.pack(OFPMBT_DROP, 16, m.rate_pps, m.burst))


def meter_delete(meter_id: int, xid: int = 0) -> bytes:
    return _METER_MOD.pack(OFP_VERSION, OFPT_METER_MOD, 16, xid, OFPMC_DELETE, 0, meter_id)


def barrier(xid: int = 0) -> bytes:
    return _HEADER.pack(OFP_VERSION, OFPT_BARRIER_REQUEST, 8, xid) if xid else _BARRIER


def bundle_ctrl(bundle_id: int, type_: int, flags: int, xid: int = 0) -> bytes:
    """ONF bundle control (no properties): open/close/commit/discard."""
    return _BUNDLE_CTRL.pack(OFP_VERSION, OFPT_EXPERIMENTER, 24, xid, ONF_EXPERIMENTER_ID,
                             ONF_ET_BUNDLE_CONTROL, bundle_id, type_, flags)


def bundle_add(bundle_id: int, flags: int, inner: bytes, xid: int = 0) -> bytes:
    """ONF bundle add (no properties, so no padding after `inner`); the
    inner message's xid is set to `xid` as well."""
    return (_BUNDLE_ADD.pack(OFP_VERSION, OFPT_EXPERIMENTER, _BUNDLE_ADD_LEN + len(inner), xid,
                             ONF_EXPERIMENTER_ID, ONF_ET_BUNDLE_ADD_MESSAGE, bundle_id, flags)
            + inner[:4] + _XID.pack(xid) + inner[8:])


def plan_messages(plan, encoded_add=None) -> Tuple[List[bytes], List[bytes], List[bytes]]:
    """The plan as (before, bundled, after) messages, xids left at 0.

    OVS cannot put meter mods in a bundle, so new and changed meters go just
    before it and stale ones just after; flows and groups go in the bundle.
    The order within each list is safe even without a bundle: groups before
    the flows that use them, stale flows before their groups.  `encoded_add`
    (cookie, flow) -> bytes lets the caller reuse flow-mods it encoded before.
    """
    encoded_add = encoded_add or (lambda cookie, f: flow_add(f, cookie=cookie))
    before = [meter_mod(m, OFPMC_ADD) for m in plan.meter_adds]
    before += [meter_mod(m, OFPMC_MODIFY) for m in plan.meter_mods]
    bundled = [group_mod(g, OFPGC_ADD) for g in plan.group_adds]
    bundled += [group_mod(g, OFPGC_MODIFY) for g in plan.group_mods]
    bundled += [encoded_add(c, f) for c, f in plan.adds_with_cookies()]
    bundled += [flow_delete(c, key) for c, key in plan.flow_deletes]
    bundled += [group_delete(gid) for gid in plan.group_deletes]
    after = [meter_delete(mid) for mid in plan.meter_deletes]
    return before, bundled, after


# -- xids ----------------------------------------------------------------------
def with_xid(msg: bytes, xid: int) -> bytes:
    """`msg` with its header's xid (bytes 4..8) replaced.  Not for a bundle
    add (its inner xid would be left behind): use bundle_add."""
    return msg[:4] + _XID.pack(xid) + msg[8:]


def xid_of(msg) -> int:
    return _XID.unpack_from(msg, 4)[0]


_pack_xid_into = _XID.pack_into


def append(buf: bytearray, msg: bytes, xid: int) -> None:
    """buf += msg, with the xid stamped in place (no intermediate copy)."""
    at = len(buf)
    buf += msg
    _pack_xid_into(buf, at + 4, xid)


def append_bundle_add(buf: bytearray, bundle_id: int, flags: int, inner: bytes, xid: int) -> None:
    """buf += bundle_add(bundle_id, flags, inner, xid), without the copies."""
    at = len(buf)
    buf += _BUNDLE_ADD.pack(OFP_VERSION, OFPT_EXPERIMENTER, _BUNDLE_ADD_LEN + len(inner), xid,
                            ONF_EXPERIMENTER_ID, ONF_ET_BUNDLE_ADD_MESSAGE, bundle_id, flags)
    buf += inner
    _pack_xid_into(buf, at + _BUNDLE_ADD_LEN + 4, xid)
