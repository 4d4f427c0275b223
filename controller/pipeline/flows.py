"""Flows and groups as plain, hashable data.

The pipeline produces these; the reconciler diffs them;
`controller.openflow.wire` encodes them as OpenFlow 1.3 bytes;
`controller.openflow.ofsim` executes them.  Nothing here knows about sockets
or os-ken.

Field names are OXM names as os-ken spells them (in_port, eth_dst, arp_tpa,
metadata, ...).  Match values are ints or strings ("52:54:00:..", "10.0.0.1");
a masked match value is a (value, mask) tuple.
"""
from __future__ import annotations

import hashlib
import marshal
from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple, Union

# Conntrack actions (OVS ct(), nat, ct_clear) live in their own module;
# they are actions like the ones below.
from controller.pipeline.conntrack import Ct, CtClear, describe_state
from controller.pipeline.conntrack import Nat as Nat  # re-exported: flows' users import it here
from controller.pipeline.drops import label_of

# Every flow we install carries this tag in the top 16 bits of its cookie
# ("vn"); the low 48 bits fingerprint the flow's whole content, so a flow
# read back from a switch tells us exactly which desired flow it is.
COOKIE_TAG = 0x766e << 48
COOKIE_MASK = 0xffff << 48
# Next hops learned by ARP carry "vo": the reconciler never reads or touches them.
LEARNED_COOKIE_TAG = 0x766f << 48
# A drop flow sets bit 47 and puts its reason (controller.pipeline.drops) in
# bits 40-46, above a 40-bit fingerprint; other flows have a 47-bit one.  So
# one flow-stats request by cookie and mask reads exactly the drop flows,
# and each one's counters name their reason.
DROP_BIT = 1 << 47
DROP_COOKIE, DROP_COOKIE_MASK = COOKIE_TAG | DROP_BIT, COOKIE_MASK | DROP_BIT
_REASON_SHIFT, _REASON_BITS = 40, 0x7f
_FINGERPRINT = (1 << 47) - 1
_DROP_FINGERPRINT = (1 << _REASON_SHIFT) - 1

OFPP_IN_PORT = 0xfffffff8
OFPP_CONTROLLER = 0xfffffffd
OFPP_LOCAL = 0xfffffffe

MatchValue = Union[int, str, Tuple[Union[int, str], Union[int, str]]]
Match = Tuple[Tuple[str, MatchValue], ...]
FlowKey = Tuple[int, int, Match]           # (table, priority, canonical match)


# The reprs below are plain f-strings: a flow's cookie hashes its repr, and
# dataclasses' generated __repr__ (with its recursion guard) costs ~10 µs a
# flow, a second per 100,000 flows.

@dataclass(frozen=True, repr=False)
class Output:
    port: int

    def __repr__(self):
        return f'Output({self.port})'


@dataclass(frozen=True, repr=False)
class ToGroup:
    group_id: int

    def __repr__(self):
        return f'ToGroup({self.group_id})'


@dataclass(frozen=True, repr=False)
class SetField:
    field: str
    value: Union[int, str]

    def __repr__(self):
        return f'SetField({self.field!r}, {self.value!r})'


@dataclass(frozen=True, repr=False)
class Move:
    """Copy n_bits of src, from bit src_ofs, into dst from bit dst_ofs (NXM reg_move)."""
    src: str
    dst: str
    n_bits: int
    src_ofs: int = 0
    dst_ofs: int = 0

    def __repr__(self):       # the offsets only when set: a flow's cookie hashes this
        if self.src_ofs or self.dst_ofs:
            return f'Move({self.src!r}, {self.dst!r}, {self.n_bits}, {self.src_ofs}, {self.dst_ofs})'
        return f'Move({self.src!r}, {self.dst!r}, {self.n_bits})'


@dataclass(frozen=True, repr=False)
class PopVlan:
    """Remove the outer 802.1Q tag (OFPAT_POP_VLAN)."""

    def __repr__(self):
        return 'PopVlan()'


@dataclass(frozen=True, repr=False)
class OutputReg:
    """Output to the port number held in the low n_bits of a register
    (NXAST_OUTPUT_REG): one flow sends to whichever port a frame names."""
    field: str
    n_bits: int

    def __repr__(self):
        return f'OutputReg({self.field!r}, {self.n_bits})'


@dataclass(frozen=True, repr=False)
class DecTtl:
    """Decrement the IPv4 TTL (the pipeline punts TTL <= 1 before this)."""

    def __repr__(self):
        return 'DecTtl()'


Action = Union[Output, ToGroup, SetField, Move, DecTtl, Ct, CtClear, PopVlan, OutputReg]


