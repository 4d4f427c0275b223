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

Match fields go in os-ken's order: standard OXM fields by field number,
then the Nicira ones (reg0, nw_ttl) -- after, not before, the fields they
depend on, as the reference's `match_of` does, because OVS checks prerequisites
in wire order.

What os-ken sends, reproduced here: a (value, mask) match is sent as
(value & mask, mask) and always in the masked form, even for an all-ones
mask; "10.0.0.0/24" text is a masked match too; output actions carry
max_len 0xffff; flow adds have out_port/out_group 0, deletes ANY; a
set-field is padded to 16 bytes (8 + a value of at most 8); NXAST_REG_MOVE
is exactly 24 bytes (no padding) with ofs 0; a bundle add without
properties has no padding after its inner message.
"""
from __future__ import annotations

import socket
import struct
from typing import Dict, List, Optional, Tuple

from controller.pipeline.flows import DecTtl, Flow, Group, Meter, Move, Output, SetField, ToGroup

__all__ = [
    'WireError', 'flow_add', 'flow_delete', 'group_mod', 'group_delete', 'meter_mod',
    'meter_delete', 'barrier', 'bundle_ctrl', 'bundle_add', 'with_xid', 'xid_of', 'append',
    'append_bundle_add', 'match_bytes', 'actions_bytes', 'SUPPORTED_FIELDS',
]


class WireError(ValueError):
    """Something we cannot (or will not) encode."""


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
OFPAT_DEC_NW_TTL = 24
OFPAT_GROUP = 22
OFPAT_SET_FIELD = 25
OFPAT_EXPERIMENTER = 0xffff

NX_EXPERIMENTER_ID = 0x00002320
NXAST_REG_MOVE = 6

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
_MATCH_HDR = struct.Struct('!HH')                   # OFPMT_OXM, length (unpadded)
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

_BARRIER = _HEADER.pack(OFP_VERSION, OFPT_BARRIER_REQUEST, 8, 0)
_DEC_NW_TTL = struct.pack('!HH4x', OFPAT_DEC_NW_TTL, 8)
_PAD = (b'', b'\0' * 7, b'\0' * 6, b'\0' * 5, b'\0' * 4, b'\0' * 3, b'\0' * 2, b'\0')  # by len % 8

# -- OXM fields ----------------------------------------------------------------
_INT, _MAC, _IPV4 = 'int', 'mac', 'ipv4'
_OFPXMC_OPENFLOW_BASIC = 0x8000
_OFPXMC_NXM_1 = 0x0001

# name: (oxm class, field number, value size, kind)
_FIELD_TABLE = {
    'in_port': (_OFPXMC_OPENFLOW_BASIC, 0, 4, _INT),
    'metadata': (_OFPXMC_OPENFLOW_BASIC, 2, 8, _INT),
    'eth_dst': (_OFPXMC_OPENFLOW_BASIC, 3, 6, _MAC),
    'eth_src': (_OFPXMC_OPENFLOW_BASIC, 4, 6, _MAC),
    'eth_type': (_OFPXMC_OPENFLOW_BASIC, 5, 2, _INT),
    'vlan_vid': (_OFPXMC_OPENFLOW_BASIC, 6, 2, _INT),
    'ip_proto': (_OFPXMC_OPENFLOW_BASIC, 10, 1, _INT),
    'ipv4_src': (_OFPXMC_OPENFLOW_BASIC, 11, 4, _IPV4),
    'ipv4_dst': (_OFPXMC_OPENFLOW_BASIC, 12, 4, _IPV4),
    'tcp_src': (_OFPXMC_OPENFLOW_BASIC, 13, 2, _INT),
    'tcp_dst': (_OFPXMC_OPENFLOW_BASIC, 14, 2, _INT),
    'udp_src': (_OFPXMC_OPENFLOW_BASIC, 15, 2, _INT),
    'udp_dst': (_OFPXMC_OPENFLOW_BASIC, 16, 2, _INT),
    'icmpv4_type': (_OFPXMC_OPENFLOW_BASIC, 19, 1, _INT),
    'icmpv4_code': (_OFPXMC_OPENFLOW_BASIC, 20, 1, _INT),
    'arp_op': (_OFPXMC_OPENFLOW_BASIC, 21, 2, _INT),
    'arp_spa': (_OFPXMC_OPENFLOW_BASIC, 22, 4, _IPV4),
    'arp_tpa': (_OFPXMC_OPENFLOW_BASIC, 23, 4, _IPV4),
    'arp_sha': (_OFPXMC_OPENFLOW_BASIC, 24, 6, _MAC),
    'arp_tha': (_OFPXMC_OPENFLOW_BASIC, 25, 6, _MAC),
    'tunnel_id': (_OFPXMC_OPENFLOW_BASIC, 38, 8, _INT),   # the VXLAN VNI
    'reg0': (_OFPXMC_NXM_1, 0, 4, _INT),            # NXM_NX_REG0: next hop
    'reg1': (_OFPXMC_NXM_1, 1, 4, _INT),            # NXM_NX_REG1: punt reason
    'reg2': (_OFPXMC_NXM_1, 2, 4, _INT),            # NXM_NX_REG2: came from the tunnel
    'tun_ipv4_src': (_OFPXMC_NXM_1, 31, 4, _IPV4),  # NXM_NX_TUN_IPV4_SRC
    'tun_ipv4_dst': (_OFPXMC_NXM_1, 32, 4, _IPV4),  # NXM_NX_TUN_IPV4_DST
    'nw_ttl': (_OFPXMC_NXM_1, 29, 1, _INT),         # NXM_NX_IP_TTL
}
SUPPORTED_FIELDS = frozenset(_FIELD_TABLE)


class _Field:
    __slots__ = ('name', 'rank', 'header', 'header_w', 'size', 'kind', 'encode', 'set_field')

    def __init__(self, name, oxm_class, number, size, kind):
        oxm_type = (oxm_class << 7) | number
        self.name = name
        # standard fields by number, then Nicira ones (see the module doc)
        self.rank = number if oxm_class == _OFPXMC_OPENFLOW_BASIC else 0x10000 + oxm_type
        self.header = struct.pack('!I', (oxm_type << 9) | size)
        self.header_w = struct.pack('!I', (oxm_type << 9) | 0x100 | (2 * size))
        self.size = size
        self.kind = kind
        self.encode = _fast_encoder(self.header, size, kind)
        # set_field: action header, the TLV, padding to 8 bytes
        n = 4 + 4 + size
        pad = _PAD[n & 7]
        self.set_field = (struct.pack('!HH', OFPAT_SET_FIELD, n + len(pad)), pad)


def _fast_encoder(header: bytes, size: int, kind: str):
    """header + value for the common spelling of a value (an int; 'aa:bb:..';
    a dotted quad).  Anything else raises, and the caller falls back to the
    slow, validating path (_oxm / _set_field)."""
    if kind is _INT:
        def encode(value):
            return header + value.to_bytes(size, 'big')
    elif kind is _MAC:
        fromhex = bytes.fromhex

        def encode(value):
            b = fromhex(value.replace(':', ''))
            if len(b) != 6:
                raise ValueError(value)
            return header + b
    else:
        inet_pton, af_inet = socket.inet_pton, socket.AF_INET

        def encode(value):
            return header + inet_pton(af_inet, value)
    return encode


_FIELDS: Dict[str, _Field] = {name: _Field(name, *spec) for name, spec in _FIELD_TABLE.items()}


def _field(name: str) -> _Field:
    try:
        return _FIELDS[name]
    except (KeyError, TypeError):
        raise WireError(f'unsupported match/set-field field {name!r} '
                        f'(supported: {", ".join(sorted(_FIELDS))})') from None


def _mac(value) -> bytes:
    if isinstance(value, str):
        try:
            b = bytes.fromhex(value.replace(':', '').replace('-', ''))
        except ValueError:
            b = b''
        if len(b) == 6:
            return b
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 48:
        return value.to_bytes(6, 'big')
    raise WireError(f'not a MAC address: {value!r}')


def _ipv4(value):
    """4 bytes, or (value, mask) for CIDR text as os-ken reads it."""
    if isinstance(value, str):
        try:
            return socket.inet_pton(socket.AF_INET, value)
        except OSError:
            if '/' in value:
                import ipaddress
                try:
                    net = ipaddress.IPv4Interface(value)
                except ValueError:
                    pass
                else:
                    return net.ip.packed, net.netmask.packed
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 32:
        return value.to_bytes(4, 'big')
    elif hasattr(value, 'packed') and getattr(value, 'version', None) == 4:
        return value.packed                     # ipaddress.IPv4Address
    raise WireError(f'not an IPv4 address: {value!r}')


def _int(value, size: int, name: str) -> bytes:
    try:
        return value.to_bytes(size, 'big')
    except (AttributeError, OverflowError, TypeError):
        raise WireError(f'{name}: {value!r} is not an unsigned {size * 8}-bit integer') from None


def _value(fld: _Field, value):
    kind = fld.kind
    if kind is _INT:
        return _int(value, fld.size, fld.name)
    if kind is _MAC:
        return _mac(value)
    return _ipv4(value)


def _and(value: bytes, mask: bytes) -> bytes:
    return bytes(v & m for v, m in zip(value, mask))


def _oxm(name: str, value) -> bytes:
    """One match entry's TLV, the slow way; a tuple value is (value, mask)."""
    fld = _field(name)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise WireError(f'{name}: a masked value is (value, mask), not {value!r}')
        v, m = _value(fld, value[0]), _value(fld, value[1])
        if isinstance(v, tuple) or isinstance(m, tuple):
            raise WireError(f'{name}: CIDR text inside a (value, mask) pair: {value!r}')
        # os-ken's OFPMatch stores the value ANDed with the mask
        return fld.header_w + _and(v, m) + m
    v = _value(fld, value)
    if isinstance(v, tuple):                    # "10.0.0.0/24", as os-ken reads it
        v, m = v
        return fld.header_w + _and(v, m) + m
    return fld.header + v


