"""A simulated connection tracker for ofsim: what OVS's ct() does to a packet.

Per zone, connections keyed by their 5-tuple in both directions (the reply
key is the reverse of the original after NAT).  A lookup gives ct_state as
OVS reports it (ovs-fields(7)), with the userspace datapath's rules:

- +trk always; +new for a packet of no connection that may start one (TCP
  with SYN and without ACK/RST/FIN when the packet says `tcp_flags`, any
  UDP, an ICMP echo request), and for packets in the original direction of a
  committed connection until a reply is seen; +est after that, and for
  replies (+est+rpl); +rel for an ICMP error whose `icmp_inner` packet (a
  dict of the fields of the packet it is about) is of a connection; +inv
  for anything else (a TCP non-SYN or an echo reply out of nowhere).
- commit creates the connection (never for +inv), or updates an existing
  one; exec sets its ct_mark/ct_label.  Uncommitted: ct_mark/ct_label 0.
- nat: Nat('src'|'dst', ...) on the commit of a new connection sets up its
  translation (the range's first address, first port if a range is given);
  any nat on a later lookup applies the translation, reversed for replies,
  and sets +snat/+dnat; an ICMP error's outer and inner addresses are
  translated too.  Without nat in the ct() action nothing is translated.

Connections outlive flow changes: share one ConnTracker between the
FakeSwitches of successive compiles (FakeSwitch(..., conntrack=...)).
Ports of TCP/UDP, ICMP echo ids (`icmp_id`, 0 if absent) form the tuple.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from controller.packets.constants import IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP
from controller.pipeline.conntrack import DNAT, EST, INV, NEW, REL, RPL, SNAT, TRK, Ct

Tuple5 = Tuple[int, str, str, int, int]          # proto, src, dst, sport, dport
_ICMP_ECHO_REQUEST, _ICMP_ECHO_REPLY = 8, 0
_ICMP_ERRORS = {3, 4, 5, 11, 12}
_TCP_SYN, _TCP_RST, _TCP_ACK, _TCP_FIN = 0x02, 0x04, 0x10, 0x01
_PORTS = {IP_PROTO_TCP: ('tcp_src', 'tcp_dst'), IP_PROTO_UDP: ('udp_src', 'udp_dst')}


@dataclass
class Connection:
    zone: int
    original: Tuple5                 # as first seen
    reply: Tuple5                    # what a reply looks like (after NAT)
    nat: Optional[Tuple[str, str, Optional[int]]] = None   # (kind, address, port)
    mark: int = 0
    label: int = 0
    replied: bool = False


def tuple_of(pkt: dict) -> Optional[Tuple5]:
    """The packet's 5-tuple, or None when it is not IPv4 conntrack sees."""
    proto = pkt.get('ip_proto')
    if pkt.get('eth_type') != 0x0800 or proto is None:
        return None
    if proto in _PORTS:
        s, d = _PORTS[proto]
        return (proto, str(pkt['ipv4_src']), str(pkt['ipv4_dst']), pkt.get(s, 0), pkt.get(d, 0))
    ident = pkt.get('icmp_id', 0) if proto == IP_PROTO_ICMP else 0
    return (proto, str(pkt['ipv4_src']), str(pkt['ipv4_dst']), ident, ident)


def _reverse(t: Tuple5) -> Tuple5:
    return (t[0], t[2], t[1], t[4], t[3])


def _may_start(pkt: dict) -> bool:
    proto = pkt.get('ip_proto')
    if proto == IP_PROTO_TCP:
        flags = pkt.get('tcp_flags', _TCP_SYN)
        return bool(flags & _TCP_SYN) and not flags & (_TCP_ACK | _TCP_RST | _TCP_FIN)
    if proto == IP_PROTO_ICMP:
        return pkt.get('icmpv4_type') == _ICMP_ECHO_REQUEST
    return True


