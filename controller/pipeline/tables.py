"""The flow-table pipeline: the list of stages, one table each.

Each stage says which tables its flows may continue to (goto).  The
compiler checks every flow against this list, so a stage that jumps
backwards or into a table nobody documented fails in the unit tests, not on
a switch.  The README's pipeline table is tested against STAGES in both
directions (tests/unit/test_readme.py).  Table numbers leave gaps so later
stages slot in without renumbering.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional

CLASSIFIER = 0      # in_port (+ source MAC on vifs) -> network id in metadata
PORT_SECURITY = 10  # vif source checks; DHCP client requests -> controller (metered)
SG_EGRESS = 12      # security groups, from a vif in groups: IPv4 -> conntrack (the network's zone)
SG_EGRESS_RULES = 13  # ... its conntrack state + the groups' egress rules -> on, or dropped
SERVICES = 20       # answered in the datapath: ARP and ICMP echo for simulated interfaces
NAT_IN = 25         # NAT before routing: conntrack nat in the route link's zone
NAT_IN_CT = 26      # its result: established/related on; new to a floating IP: DNAT; rest dropped
NAT_IN_DNAT = 27    # a floating IP's new connection after its DNAT commit (recirculated) -> l3
L3 = 30             # routing: router MAC + destination prefix (longest wins) -> out network
NAT_OUT = 32        # NAT after routing, out of an edge: ct(commit, nat(src=outside))
NAT_OUT_CT = 33     # NAT_OUT's conntrack result: translated on, the rest dropped
NEXTHOP = 35        # out network + next-hop address (reg0) -> destination MAC
L2 = 40             # network + destination MAC -> port; multicast -> flood group
SG_INGRESS = 44     # security groups, to a vif in groups (port in reg3): IPv4 -> conntrack
SG_INGRESS_RULES = 45  # ... its conntrack state + the groups' ingress rules -> the port, or dropped


@dataclass(frozen=True)
class Stage:
    table: int
    name: str
    summary: str
    next_tables: FrozenSet[int]
    module: str                       # controller.pipeline.<module> builds its flows


STAGES = (
    Stage(CLASSIFIER, 'classifier',
          "in_port, untagged (and, on vif ports, the interface's source MAC) → network id (VNI) in "
          'metadata; from the tunnel port: a VNI and tunnel source that may send into a network here '
          '→ l2, marked as from the tunnel; from the service port: the tag\'s port number → out of '
          'that port, untagged; anything else is dropped',
          frozenset({PORT_SECURITY, SERVICES, L2}), 'classifier'),
    Stage(PORT_SECURITY, 'port security',
          "vif ports: IPv4/ARP must carry the interface's own address (DHCP from 0.0.0.0 allowed), "
          'IPv6 passes on its MAC, other ethertypes are dropped; DHCP server traffic (from port 67 or '
          'to port 68) dropped; DHCP requests → controller (the service port where the bridge has one) '
          'through a per-port meter',
          frozenset({SERVICES, SG_EGRESS}), 'port_security'),
    Stage(SG_EGRESS, 'sg egress',
          "from a vif in security groups: IPv4 → conntrack in its network's zone, recirculated to "
          "sg egress rules, with the groups the destination is in (those rules name) as bits in "
          'reg6; where egress allows everything: committed to conntrack (no mark) → services, '
          'without recirculating; IPv6 → sg egress rules (refused there)',
          frozenset({SG_EGRESS_RULES, SERVICES}), 'acl'),
    Stage(SG_EGRESS_RULES, 'sg egress rules',
          'established: on (→ services) while the egress rule tagged in ct_mark, or for replies the '
          'ingress rule in ct_label, still allows it; related: on; new (or its rule gone): an '
          "egress rule of the interface's groups allows it → commit with the rule's tag in "
          'ct_mark → services; invalid and the rest dropped',
          frozenset({SERVICES}), 'acl'),
    Stage(SERVICES, 'services',
          'ARP and ICMP echo requests for simulated interfaces (and for every interface of a '
          'router) are answered in the datapath (reply out IN_PORT); ARP replies to a router from '
          "a physical network's LAN port → controller (the network's meter); UDP to port 53 of a "
          "network's dns interface → controller, or its service port (the network's DNS meter)",
          frozenset({NAT_IN, L3}), 'services'),
    Stage(NAT_IN, 'nat in',
          "from a physical LAN to a NAT edge's MAC, to an outside address: conntrack in the route "
          "link's zone, translating known connections back (nat) → nat in ct; TTL ≤ 1 → l3 "
          'untranslated',
          frozenset({NAT_IN_CT, L3}), 'nat'),
    Stage(NAT_IN_CT, 'nat in ct',
          'established or related (ICMP errors: outer and inner headers translated) → l3; a new '
          'connection to a 1:1 outside address (a floating IP) → committed with nat(dst=inside) '
          '→ nat in dnat; anything else is dropped',
          frozenset({L3}), 'nat'),
    Stage(NAT_IN_DNAT, 'nat in dnat',
          "a floating IP's new connection, as conntrack translated it (OpenFlow sees a "
          'translation only after recirculating) → l3',
          frozenset({L3}), 'nat'),
    Stage(L3, 'l3',
          "sent to a router interface's MAC: longest-prefix match over the route link's routes "
          '→ source MAC of the outgoing router interface, TTL−1, next hop in reg0, outgoing '
          "network in metadata; TTL ≤ 1 → controller (ICMP time exceeded, the network's meter); "
          'IPv4 to a router MAC that no route covers is dropped',
          frozenset({NAT_OUT, NEXTHOP, L2}), 'l3'),
    Stage(NAT_OUT, 'nat out',
          'routed out of a NAT edge, from an inside address or prefix (longest wins): conntrack '
          "commit with nat(src=outside) in the route link's zone (1:1: its own address; many:1: "
          'shared) → nat out ct',
          frozenset({NAT_OUT_CT, NEXTHOP}), 'nat'),
    Stage(NAT_OUT_CT, 'nat out ct',
          'translated by conntrack → next hop; anything else (invalid, untranslated) is dropped, '
          'so no inside address leaves on the LAN',
          frozenset({NEXTHOP}), 'nat'),
    Stage(NEXTHOP, 'next hop',
          'outgoing network + next-hop address → its MAC from the topology, or learned by ARP on '
          "physical networks (idle-expiring); unknown on a physical network → controller (ARP, the "
          "network's meter)",
          frozenset({L2}), 'nexthop'),
    Stage(L2, 'l2',
          "network + destination MAC → the interface's port, or the tunnel to its datapath (VNI, "
          "tunnel destination); broadcast/multicast → the network's flood group (its ports here and "
          'one copy per other datapath of the network); from the tunnel: ports here only; unknown '
          'unicast dropped (physical networks: out of the host port); to a vif in security groups: '
          'its port in reg3 → sg ingress',
          frozenset({SG_INGRESS}), 'l2'),
    Stage(SG_INGRESS, 'sg ingress',
          "to a vif in security groups: IPv4 → conntrack in its network's zone, recirculated to "
          'sg ingress rules, with the groups the source is in (those rules name) as bits in reg6; '
          'ARP → the port; IPv6 → sg ingress rules (refused there)',
          frozenset({SG_INGRESS_RULES}), 'acl'),
    Stage(SG_INGRESS_RULES, 'sg ingress rules',
          'established: to the port while the ingress rule tagged in ct_label, or for replies the '
          'egress rule in ct_mark, still allows it; related: to the port; new (or its rule gone): '
          "an ingress rule allows it → commit with the rule's tag in ct_label → the port; "
          'invalid and the rest dropped',
          frozenset(), 'acl'),
)
BY_TABLE: Dict[int, Stage] = {s.table: s for s in STAGES}

# Metadata carries the network id (its VNI, 24 bits) from the classifier on.
NETWORK_MASK = 0xffffff

# reg0 carries the next-hop IPv4 address from L3 to NEXTHOP.
NEXT_HOP_REG = 'reg0'

# reg2 is 1 for a frame that arrived from the tunnel (split horizon in L2).
FROM_TUNNEL_REG = 'reg2'

# reg3 carries the output port L2 chose for a vif in security groups to SG_INGRESS.
SG_PORT_REG = 'reg3'

# reg6: one bit per security group that rules name (from_group/to_group), set
# by SG_EGRESS/SG_INGRESS for the groups the remote address is a member of.
SG_GROUPS_REG = 'reg6'


class PipelineError(ValueError):
    """A stage built a flow the pipeline does not allow (a bug, not bad input)."""


def check_goto(table: int, goto: Optional[int]) -> None:
    """Refuse a flow in an unknown table, or one continuing where its stage may not."""
    stage = BY_TABLE.get(table)
    if stage is None:
        raise PipelineError(f'table {table} is not a stage of the pipeline')
    if goto is not None and goto not in stage.next_tables:
        allowed = ', '.join(str(t) for t in sorted(stage.next_tables)) or 'none'
        raise PipelineError(f'a {stage.name} flow (table {table}) may not go to table {goto}; '
                            f'allowed: {allowed}')
