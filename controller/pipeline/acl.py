"""Tables SG_EGRESS..SG_EGRESS_RULES and SG_INGRESS..SG_INGRESS_RULES: security groups.

Only vifs in a group come here (port security sends their IPv4 and IPv6 to
SG_EGRESS; L2 sends frames for them to SG_INGRESS with the port in reg3), so
an interface without groups keeps today's pipeline and pays no conntrack.

Stateful, in one conntrack zone per network (controller.topology.
security_groups.sg_zones), on the datapath where the vif is: so it works
the same whether the other end is on this bridge or behind a tunnel.

  egress  (from port P)  IPv4 -> ct(zone, table=SG_EGRESS_RULES), then
    +est-rpl, ct_mark = an egress rule's tag, the rule's match     -> on
    +est+rpl, ct_label = an ingress rule's tag, its match reversed -> on (a reply)
    +rel                                                           -> on
    +trk-rpl-inv, an egress rule's match -> ct(commit, ct_mark=tag) -> on
    +inv -> dropped (invalid); anything else -> dropped (refused)
  ingress (to port P): the same with ct_label and ct_mark swapped, out of P.

A rule naming a group (from_group, to_group) does not repeat itself per
member: SG_EGRESS/SG_INGRESS set a bit of reg6 for each such group the
remote address (destination out, source in) is a member of, one flow per
member address, and the rule matches its group's bit.  Membership edits
then change those few flows, not the rules (past 32 named groups on a
datapath, the rest get a flow per member and rule).

Where the egress rules allow everything (the default `egress: all`), P's
IPv4 is only committed, ct(commit) without a mark and without a
recirculation: nothing is checked on the way out, and one conntrack pass
instead of two (lookup, recirculate) is what this saves per packet.  Its own
connections then carry ct_mark 0, which its ingress takes for replies.

A connection carries the tag of the rule that let it in: its egress rule in
ct_mark (set by the sender's egress), its ingress rule in ct_label (set by
the receiver's ingress); both sides of one connection can be ours on one
bridge, in one zone, and each writes only its own field.  Established
packets pass only while a flow with that tag and the rule's match exists:
removing a rule, or a member leaving a from_group, takes its flows away, so
the connection's next packet in the original direction is evaluated as new
(another rule may still allow it, and re-tags it) and replies with the old
tag are dropped.  Adding a rule only adds flows.  Rules are additive: every
rule of every group of the interface gets its flows.

IPv4 only: IPv6 to or from a vif in groups is refused; ARP passes.
Broadcast and multicast are delivered by the flood group and not filtered.
"""
from __future__ import annotations

import ipaddress
from typing import Dict, Iterator, List, Optional, Tuple

from controller.packets.constants import ETH_TYPE_ARP, ETH_TYPE_IP, IP_PROTO_TCP, IP_PROTO_UDP
from controller.pipeline import tables
from controller.pipeline.conntrack import Ct, state
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import Flow, Output, SetField, flow
from controller.topology import Interface, Topology
from controller.topology.model import SgRule
from controller.topology.security_groups import sg_zones

EGRESS, EGRESS_RULES = tables.SG_EGRESS, tables.SG_EGRESS_RULES
INGRESS, INGRESS_RULES = tables.SG_INGRESS, tables.SG_INGRESS_RULES
AFTER_EGRESS = tables.SERVICES
PORT_REG = tables.SG_PORT_REG
GROUPS_REG = tables.SG_GROUPS_REG
MAX_GROUP_BITS = 32                    # reg6's bits; groups beyond: a flow per member instead

INVALID_PRIORITY, ESTABLISHED_PRIORITY, RELATED_PRIORITY, NEW_PRIORITY = 200, 100, 90, 50
TRACK_PRIORITY, MEMBER_PRIORITY, ARP_PRIORITY, OPEN_EGRESS_PRIORITY = 100, 105, 50, 110
# An open egress as a rule: its connections carry ct_mark 0 (see port_flows).
OPEN = SgRule('egress', tag=0)

ESTABLISHED = state(trk=1, est=1, rpl=0)
REPLY = state(trk=1, est=1, rpl=1)
RELATED = state(trk=1, rel=1)
NEW = state(trk=1, rpl=0, inv=0)       # new, or established whose tag no longer matches
INVALID = state(trk=1, inv=1)
_PORT_FIELDS = {IP_PROTO_TCP: 'tcp', IP_PROTO_UDP: 'udp'}


def in_groups(iface: Interface) -> bool:
    return bool(iface.security_groups)


