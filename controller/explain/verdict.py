"""What a trace found, whichever way it was taken (the simulator or the switch).

A `Trace` is the tables a frame went through (`Step`s, each with the flow
and the topology objects behind it) and where its copies ended
(`Ending`s).  `verdict` turns the endings into one sentence and a status:
delivered, answered by the datapath, sent to the controller (with the
punt reason), or dropped with the reason the dropping flow stands for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from controller.explain.nat import recirculation_note, translation
from controller.explain.origin import Origin
from controller.explain.packet import Probe
from controller.pipeline import tables
from controller.pipeline.drops import Drop
from controller.pipeline.flows import Flow, ToGroup
from controller.pipeline.punt import Reason
from controller.topology import Topology

DELIVERED, ANSWERED, CONTROLLER, TUNNEL, DROPPED = (
    'delivered', 'answered', 'controller', 'tunnel', 'dropped')
PUNT_WHY = {
    Reason.DHCP_REQUEST: 'a DHCP request, answered by the DHCP service',
    Reason.TTL_EXPIRED: 'TTL expires at the router; the controller answers ICMP time exceeded',
    Reason.NEXT_HOP_UNKNOWN: 'a next hop the topology does not list; the controller resolves it by ARP',
    Reason.ARP_REPLY_TO_ROUTER: "an answer to the router's ARP request, learned by the controller",
    Reason.DNS_QUERY: 'a DNS query, answered by the dns service (other names go to dns_upstream)',
}


@dataclass
class Step:
    datapath: str
    table: int
    flow: Optional[Flow]           # None: a table miss, or a flow that is not ours
    cookie: Optional[int]
    text: str                      # the flow as the simulator or the switch shows it
    origins: List[Origin] = field(default_factory=list)
    packet: dict = field(default_factory=dict)   # fields as the frame reached the table

    @property
    def stage(self) -> str:
        stage = tables.BY_TABLE.get(self.table)
        return stage.name if stage is not None else f'table {self.table}'


@dataclass(frozen=True)
class Ending:
    """One copy of the frame leaving a datapath."""
    kind: str                      # delivered | answered | controller | tunnel
    datapath: str
    what: str                      # 'vm2 (port veth2)', 'reason 1', 'host9 at 198.18.9.9'
    via: Tuple[str, ...] = ()      # datapaths crossed before, in order
    detail: str = ''

    @property
    def key(self) -> Tuple[str, str, str]:
        return (self.kind, self.datapath, self.what)


@dataclass(frozen=True)
class Verdict:
    kind: str
    text: str
    ok: bool

    @property
    def status(self) -> int:
        """vnetctl's exit status: 0 the frame got somewhere, 1 it was dropped."""
        return 0 if self.ok else 1


@dataclass
class Trace:
    probe: Probe
    steps: List[Step]
    endings: List[Ending]
    verdict: Verdict
    source: str = 'simulator'      # or 'switch'


def verdict(endings: List[Ending], steps: List[Step], topology: Topology) -> Verdict:
    if not endings:
        return Verdict(DROPPED, 'dropped: ' + drop_reason(steps, topology), False)
    kinds = [e.kind for e in endings]
    first = endings[0]
    if kinds == [ANSWERED]:
        return Verdict(ANSWERED, f'answered by the datapath {first.datapath}: {first.detail}', True)
    if kinds == [CONTROLLER]:
        return Verdict(CONTROLLER, f'sent to the controller from {first.datapath} '
                                   f'({first.what}: {first.detail})', True)
    places = '; '.join(_place(e) for e in endings)
    if all(k == DELIVERED for k in kinds):
        flood = ' (flooded: every port of the network)' if len(endings) > 1 else ''
        return Verdict(DELIVERED, f'delivered to {places}{flood}{_nat_note(steps)}', True)
    return Verdict(kinds[0], f'copies: {places}', True)


def _nat_note(steps: List[Step]) -> str:
    changed = translation(steps[0].packet, steps[-1].packet) if steps else None
    return f', translated by NAT: {changed}' if changed else ''


