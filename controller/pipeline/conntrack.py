"""Conntrack actions (OVS `ct()`, `nat`, `ct_clear`) and the ct_state bits.

Plain, hashable data like the other actions in `controller.pipeline.flows`
(which re-exports them): `controller.openflow.wire` encodes them as
NXAST_CT / NXAST_NAT / NXAST_CT_CLEAR, byte for byte what os-ken's
NXActionCT / NXActionNAT / NXActionCTClear send (tests/unit/test_wire_ct.py),
and `controller.openflow.ofsim` runs them through a simulated connection
tracker (`controller.openflow.conntrack_sim`).

Match on the result with the NXM fields ct_state, ct_zone, ct_mark and
ct_label (controller.openflow.oxm); `state(trk=1, est=1, rpl=0)` spells a
masked ct_state match: the named bits set (1) or clear (0), others ignored.

    flow(12, 10, actions=[Ct(zone=7, table=13)], in_port=3, eth_type=0x800)
    flow(13, 20, actions=[Ct(commit=True, zone=7, exec=(SetField('ct_mark', 5),))],
         goto=20, ct_state=state(trk=1, new=1), eth_type=0x800)
    Ct(commit=True, zone=0x8001, nat=Nat('src', '10.0.10.100'))      # SNAT on commit
    Ct(zone=0x8001, table=26, nat=Nat())                              # un-NAT on lookup

A nat without recirculation (no `table=`) changes the packet that leaves
the switch, but the tables after it still match the old addresses (OVS
translates in the datapath, not in the OpenFlow lookup; ofsim does the
same): recirculate when a later table must see the translation.

OVS refuses a flow with ct() unless it matches eth_type IPv4 or IPv6, and a
nat with IPv4 addresses unless it matches IPv4; ofsim checks both, as it
checks match prerequisites.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Optional, Tuple

# ct_state bits (ovs-fields(7))
NEW, EST, REL, RPL, INV, TRK, SNAT, DNAT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_BITS = {'new': NEW, 'est': EST, 'rel': REL, 'rpl': RPL, 'inv': INV, 'trk': TRK,
         'snat': SNAT, 'dnat': DNAT}

NO_RECIRCULATION = 0xff               # NX_CT_RECIRC_NONE
CT_FIELDS = ('ct_mark', 'ct_label')    # what exec() may set


def state(**bits: int) -> Tuple[int, int]:
    """A masked ct_state match: state(trk=1, est=1, rpl=0) -> (0x22, 0x2a)."""
    value = mask = 0
    for name, on in bits.items():
        bit = _BITS[name]
        mask |= bit
        if on:
            value |= bit
    return value, mask


def describe_state(value: int, mask: int) -> str:
    """'+trk+est-rpl' for (0x22, 0x2a), as ovs-ofctl prints ct_state."""
    return ''.join(('+' if value & bit else '-') + name
                   for name, bit in _BITS.items() if mask & bit)


@dataclass(frozen=True, repr=False)
class Nat:
    """nat(...) inside ct(): `kind` 'src' or 'dst' with an address range
    (and optionally a port range) sets up a translation when the connection
    is committed; Nat() with no kind applies the translation the connection
    already has (both directions), as OVS's plain `nat` does."""
    kind: Optional[str] = None          # 'src' | 'dst' | None
    ip_min: Optional[str] = None
    ip_max: Optional[str] = None
    port_min: Optional[int] = None
    port_max: Optional[int] = None
    persistent: bool = False
    random: bool = False                # port selection: random (else hash)

    def __post_init__(self):
        if self.kind not in (None, 'src', 'dst'):
            raise ValueError(f'nat kind must be src, dst or None, not {self.kind!r}')
        if self.kind is None and (self.ip_min or self.port_min is not None):
            raise ValueError('a nat range needs kind src or dst')
        if self.ip_max is not None and self.ip_min is None:
            raise ValueError('nat ip_max without ip_min')
        if self.port_max is not None and self.port_min is None:
            raise ValueError('nat port_max without port_min')
        for ip in (self.ip_min, self.ip_max):
            if ip is not None:
                try:
                    ipaddress.IPv4Address(ip)
                except ValueError:
                    raise ValueError(f'nat address {ip!r} is not an IPv4 address') from None
        for port in (self.port_min, self.port_max):
            if port is not None and not 0 <= port <= 0xffff:
                raise ValueError(f'nat port {port} out of range')

    def __repr__(self):
        return (f'Nat({self.kind!r}, {self.ip_min!r}, {self.ip_max!r}, {self.port_min!r}, '
                f'{self.port_max!r}, {self.persistent!r}, {self.random!r})')

    def describe(self) -> str:
        if self.kind is None:
            return 'nat'
        spec = self.ip_min or ''
        if self.ip_max is not None:
            spec += f'-{self.ip_max}'
        if self.port_min is not None:
            spec += f':{self.port_min}'
            if self.port_max is not None:
                spec += f'-{self.port_max}'
        flags = ''.join(f',{f}' for f in ('persistent', 'random') if getattr(self, f))
        return f'nat({self.kind}={spec}{flags})'