def acl_flows(view: DatapathView) -> Iterator[Flow]:
    topology = view.topology
    # Every table ends in a flow that matches everything, also where no vif is in a group.
    yield flow(EGRESS, 0, goto=EGRESS_RULES)                  # not IPv4: refused there
    yield flow(EGRESS_RULES, 0, drop=Drop.SG_EGRESS_REFUSED)
    yield flow(INGRESS, 0, goto=INGRESS_RULES)
    yield flow(INGRESS_RULES, 0, drop=Drop.SG_INGRESS_REFUSED)
    local = [(view.interface(name), ofport) for name, ofport in sorted(view.local.items())
             if in_groups(view.interface(name))]
    if not local:
        return
    yield flow(EGRESS_RULES, INVALID_PRIORITY, drop=Drop.SG_EGRESS_INVALID, eth_type=ETH_TYPE_IP,
               ct_state=INVALID)
    yield flow(INGRESS_RULES, INVALID_PRIORITY, drop=Drop.SG_INGRESS_INVALID, eth_type=ETH_TYPE_IP,
               ct_state=INVALID)
    zones = sg_zones(topology)
    bits = group_bits(topology, [iface for iface, _ in local])
    members = member_bits(topology, bits)
    for network in sorted({iface.network for iface, _ in local}):
        vni, zone = view.vni(network), zones[network]
        yield flow(EGRESS, TRACK_PRIORITY, (Ct(zone=zone, table=EGRESS_RULES),), metadata=vni,
                   eth_type=ETH_TYPE_IP)
        yield flow(INGRESS, TRACK_PRIORITY, (Ct(zone=zone, table=INGRESS_RULES),), metadata=vni,
                   eth_type=ETH_TYPE_IP)
        # the remote end's groups, once per member address, for every rule that names them
        for address, mask in members:
            yield flow(EGRESS, MEMBER_PRIORITY, (SetField(GROUPS_REG, mask),
                                                 Ct(zone=zone, table=EGRESS_RULES)),
                       metadata=vni, eth_type=ETH_TYPE_IP, ipv4_dst=address)
            yield flow(INGRESS, MEMBER_PRIORITY, (SetField(GROUPS_REG, mask),
                                                  Ct(zone=zone, table=INGRESS_RULES)),
                       metadata=vni, eth_type=ETH_TYPE_IP, ipv4_src=address)
    for iface, ofport in local:
        yield from _unique(port_flows(topology, iface, ofport, zones[iface.network], bits))


def group_bits(topology: Topology, local: List[Interface]) -> Dict[str, int]:
    """A reg6 bit for each group the local ports' rules name and that has
    members with addresses (sorted by name, the first MAX_GROUP_BITS)."""
    named = {rule.group for iface in local for direction in ('ingress', 'egress')
             for rule in rules_of(topology, iface, direction) if rule.group is not None}
    with_members = sorted(g for g in named if any(i.ipv4 is not None for i in topology.members_of(g)))
    return {g: k for k, g in enumerate(with_members[:MAX_GROUP_BITS])}


def member_bits(topology: Topology, bits: Dict[str, int]) -> List[Tuple[str, int]]:
    """(address, the bits of its groups) of every member of those groups."""
    found: Dict[ipaddress.IPv4Address, int] = {}
    for group, bit in bits.items():
        for iface in topology.members_of(group):
            if iface.ipv4 is not None:
                found[iface.ipv4] = found.get(iface.ipv4, 0) | 1 << bit
    return [(str(address), mask) for address, mask in sorted(found.items())]


def rules_of(topology: Topology, iface: Interface, direction: str) -> Tuple[SgRule, ...]:
    """Every rule of the interface's groups in `direction`, in order, once."""
    found: Dict[SgRule, None] = {}
    for name in iface.security_groups:
        group = topology.security_groups[name]
        for rule in (group.ingress if direction == 'ingress' else group.egress):
            found.setdefault(rule)
    return tuple(found)


def port_flows(topology: Topology, iface: Interface, ofport: int, zone: int,
               bits: Optional[Dict[str, int]] = None) -> Iterator[Flow]:
    ingress, egress = rules_of(topology, iface, 'ingress'), rules_of(topology, iface, 'egress')
    out, to_port = dict(in_port=ofport), {PORT_REG: ofport}
    bits = bits if bits is not None else {}
    # from the port
    if any(allows_everything(rule) for rule in egress):
        # Anything may leave: commit it (so replies find their way back in)
        # without a recirculation.  No exec: a reply's commit must not
        # overwrite the ct_mark the other end's egress rule put there; the
        # port's own connections keep ct_mark 0, which its ingress accepts
        # for replies while egress stays open.
        yield flow(EGRESS, OPEN_EGRESS_PRIORITY, (Ct(commit=True, zone=zone),), goto=AFTER_EGRESS,
                   eth_type=ETH_TYPE_IP, **out)
        egress = (OPEN,)
    else:
        yield from _egress_rule_flows(topology, egress, ingress, zone, out, bits)
    # to the port
    deliver = Output(ofport)
    yield flow(INGRESS, ARP_PRIORITY, (deliver,), eth_type=ETH_TYPE_ARP, **to_port)
    for rule in ingress:
        for m in rule_matches(topology, rule, False, bits):
            yield flow(INGRESS_RULES, ESTABLISHED_PRIORITY, (deliver,), ct_state=ESTABLISHED,
                       ct_label=rule.tag, **to_port, **m)
            yield flow(INGRESS_RULES, NEW_PRIORITY, (_commit(zone, 'ct_label', rule.tag), deliver),
                       ct_state=NEW, **to_port, **m)
    for rule in egress:
        for m in rule_matches(topology, rule, True, bits):
            yield flow(INGRESS_RULES, ESTABLISHED_PRIORITY, (deliver,), ct_state=REPLY,
                       ct_mark=rule.tag, **to_port, **m)
    yield flow(INGRESS_RULES, RELATED_PRIORITY, (deliver,), ct_state=RELATED, eth_type=ETH_TYPE_IP,
               **to_port)