def _place(e: Ending) -> str:
    if e.kind == DELIVERED:
        text = f'{e.what} on datapath {e.datapath}'
        if e.via:
            text += f' (through the tunnel from {" -> ".join(e.via)})'
        return text
    if e.kind == TUNNEL:
        return f'the tunnel of {e.datapath} towards {e.what}'
    return f'{e.kind} {e.what} on {e.datapath}'


def drop_reason(steps: List[Step], topology: Topology) -> str:
    if not steps:
        return 'nothing ran'
    last = steps[-1]
    where = f'on {last.datapath}, table {last.table} ({last.stage})'
    if last.flow is None:
        return f'{where}: no flow matches (a table miss)'
    return f'{where}: {_why(last, topology)}'


DROP_WHY = {
    Drop.UNKNOWN_PORT: 'the port is no interface of the topology (the rest of the bridge is not ours)',
    Drop.TAGGED_FRAME: 'a VLAN-tagged frame (vifs and uplinks send untagged frames only)',
    Drop.SPOOFED_MAC: "a source MAC that is not the interface's own",
    Drop.BAD_TUNNEL_SOURCE: 'from the tunnel with a VNI or tunnel source that may not send here',
    Drop.ROGUE_DHCP: 'DHCP server traffic from a vif (only the DHCP service answers DHCP)',
    Drop.SPOOFED_IPV4: "an IPv4 source address that is not the interface's own",
    Drop.SPOOFED_ARP: "an ARP claiming addresses that are not the interface's own",
    Drop.OTHER_ETHERTYPE: 'an ethertype a vif may not send (only IPv4, ARP and IPv6)',
    Drop.NO_ROUTE: "sent to a router, but no route of its link covers the destination",
    Drop.TTL_EXPIRED: 'the TTL expires at the router',
    Drop.UNKNOWN_NEXT_HOP: 'routed into a network where no interface has the next-hop address',
    Drop.UNKNOWN_DESTINATION: 'no interface of network {network} has destination MAC {mac} (a network '
                              'reaches only its own interfaces and its route links\' routers)',
    Drop.SPLIT_HORIZON: 'from the tunnel and bound for the LAN, which got it where it entered',
    Drop.NAT_NO_CONNECTION: 'to a NAT outside address, but in no connection: a source-NAT address '
                            'only lets in replies, a floating IP new connections and their packets',
    Drop.NAT_UNTRANSLATED: 'leaving through a NAT edge, but conntrack did not translate it (invalid)',
    Drop.NAT_NO_UPLINK: "to be NATed, but this datapath has no uplink of the edge's LAN, where the "
                        "connection's state would have to be (NAT runs on a datapath with one)",
    Drop.SG_EGRESS_REFUSED: "refused by security groups: no egress rule of the sender's groups allows it",
    Drop.SG_EGRESS_INVALID: 'refused by security groups: conntrack says invalid (in no connection, and '
                            'no start of one)',
    Drop.SG_INGRESS_REFUSED: "refused by security groups: no ingress rule of the receiver's groups "
                             'allows it',
    Drop.SG_INGRESS_INVALID: 'refused by security groups: conntrack says invalid (in no connection, '
                             'and no start of one)',
}


def _why(step: Step, topology: Topology) -> str:
    f, pkt = step.flow, step.packet
    assert f is not None
    if f.drop is None:
        if any(isinstance(a, ToGroup) for a in f.actions):
            return 'flooded, but the network has no other port here'
        recirculated = recirculation_note(f)
        if recirculated:
            return recirculated
        if f.actions:
            return 'its only way out is the port it came in by (OpenFlow never sends a frame back there)'
        return f'the {step.stage} stage drops it ({f.describe()})'
    network = topology.network_by_vni(int(pkt.get('metadata', 0)) & tables.NETWORK_MASK)
    why = DROP_WHY.get(Drop(f.drop), Drop(f.drop).label)
    return why.format(network=network.name if network else '?', mac=pkt.get('eth_dst'))
