"""A small OpenFlow 1.3 table simulator for the pipeline's data flows.

Like Faucet's clib/fakeoftable.py, but over our own flow data: it runs a
packet (a dict of OXM field values) through the tables and returns what
leaves where, so unit tests read as "a frame from port X to MAC Y leaves on
port Z".  It also rejects flows OVS would refuse (missing match
prerequisites), so a malformed flow fails here before it reaches a switch.

ct() runs the packet through a simulated connection tracker
(`conntrack_sim.ConnTracker`, one per switch unless one is passed in, so
connections can outlive a recompile); ct(table=N) recirculates a copy with
the ct_* fields set, after the flow's own actions and goto are done.

A move copies bits as NXM reg_move does (MAC and IPv4 fields stay text in
the packet dict); pop_vlan leaves the frame untagged (vlan_vid absent, which
matches as OFPVID_NONE); output to a register sends to the port number in
its low bits.
"""
from __future__ import annotations

import ipaddress
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from controller.openflow.conntrack_sim import ConnTracker
from controller.openflow.oxm import _FIELD_TABLE
from controller.packets.constants import (
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    ETH_TYPE_IPV6,
    IP_PROTO_ICMP,
    IP_PROTO_TCP,
    IP_PROTO_UDP,
)
from controller.packets.ethernet import mac_to_str
from controller.pipeline.flows import (
    OFPP_IN_PORT,
    Ct,
    CtClear,
    DecTtl,
    Flow,
    Group,
    Move,
    Output,
    OutputReg,
    PopVlan,
    SetField,
    ToGroup,
)

_ARP, _IP, _IP_ANY = {ETH_TYPE_ARP}, {ETH_TYPE_IP}, {ETH_TYPE_IP, ETH_TYPE_IPV6}
# field -> (prerequisite field, allowed values)
PREREQUISITES = {
    'arp_op': ('eth_type', _ARP), 'arp_spa': ('eth_type', _ARP), 'arp_tpa': ('eth_type', _ARP),
    'arp_sha': ('eth_type', _ARP), 'arp_tha': ('eth_type', _ARP),
    'ipv4_src': ('eth_type', _IP), 'ipv4_dst': ('eth_type', _IP),
    'ip_proto': ('eth_type', _IP_ANY), 'nw_ttl': ('eth_type', _IP_ANY), 'ip_dscp': ('eth_type', _IP_ANY),
    'icmpv4_type': ('ip_proto', {IP_PROTO_ICMP}), 'icmpv4_code': ('ip_proto', {IP_PROTO_ICMP}),
    'udp_src': ('ip_proto', {IP_PROTO_UDP}), 'udp_dst': ('ip_proto', {IP_PROTO_UDP}),
    'tcp_src': ('ip_proto', {IP_PROTO_TCP}), 'tcp_dst': ('ip_proto', {IP_PROTO_TCP}),
}


class PrerequisiteError(AssertionError):
    pass


_CT_FIELDS = ('ct_state', 'ct_zone', 'ct_mark', 'ct_label')
_VLAN_PRESENT = 0x1000
# Bits a move may address, where OVS's field is narrower than its OXM value
# (vlan_vid's present bit is not part of the VID; vlan_pcp is 3 bits).
_WIDTH = {'vlan_vid': 12, 'vlan_pcp': 3}
_MAX_RECIRCULATIONS = 16
# Translations of a ct(nat) without recirculation: applied to what is output only.
_PENDING = '_nat_pending'


def check_prerequisites(f: Flow) -> None:
    match = dict(f.match)
    for name in match:
        if name in PREREQUISITES:
            need, allowed = PREREQUISITES[name]
            if match.get(need) not in allowed:
                raise PrerequisiteError(f'{f.describe()}: {name} needs {need} in {allowed}')
    if 'vlan_pcp' in match and not _tagged(match):
        raise PrerequisiteError(f'{f.describe()}: vlan_pcp needs a match on a tag (vlan_vid present)')
    for a in f.actions:                  # OVS: ct() needs IP, a nat with IPv4 addresses IPv4
        if isinstance(a, (Move, OutputReg)):
            _check_bits(f, a)
        if isinstance(a, Ct) and match.get('eth_type') not in _IP_ANY:
            raise PrerequisiteError(f'{f.describe()}: ct() needs eth_type IPv4 or IPv6')
        if isinstance(a, Ct) and a.nat is not None and a.nat.ip_min and match.get('eth_type') not in _IP:
            raise PrerequisiteError(f'{f.describe()}: nat with IPv4 addresses needs eth_type IPv4')


def _tagged(match: dict) -> bool:
    """Whether the match requires an 802.1Q tag (vlan_vid with its present bit)."""
    want = match.get('vlan_vid')
    value, mask = want if isinstance(want, tuple) else (want, 0xffff)
    return value is not None and bool(value & mask & _VLAN_PRESENT)


def _width(name: str) -> int:
    if name not in _FIELD_TABLE:
        raise PrerequisiteError(f'unknown field {name!r}')
    return _WIDTH.get(name, _FIELD_TABLE[name][2] * 8)