class Flow(NamedTuple):
    """One flow entry.  A NamedTuple, not a dataclass: the pipeline makes
    100,000 of these for 10,000 interfaces, and tuples are built in C."""
    table: int
    priority: int
    match: Match
    actions: Tuple[Action, ...] = ()
    goto: Optional[int] = None
    write_metadata: Optional[Tuple[int, int]] = None   # (value, mask)
    meter: Optional[int] = None                        # applied before the actions
    drop: Optional[int] = None                         # a drops.Drop: why this flow ends a packet

    @property
    def key(self) -> FlowKey:
        """What OpenFlow considers the identity of a flow in a table."""
        return (self.table, self.priority, self.match)

    @property
    def cookie(self) -> int:
        """Tag, drop reason and a fingerprint of the whole content: the same
        flow gets the same cookie in every process (see _content)."""
        fingerprint = int.from_bytes(_blake2b(_content(self), digest_size=8).digest(), 'big')
        if self.drop is None:
            return COOKIE_TAG | (fingerprint & _FINGERPRINT)
        return (DROP_COOKIE | (int(self.drop) & _REASON_BITS) << _REASON_SHIFT
                | (fingerprint & _DROP_FINGERPRINT))

    def describe(self) -> str:
        match = ','.join(f'{k}={_fmt_state(v) if k == "ct_state" else _fmt(v)}'
                         for k, v in self.match) or '*'
        acts = [f'meter:{self.meter}'] if self.meter is not None else []
        acts += [_fmt_action(a) for a in self.actions]
        if self.write_metadata is not None:
            acts.append('write_metadata:%#x/%#x' % self.write_metadata)
        if self.goto is not None:
            acts.append(f'goto:{self.goto}')
        if self.drop is not None:
            acts.append(f'drop:{drop_label(self.drop)}')
        return f'table={self.table} priority={self.priority} {match} -> {",".join(acts) or "drop"}'


@dataclass(frozen=True)
class Group:
    """An ALL group: every bucket gets a copy (used to flood a network)."""
    group_id: int
    buckets: Tuple[Tuple[Action, ...], ...]


@dataclass(frozen=True)
class Meter:
    """A packets-per-second limit with a burst, dropping the excess."""
    meter_id: int
    rate_pps: int
    burst: int


def flow(table, priority, actions=(), goto=None, write_metadata=None, meter=None, drop=None,
         **match) -> Flow:
    """Build a Flow with its match fields in canonical (sorted) order.
    (tuple.__new__ straight away: the NamedTuple's own __new__ is a Python
    function, and this runs 120,000 times at 10,000 interfaces.)"""
    return _tuple_new(Flow, (table, priority, tuple(sorted(match.items())), tuple(actions), goto,
                             write_metadata, meter, drop))


_tuple_new = tuple.__new__


def _content(f: Flow) -> bytes:
    """The flow's content as bytes, the same in every process and run:
    marshal's version 2 writes plain ints, strings, tuples and None by value
    only (no references to objects seen before, which version 3 adds, and
    no interned-string marks).  Actions are given by their repr (plain
    f-strings, see above), the drop reason by its number.  Building this
    costs a third of the flow's repr, whose Python-level enum and action
    reprs made cookies a third of a cold compile.  A value marshal cannot
    write (none of the pipeline's) falls back to the flow's repr."""
    table, priority, match, actions, goto, write_metadata, meter, drop = f
    try:
        return _marshal((table, priority, match, repr(actions) if actions else None, goto,
                         write_metadata, meter, None if drop is None else int(drop)), 2)
    except ValueError:
        return tuple.__repr__(f).encode()


_marshal = marshal.dumps
_blake2b = hashlib.blake2b


def drop_reason(cookie: int) -> Optional[int]:
    """The drop reason number a cookie of ours carries, or None (not a drop flow)."""
    if cookie & DROP_COOKIE_MASK != DROP_COOKIE:
        return None
    return (cookie >> _REASON_SHIFT) & _REASON_BITS


def drop_label(code: int) -> str:
    return label_of(int(code))


def _fmt(v):
    if isinstance(v, tuple):
        return f'{_fmt(v[0])}/{_fmt(v[1])}'
    return hex(v) if isinstance(v, int) and v > 9 else str(v)


def _fmt_state(v) -> str:
    """ct_state as ovs-ofctl spells it: +trk+est-rpl."""
    return describe_state(*v) if isinstance(v, tuple) else describe_state(v, 0xff)


def _fmt_action(a) -> str:
    if isinstance(a, Output):
        return {OFPP_IN_PORT: 'in_port', OFPP_CONTROLLER: 'controller',
                OFPP_LOCAL: 'local'}.get(a.port, f'output:{a.port}')
    if isinstance(a, ToGroup):
        return f'group:{a.group_id}'
    if isinstance(a, SetField):
        return f'set_field:{a.value}->{a.field}'
    if isinstance(a, DecTtl):
        return 'dec_ttl'
    if isinstance(a, (Ct, CtClear)):
        return a.describe()
    if isinstance(a, PopVlan):
        return 'pop_vlan'
    if isinstance(a, OutputReg):
        return f'output:{a.field}[0..{a.n_bits - 1}]'
    if a.src_ofs or a.dst_ofs:
        return (f'move:{a.src}[{a.src_ofs}..{a.src_ofs + a.n_bits - 1}]->'
                f'{a.dst}[{a.dst_ofs}..{a.dst_ofs + a.n_bits - 1}]')
    return f'move:{a.src}->{a.dst}'
