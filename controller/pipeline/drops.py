"""Why a packet is dropped: every drop in the pipeline is a flow with a reason.

No table can miss: each ends in an explicit lowest-priority flow, which
either continues to the next table or drops with a reason.  A flow that
drops (no actions, no goto) must carry a `Drop`, and the compiler refuses
one that does not (`check`).  The reason is part of the flow's cookie
(controller.pipeline.flows), so the counters a switch reports for a flow say
what was dropped and why, without asking the topology, and the drop flows
of a switch can be asked for by cookie alone.
"""
from __future__ import annotations

import enum

from controller.pipeline import tables


class Drop(enum.IntEnum):
    # classifier
    UNKNOWN_PORT = 1          # from a port that is no interface of the topology (the rest of the bridge)
    TAGGED_FRAME = 2          # a VLAN tag, at any depth: vifs and uplinks send untagged frames only
    SPOOFED_MAC = 3           # a vif sending with a source MAC not its own
    BAD_TUNNEL_SOURCE = 4     # from the tunnel: a VNI or tunnel source that may not send here
    SERVICE_PORT = 14         # from the service port without the tag that names a port to send to
    # port security
    ROGUE_DHCP = 5            # DHCP server traffic from a vif
    SPOOFED_IPV4 = 6          # IPv4 from a vif with a source address not its own
    SPOOFED_ARP = 7           # ARP from a vif claiming addresses not its own
    OTHER_ETHERTYPE = 8       # neither IPv4, ARP nor IPv6 from a vif
    # l3, next hop
    NO_ROUTE = 9              # sent to a router, but no route of its link covers the destination
    TTL_EXPIRED = 10          # routed with TTL <= 1 (the controller answers ICMP time exceeded)
    UNKNOWN_NEXT_HOP = 11     # routed into a virtual network to an address no interface has
    # l2
    UNKNOWN_DESTINATION = 12  # a unicast MAC that is no interface of the frame's network (isolation)
    SPLIT_HORIZON = 13        # from the tunnel and bound for the LAN, which got it where it entered
    # nat (numbered from 30, apart from the other stages of issue 14)
    NAT_NO_CONNECTION = 30    # from the LAN to an outside address, in no connection (or invalid)
    NAT_UNTRANSLATED = 31     # out of a NAT edge, but conntrack did not translate it (invalid)
    NAT_NO_UPLINK = 32        # to be NATed on a datapath without an uplink of the edge's LAN (no state here)
    # security groups (controller.pipeline.acl)
    SG_EGRESS_REFUSED = 40    # from a vif in groups: no egress rule allows it (or its rule was removed)
    SG_EGRESS_INVALID = 41    # from a vif in groups: conntrack says invalid (no connection, not a start)
    SG_INGRESS_REFUSED = 42   # to a vif in groups: no ingress rule allows it (or its rule was removed)
    SG_INGRESS_INVALID = 43   # to a vif in groups: conntrack says invalid

    @property
    def label(self) -> str:
        """The name in metrics and the API: `spoofed_ipv4`."""
        return self.name.lower()


# The tables each reason may be given in (the README's pipeline table tells them).
TABLES = {
    Drop.UNKNOWN_PORT: tables.CLASSIFIER, Drop.TAGGED_FRAME: tables.CLASSIFIER,
    Drop.SPOOFED_MAC: tables.CLASSIFIER, Drop.BAD_TUNNEL_SOURCE: tables.CLASSIFIER,
    Drop.SERVICE_PORT: tables.CLASSIFIER,
    Drop.ROGUE_DHCP: tables.PORT_SECURITY, Drop.SPOOFED_IPV4: tables.PORT_SECURITY,
    Drop.SPOOFED_ARP: tables.PORT_SECURITY, Drop.OTHER_ETHERTYPE: tables.PORT_SECURITY,
    Drop.NO_ROUTE: tables.L3, Drop.TTL_EXPIRED: tables.L3,
    Drop.UNKNOWN_NEXT_HOP: tables.NEXTHOP,
    Drop.UNKNOWN_DESTINATION: tables.L2, Drop.SPLIT_HORIZON: tables.L2,
    Drop.NAT_NO_CONNECTION: tables.NAT_IN_CT, Drop.NAT_UNTRANSLATED: tables.NAT_OUT_CT,
    Drop.NAT_NO_UPLINK: tables.NAT_OUT,
    Drop.SG_EGRESS_REFUSED: tables.SG_EGRESS_RULES, Drop.SG_EGRESS_INVALID: tables.SG_EGRESS_RULES,
    Drop.SG_INGRESS_REFUSED: tables.SG_INGRESS_RULES, Drop.SG_INGRESS_INVALID: tables.SG_INGRESS_RULES,
}


def label_of(code: int) -> str:
    """A reason's label from its number (one read back from a switch may be unknown)."""
    return Drop(code).label if code in Drop._value2member_map_ else f'unknown_{code}'


def check(f) -> None:
    """Refuse a flow that drops without a reason, or a reason on a flow that
    does not end the pipeline (or sits in a table the reason is not for)."""
    if f.drop is None:
        if f.goto is None and not f.actions:
            raise tables.PipelineError(f'{f.describe()}: a flow that drops needs a Drop reason')
        return
    if f.goto is not None or TABLES.get(f.drop) != f.table:
        raise tables.PipelineError(f'{f.describe()}: drop reason {f.drop!r} on a flow that goes '
                                   f'on, or in the wrong table')
