"""Which punt a meter limits, so the packets its band drops count as drops.

Every punt to the controller passes a meter (controller.pipeline), and what
goes over the meter's rate is dropped in the switch: a DHCP flood from one
port, a TTL=1 flood into a router, unresolvable next hops.  Those drops
are in the meter's band counters, not in any flow's, so they are read with
a meter-stats request and reported beside the drop flows, with a reason of
their own and the table of the punting flow.
"""
from __future__ import annotations

from typing import Optional, Tuple

from controller.pipeline import tables
from controller.pipeline.dns import DNS_METER_BASE
from controller.pipeline.l3 import TTL_METER_BASE
from controller.pipeline.nexthop import RESOLVE_METER_BASE

_KIND_MASK = 0xff000000
DHCP_RATE_LIMITED = 'dhcp_rate_limited'
TTL_RATE_LIMITED = 'ttl_rate_limited'
NEXT_HOP_RATE_LIMITED = 'next_hop_rate_limited'
DNS_RATE_LIMITED = 'dns_rate_limited'
REASONS = (DHCP_RATE_LIMITED, TTL_RATE_LIMITED, NEXT_HOP_RATE_LIMITED, DNS_RATE_LIMITED)


def meter_drop(meter_id: int) -> Optional[Tuple[int, str, bool]]:
    """(table, reason, whether the id is a port number) for one of our meters, else None."""
    kind = meter_id & _KIND_MASK
    if kind == TTL_METER_BASE:
        return tables.L3, TTL_RATE_LIMITED, False
    if kind == RESOLVE_METER_BASE:
        return tables.NEXTHOP, NEXT_HOP_RATE_LIMITED, False
    if kind == DNS_METER_BASE:
        return tables.SERVICES, DNS_RATE_LIMITED, False
    if kind == 0 and meter_id > 0:          # a DHCP meter is numbered by its port
        return tables.PORT_SECURITY, DHCP_RATE_LIMITED, True
    return None