def _check_bits(f: Flow, a) -> None:
    """OVS refuses a move or output_reg past a field's width, and one that
    reads or writes vlan_pcp where the match does not require a tag."""
    spans = ([(a.src, a.src_ofs), (a.dst, a.dst_ofs)] if isinstance(a, Move) else [(a.field, 0)])
    for name, ofs in spans:
        if a.n_bits < 1 or ofs < 0 or ofs + a.n_bits > _width(name):
            raise PrerequisiteError(f'{f.describe()}: {a!r} addresses bits {ofs}..'
                                    f'{ofs + a.n_bits - 1} of {name}, which has {_width(name)}')
        if name == 'vlan_pcp' and not _tagged(dict(f.match)):
            raise PrerequisiteError(f'{f.describe()}: {a!r} needs a match on a tag (vlan_vid present)')


def _as_int(value) -> int:
    if isinstance(value, int):
        return value
    if ':' in value:
        return int(value.replace(':', ''), 16)
    return int(ipaddress.IPv4Address(value))


def _read(pkt: dict, name: str) -> int:
    """A field as an int; registers, metadata, an absent tag and a tag's
    unset priority read 0."""
    if name not in pkt and (name.startswith('reg') or name in ('metadata', 'vlan_vid', 'vlan_pcp')):
        return 0
    return _as_int(pkt[name])


def _spelled(name: str, value: int):
    """`value` as the packet dict spells field `name` (MAC and IPv4 as text)."""
    kind = _FIELD_TABLE[name][3] if name in _FIELD_TABLE else 'int'
    if kind == 'mac':
        return mac_to_str(value.to_bytes(6, 'big'))
    if kind == 'ipv4':
        return str(ipaddress.IPv4Address(value))
    return value


def move(pkt: dict, a: Move) -> None:
    """NXM reg_move: bits [src_ofs, src_ofs + n_bits) of src into dst from
    bit dst_ofs, dst's other bits kept (bit 0 is the least significant)."""
    bits = (1 << a.n_bits) - 1
    value = (_read(pkt, a.src) >> a.src_ofs) & bits
    old = _read(pkt, a.dst) if a.dst in pkt else 0
    pkt[a.dst] = _spelled(a.dst, (old & ~(bits << a.dst_ofs)) | (value << a.dst_ofs))


def _field_matches(packet: dict, name: str, want) -> bool:
    if name == 'vlan_vid' and name not in packet:
        packet = dict(packet, vlan_vid=0)        # no tag: OpenFlow's OFPVID_NONE
    if name in _CT_FIELDS and name not in packet:
        packet = dict(packet, **{name: 0})       # not through ct() yet: untracked, all zero
    if name not in packet:
        return False
    have = _as_int(packet[name])
    if isinstance(want, tuple):
        value, mask = (_as_int(w) for w in want)
        return have & mask == value & mask
    return have == _as_int(want)


