"""OXM fields: the field table, match encoding and set-field actions.

The part of `controller.openflow.wire` that knows the fields (which, their
OXM class, number, size and kind of value) and turns match dicts and
set-field values into bytes, byte for byte what os-ken sends (see wire's
docstring; tests/unit/test_wire.py checks every field).  `wire` re-exports
the public names (`match_bytes`, `SUPPORTED_FIELDS`, `WireError`).

Match fields go in os-ken's order: standard OXM fields by field number,
then the Nicira ones (reg0, nw_ttl) -- after, not before, the fields they
depend on, as the reference's `match_of` does, because OVS checks prerequisites
in wire order.

Per field, `_Field.encode` takes the common spelling of a value the quick
way (an int, 'aa:bb:..', a dotted quad); anything else falls back to the
slow, validating path (`_oxm`, `_set_field_slow`), which also raises the
clear WireError.  Flow-mods are encoded by the hundred thousand: keep the
per-field loop free of extra calls and lookups.
"""
from __future__ import annotations

import socket
import struct
from typing import Dict

__all__ = ['WireError', 'match_bytes', 'SUPPORTED_FIELDS', 'OFPAT_SET_FIELD']


class WireError(ValueError):
    """Something we cannot (or will not) encode."""


OFPAT_SET_FIELD = 25

_MATCH_HDR = struct.Struct('!HH')                   # OFPMT_OXM, length (unpadded)
_PAD = (b'', b'\0' * 7, b'\0' * 6, b'\0' * 5, b'\0' * 4, b'\0' * 3, b'\0' * 2, b'\0')  # by len % 8

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
    'vlan_pcp': (_OFPXMC_OPENFLOW_BASIC, 7, 1, _INT),   # 3 bits; needs a tag (vlan_vid present)
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
    'reg3': (_OFPXMC_NXM_1, 3, 4, _INT),            # NXM_NX_REG3: output port (ingress ACL)
    'reg4': (_OFPXMC_NXM_1, 4, 4, _INT),            # NXM_NX_REG4, REG5: NAT's
    'reg5': (_OFPXMC_NXM_1, 5, 4, _INT),
    'reg6': (_OFPXMC_NXM_1, 6, 4, _INT),            # NXM_NX_REG6: the remote's groups (ACL)
    'ct_state': (_OFPXMC_NXM_1, 105, 4, _INT),      # NXM_NX_CT_STATE (conntrack.state())
    'ct_zone': (_OFPXMC_NXM_1, 106, 2, _INT),       # NXM_NX_CT_ZONE
    'ct_mark': (_OFPXMC_NXM_1, 107, 4, _INT),       # NXM_NX_CT_MARK
    'ct_label': (_OFPXMC_NXM_1, 108, 16, _INT),     # NXM_NX_CT_LABEL (128 bits)
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


# -- set-field actions ---------------------------------------------------------
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