_FIELDS_get = _FIELDS.get


def match_bytes(match) -> bytes:
    """ofp_match (OXM) in os-ken's field order, padded to 8 bytes."""
    entries = []
    for name, value in (dict(match).items() if len(match) > 1 else match):   # last one wins
        fld = _FIELDS_get(name) or _field(name)     # _field raises a clear WireError
        try:
            tlv = fld.encode(value)
        except Exception:
            tlv = _oxm(name, value)         # a mask, another spelling, or a clear WireError
        entries.append((fld.rank, tlv))
    entries.sort()
    body = b''.join([tlv for _, tlv in entries])
    length = 4 + len(body)
    return _MATCH_HDR.pack(1, length) + body + _PAD[length & 7]


# -- actions -------------------------------------------------------------------
def _set_field_slow(name: str, value) -> bytes:
    fld = _field(name)
    if isinstance(value, (tuple, list)):
        raise WireError(f'set_field {name}: no mask allowed, got {value!r}')
    v = _value(fld, value)
    if isinstance(v, tuple):
        raise WireError(f'set_field {name}: no mask allowed, got {value!r}')
    head, pad = fld.set_field
    return head + fld.header + v + pad


def _set_field(a) -> bytes:
    fld = _FIELDS_get(a.field) or _field(a.field)
    try:
        head, pad = fld.set_field
        return head + fld.encode(a.value) + pad
    except Exception:
        return _set_field_slow(a.field, a.value)


def _output(a) -> bytes:
    return _ACTION_OUTPUT.pack(OFPAT_OUTPUT, 16, a.port, OFPCML_NO_BUFFER)


def _move(a) -> bytes:
    return (_ACTION_REG_MOVE.pack(OFPAT_EXPERIMENTER, 24, NX_EXPERIMENTER_ID, NXAST_REG_MOVE,
                                  a.n_bits, 0, 0) + _field(a.src).header + _field(a.dst).header)


def _group(a) -> bytes:
    return _ACTION_GROUP.pack(OFPAT_GROUP, 8, a.group_id)


def _dec_ttl(a) -> bytes:
    return _DEC_NW_TTL


_ACTION_ENCODERS = {Output: _output, SetField: _set_field, Move: _move, ToGroup: _group,
                    DecTtl: _dec_ttl}
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