class FakeSwitch:
    def __init__(self, flows: Iterable[Flow], groups: Iterable[Group] = (),
                 conntrack: Optional[ConnTracker] = None):
        self.conntrack = conntrack if conntrack is not None else ConnTracker()
        self.tables: Dict[int, List[Flow]] = {}
        for f in flows:
            check_prerequisites(f)
            self.tables.setdefault(f.table, []).append(f)
        for table in self.tables.values():
            table.sort(key=lambda f: -f.priority)
        self.groups = {g.group_id: g for g in groups}

    @classmethod
    def from_state(cls, state, conntrack: Optional[ConnTracker] = None):
        return cls(state.flows.values(), state.groups.values(), conntrack)

    def lookup(self, table: int, packet: dict):
        for f in self.tables.get(table, []):
            if all(_field_matches(packet, k, v) for k, v in f.match):
                return f
        return None

    def run(self, packet: dict, on_step: Optional[Callable[[int, Optional[Flow], dict], None]] = None
            ) -> List[Tuple[int, dict]]:
        """Outputs as (port, packet) pairs; [] means dropped.  `on_step(table,
        flow, packet)` sees each table's decision as the packet reaches it
        (flow None: a table miss)."""
        out: List[Tuple[int, dict]] = []
        passes: List[Tuple[int, dict]] = [(0, dict(packet, metadata=0))]
        for _ in range(_MAX_RECIRCULATIONS):
            if not passes:
                return out
            table, pkt = passes.pop(0)
            self._pass(table, pkt, out, passes, on_step)
        raise AssertionError('a packet kept recirculating through ct(table=...): a loop')

    def _pass(self, table: Optional[int], pkt: dict, out, recirculations, on_step) -> None:
        """One pass through the tables; ct(table=N) queues a recirculation."""
        while table is not None:
            f = self.lookup(table, pkt)
            if on_step is not None:
                on_step(table, f, dict(pkt))
            if f is None:
                return                         # table miss: drop (OpenFlow 1.3)
            self._apply(f.actions, pkt, out, recirculations)
            if f.write_metadata:
                value, mask = f.write_metadata
                pkt['metadata'] = (pkt['metadata'] & ~mask) | (value & mask)
            table = f.goto

    def _apply(self, actions, pkt, out, recirculations=None):
        for a in actions:
            if isinstance(a, Ct):
                tracked = self.conntrack.execute(a, pkt)
                if a.table is not None and recirculations is not None:
                    recirculations.append((a.table, tracked))
                else:
                    # No recirculation: as in OVS, the NAT changes the packet
                    # that leaves, but later tables still match the fields as
                    # they were (and ct_* stay unseen).
                    changed = {k: v for k, v in tracked.items()
                               if k not in _CT_FIELDS and pkt.get(k) != v}
                    if changed:
                        pkt[_PENDING] = {**pkt.get(_PENDING, {}), **changed}
                continue
            if isinstance(a, CtClear):
                for name in _CT_FIELDS:
                    pkt.pop(name, None)
                continue
            if isinstance(a, SetField):
                pkt[a.field] = a.value
                pkt.get(_PENDING, {}).pop(a.field, None)
            elif isinstance(a, Move):
                move(pkt, a)
                pkt.get(_PENDING, {}).pop(a.dst, None)
            elif isinstance(a, PopVlan):
                pkt.pop('vlan_vid', None)          # untagged: vlan_vid matches as OFPVID_NONE
                pkt.pop('vlan_pcp', None)
            elif isinstance(a, OutputReg):
                self._output(_read(pkt, a.field) & ((1 << a.n_bits) - 1), pkt, out)
            elif isinstance(a, Output):
                self._output(a.port, pkt, out)
            elif isinstance(a, DecTtl):
                pkt['nw_ttl'] = pkt['nw_ttl'] - 1
            elif isinstance(a, ToGroup):
                for bucket in self.groups[a.group_id].buckets:
                    self._apply(bucket, dict(pkt), out)
            else:
                raise NotImplementedError(a)

    @staticmethod
    def _output(port, pkt, out):
        sent = {k: v for k, v in pkt.items() if k != _PENDING}
        sent.update(pkt.get(_PENDING, {}))     # a NAT not recirculated applies on the way out
        if port == OFPP_IN_PORT:
            out.append((pkt['in_port'], sent))
        elif port != pkt['in_port']:           # OpenFlow never hairpins implicitly
            out.append((port, sent))


def ports_of(outputs) -> List[int]:
    return sorted(port for port, _ in outputs)


class Fabric:
    """Several simulated switches joined by VXLAN, as the tunnel port does it:
    a frame output to a datapath's tunnel port with `tun_ipv4_dst` set enters
    the datapath with that tunnel_ip through its own tunnel port, carrying
    the VNI and the sender's tunnel_ip as the tunnel source.  Pipeline
    registers and metadata do not cross (a new pipeline starts there)."""

    def __init__(self):
        self.switches: Dict[str, FakeSwitch] = {}
        self.tunnel_ports: Dict[str, int] = {}
        self.tunnel_ips: Dict[str, str] = {}

    def add(self, name: str, switch: FakeSwitch, tunnel_port: int, tunnel_ip: str) -> None:
        self.switches[name], self.tunnel_ports[name], self.tunnel_ips[name] = switch, tunnel_port, tunnel_ip

    def run(self, datapath: str, packet: dict, max_hops: int = 4) -> List[Tuple[str, int, dict]]:
        """Final outputs as (datapath, port, packet); tunnel hops are followed.
        A tunnel destination that is no datapath here is an output on the
        tunnel port itself (the underlay would carry it nowhere we model)."""
        if max_hops == 0:
            raise AssertionError('a frame kept crossing tunnels: a forwarding loop')
        out: List[Tuple[str, int, dict]] = []
        for port, pkt in self.switches[datapath].run(packet):
            target = self._datapath_at(pkt.get('tun_ipv4_dst'))
            if port != self.tunnel_ports[datapath] or target is None:
                out.append((datapath, port, pkt))
                continue
            arriving = tunnel_arrival(pkt, self.tunnel_ports[target], self.tunnel_ips[datapath])
            out += self.run(target, arriving, max_hops - 1)
        return out

    def _datapath_at(self, ip):
        for name, own in self.tunnel_ips.items():
            if own == ip:
                return name
        return None


def tunnel_arrival(pkt: dict, tunnel_port: int, source_ip: str) -> dict:
    """A frame output to the tunnel as it enters the destination datapath:
    through its tunnel port, from the sender's tunnel_ip, with the VNI."""
    arriving = {k: v for k, v in pkt.items()
                if not k.startswith('reg') and k not in ('metadata', 'tun_ipv4_dst', *_CT_FIELDS)}
    arriving.update(in_port=tunnel_port, tun_ipv4_src=source_ip)
    return arriving


def deliveries(outputs) -> List[Tuple[str, int]]:
    return sorted((dp, port) for dp, port, _ in outputs)