def _egress_rule_flows(topology: Topology, egress, ingress, zone: int, out: dict,
                       bits: Dict[str, int]) -> Iterator[Flow]:
    for rule in egress:
        for m in rule_matches(topology, rule, False, bits):
            yield flow(EGRESS_RULES, ESTABLISHED_PRIORITY, goto=AFTER_EGRESS, ct_state=ESTABLISHED,
                       ct_mark=rule.tag, **out, **m)
            yield flow(EGRESS_RULES, NEW_PRIORITY, (_commit(zone, 'ct_mark', rule.tag),),
                       goto=AFTER_EGRESS, ct_state=NEW, **out, **m)
    for rule in ingress:
        for m in rule_matches(topology, rule, True, bits):
            yield flow(EGRESS_RULES, ESTABLISHED_PRIORITY, goto=AFTER_EGRESS, ct_state=REPLY,
                       ct_label=rule.tag, **out, **m)
    yield flow(EGRESS_RULES, RELATED_PRIORITY, goto=AFTER_EGRESS, ct_state=RELATED,
               eth_type=ETH_TYPE_IP, **out)


def allows_everything(rule: SgRule) -> bool:
    return rule.proto is None and rule.cidr is None and rule.group is None and rule.port_min is None


def _commit(zone: int, field: str, tag: int) -> Ct:
    return Ct(commit=True, zone=zone, exec=(SetField(field, tag),))


def rule_matches(topology: Topology, rule: SgRule, reverse: bool,
                 bits: Optional[Dict[str, int]] = None) -> Iterator[dict]:
    """The match fields of `rule` for packets of its direction, or (reverse)
    for their replies: the remote end's address (or, for a group with a bit
    in `bits`, that bit of reg6), the protocol, the port."""
    remote = 'ipv4_src' if (rule.direction == 'ingress') != reverse else 'ipv4_dst'
    base: dict = {'eth_type': ETH_TYPE_IP}
    if rule.proto is not None:
        base['ip_proto'] = rule.proto
    ports: List[Optional[object]] = [None]
    if rule.proto in _PORT_FIELDS and rule.port_min is not None:
        ports = list(port_masks(rule.port_min, rule.port_max or rule.port_min))
    port_field = f'{_PORT_FIELDS.get(rule.proto or 0, "")}_{"src" if reverse else "dst"}'
    addresses: List[Optional[object]]
    if rule.group is not None and bits and rule.group in bits:
        field, addresses = GROUPS_REG, [(1 << bits[rule.group], 1 << bits[rule.group])]
    else:
        field, addresses = remote, remote_addresses(topology, rule)
    for address in addresses:
        for port in ports:
            m = dict(base)
            if address is not None:
                m[field] = address
            if port is not None:
                m[port_field] = port
            yield m


def remote_addresses(topology: Topology, rule: SgRule) -> List[Optional[object]]:
    """[None] for anywhere; a prefix as (address, mask) or an address; the
    members of a group (their ipv4s, each once; none: the rule matches nothing)."""
    if rule.group is not None:
        members = {str(i.ipv4) for i in topology.members_of(rule.group) if i.ipv4 is not None}
        return sorted(members, key=lambda a: ipaddress.IPv4Address(a))
    if rule.cidr is None:
        return [None]
    if rule.cidr.prefixlen == 32:
        return [str(rule.cidr.network_address)]
    return [(str(rule.cidr.network_address), str(rule.cidr.netmask))]


def port_masks(low: int, high: int) -> Iterator[object]:
    """low..high as few (value, mask) port matches as possible (an exact
    port as a plain number); 1-65535 is any port (no match at all)."""
    if (low, high) in ((1, 0xffff), (0, 0xffff)):
        yield None
        return
    while low <= high:
        size = low & -low if low else 1 << 16
        while low + size - 1 > high:
            size >>= 1
        yield low if size == 1 else (low, 0xffff & ~(size - 1))
        low += size


def _unique(flows: Iterator[Flow]) -> Iterator[Flow]:
    """One flow per (table, priority, match): two rules with the same match
    (in two groups of one interface) would otherwise fight over the entry."""
    seen = set()
    for f in flows:
        if f.key not in seen:
            seen.add(f.key)
            yield f