@dataclass
class ConnTracker:
    """One datapath's connection table, all zones."""
    table: Dict[Tuple[int, Tuple5], Tuple[Connection, bool]] = field(default_factory=dict)
    # (zone, tuple) -> (connection, True when the tuple is its reply direction)

    def connections(self, zone: Optional[int] = None) -> List[Connection]:
        seen = {id(c): c for c, _ in self.table.values() if zone is None or c.zone == zone}
        return list(seen.values())

    def flush(self, zone: Optional[int] = None) -> None:
        """dpctl/flush-conntrack [zone=N]."""
        self.table = {k: v for k, v in self.table.items() if zone is not None and k[0] != zone}

    def execute(self, action: Ct, pkt: dict) -> dict:
        """Run `pkt` through ct(): the packet as it leaves the tracker (NAT
        applied) with ct_state, ct_zone, ct_mark and ct_label set."""
        out = dict(pkt)
        t = tuple_of(pkt)
        if t is None:                                  # ct() on a non-IPv4 packet
            out.update(ct_state=TRK | INV, ct_zone=action.zone, ct_mark=0, ct_label=0)
            return out
        conn, reply, state = self._lookup(action.zone, t, pkt)
        if action.commit and not state & INV:
            if conn is None:
                conn = self._create(action, t)
                reply = False
            for a in action.exec:
                setattr(conn, 'mark' if a.field == 'ct_mark' else 'label', int(a.value))
        if conn is not None and action.nat is not None and conn.nat is not None:
            state |= self._translate(conn, reply, out)
        out.update(ct_state=state, ct_zone=action.zone, ct_mark=conn.mark if conn else 0,
                   ct_label=conn.label if conn else 0)
        return out

    def _lookup(self, zone: int, t: Tuple5, pkt: dict):
        if t[0] == IP_PROTO_ICMP and pkt.get('icmpv4_type') in _ICMP_ERRORS:
            inner = tuple_of(pkt.get('icmp_inner') or {})
            # the inner packet went the other way: its reverse is the error's direction
            found = self.table.get((zone, _reverse(inner))) if inner else None
            if found is None:
                return None, False, TRK | INV
            conn, reply = found
            return conn, reply, TRK | REL | (RPL if reply else 0)
        found = self.table.get((zone, t))
        if found is None:
            return None, False, TRK | (NEW if _may_start(pkt) else INV)
        conn, reply = found
        if reply:
            conn.replied = True
            return conn, True, TRK | EST | RPL
        return conn, False, TRK | (EST if conn.replied else NEW)

    def _create(self, action: Ct, t: Tuple5) -> Connection:
        translated, nat = t, None
        n = action.nat
        if n is not None and n.kind is not None and n.ip_min is not None:
            nat = (n.kind, n.ip_min, n.port_min)
            translated = _apply_nat(t, nat)
        conn = Connection(action.zone, t, _reverse(translated), nat)
        self.table[(action.zone, t)] = (conn, False)
        self.table[(action.zone, conn.reply)] = (conn, True)
        return conn

    def _translate(self, conn: Connection, reply: bool, out: dict) -> int:
        """Rewrite `out` as the connection's NAT does in its direction; the
        +snat/+dnat bit.  An ICMP error: the outer addresses that are the
        connection's ends, and the inner packet (which went the other way)."""
        assert conn.nat is not None
        before, after = ((conn.reply, _reverse(conn.original)) if reply
                         else (conn.original, _reverse(conn.reply)))
        if out.get('icmpv4_type') in _ICMP_ERRORS and out.get('icmp_inner'):
            if out['ipv4_src'] == before[1]:
                out['ipv4_src'] = after[1]
            if out['ipv4_dst'] == before[2]:
                out['ipv4_dst'] = after[2]
            out['icmp_inner'] = _set_tuple(dict(out['icmp_inner']), _reverse(after))
        else:
            _set_tuple(out, after)
        return SNAT if conn.nat[0] == 'src' else DNAT


def _apply_nat(t: Tuple5, nat) -> Tuple5:
    kind, address, port = nat
    proto, src, dst, sport, dport = t
    if kind == 'src':
        return (proto, address, dst, sport if port is None else port, dport)
    return (proto, src, address, sport, dport if port is None else port)


def _set_tuple(pkt: dict, t: Tuple5) -> dict:
    pkt['ipv4_src'], pkt['ipv4_dst'] = t[1], t[2]
    if t[0] in _PORTS:
        s, d = _PORTS[t[0]]
        pkt[s], pkt[d] = t[3], t[4]
    return pkt
