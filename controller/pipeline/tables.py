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
SERVICES = 20       # answered in the datapath: ARP and ICMP echo for simulated interfaces
L3 = 30             # routing: router MAC + destination prefix (longest wins) -> out network
NEXTHOP = 35        # out network + next-hop address (reg0) -> destination MAC
L2 = 40             # network + destination MAC -> port; multicast -> flood group


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
          '→ l2, marked as from the tunnel; anything else is dropped',
          frozenset({PORT_SECURITY, SERVICES, L2}), 'classifier'),
    Stage(PORT_SECURITY, 'port security',
          "vif ports: IPv4/ARP must carry the interface's own address (DHCP from 0.0.0.0 allowed), "
          'IPv6 passes on its MAC, other ethertypes are dropped; DHCP server traffic (from port 67 or '
          'to port 68) dropped; DHCP requests → controller through a per-port meter',
          frozenset({SERVICES}), 'port_security'),
    Stage(SERVICES, 'services',
          'ARP and ICMP echo requests for simulated interfaces (and for every interface of a '
          'router) are answered in the datapath (reply out IN_PORT); ARP replies to a router from '
          "a physical network's LAN port → controller (the network's meter)",
          frozenset({L3}), 'services'),
    Stage(L3, 'l3',
          "sent to a router interface's MAC: longest-prefix match over the route link's routes "
          '→ source MAC of the outgoing router interface, TTL−1, next hop in reg0, outgoing '
          "network in metadata; TTL ≤ 1 → controller (ICMP time exceeded, the network's meter); "
          'IPv4 to a router MAC that no route covers is dropped',
          frozenset({NEXTHOP, L2}), 'l3'),
    Stage(NEXTHOP, 'next hop',
          'outgoing network + next-hop address → its MAC from the topology, or learned by ARP on '
          "physical networks (idle-expiring); unknown on a physical network → controller (ARP, the "
          "network's meter)",
          frozenset({L2}), 'nexthop'),
    Stage(L2, 'l2',
          "network + destination MAC → the interface's port, or the tunnel to its datapath (VNI, "
          "tunnel destination); broadcast/multicast → the network's flood group (its ports here and "
          'one copy per other datapath of the network); from the tunnel: ports here only; unknown '
          'unicast dropped (physical networks: out of the host port)',
          frozenset(), 'l2'),
)
BY_TABLE: Dict[int, Stage] = {s.table: s for s in STAGES}

# Metadata carries the network id (its VNI, 24 bits) from the classifier on.
NETWORK_MASK = 0xffffff

# reg0 carries the next-hop IPv4 address from L3 to NEXTHOP.
NEXT_HOP_REG = 'reg0'

# reg2 is 1 for a frame that arrived from the tunnel (split horizon in L2).
FROM_TUNNEL_REG = 'reg2'


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