@dataclass(frozen=True, repr=False)
class Ct:
    """ct(): send the packet through the connection tracker in `zone`.

    `table`: recirculate a copy, with ct_state/ct_zone/ct_mark/ct_label set,
    to that table (registers and metadata kept); the rest of this flow's
    actions and its goto apply to the packet as it was.  None: no
    recirculation (use it with commit, then goto).  `commit` creates the
    connection's entry (or updates it); `exec` then sets ct_mark/ct_label
    on it (SetField('ct_mark', 5); OVS needs commit for that).  `nat`:
    see Nat.  `force`: commit after ending a connection seen the other way.
    """
    commit: bool = False
    zone: int = 0
    table: Optional[int] = None
    nat: Optional[Nat] = None
    exec: Tuple[Any, ...] = ()          # flows.SetField of ct_mark/ct_label (flows imports us)
    force: bool = False
    alg: int = 0                        # a helper's well-known port (21: ftp); 0: none

    def __post_init__(self):
        if not 0 <= self.zone <= 0xffff:
            raise ValueError(f'ct zone {self.zone} is not a 16-bit number')
        if self.table is not None and not 0 <= self.table < NO_RECIRCULATION:
            raise ValueError(f'ct table {self.table} out of range')
        for a in self.exec:
            if getattr(a, 'field', None) not in CT_FIELDS:
                raise ValueError(f'ct exec may only set {", ".join(CT_FIELDS)}, not {a!r}')
        if self.exec and not self.commit:
            raise ValueError('ct exec(set_field ct_mark/ct_label) needs commit')
        if self.force and not self.commit:
            raise ValueError('ct force needs commit')

    def __repr__(self):
        return (f'Ct({self.commit!r}, {self.zone!r}, {self.table!r}, {self.nat!r}, '
                f'{self.exec!r}, {self.force!r}, {self.alg!r})')

    def describe(self) -> str:
        parts = ['force' if self.force else 'commit'] if self.commit else []
        if self.table is not None:
            parts.append(f'table={self.table}')
        parts.append(f'zone={self.zone}')
        if self.alg:
            parts.append(f'alg={self.alg}')
        if self.nat is not None:
            parts.append(self.nat.describe())
        if self.exec:
            parts.append('exec(' + ','.join(f'set_field:{a.value:#x}->{a.field}'
                                            for a in self.exec) + ')')
        return f'ct({",".join(parts)})'


@dataclass(frozen=True, repr=False)
class CtClear:
    """ct_clear: forget the conntrack state (ct_state 0), e.g. before a
    lookup in another zone within the same pipeline pass."""

    def __repr__(self):
        return 'CtClear()'

    def describe(self) -> str:
        return 'ct_clear'
