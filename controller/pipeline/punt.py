"""Why a packet goes to the controller, carried by the packet itself.

Every flow that sends a packet to the controller first writes its reason
into a register; OVS reports registers in the packet-in's match, and the
services layer dispatches on that number (controller.services.registry).
So a new service gets a new reason, never an overloaded table number.
Every punt also passes a meter, so the switch caps what can reach us.
"""
from __future__ import annotations

import enum
from typing import Tuple

from controller.pipeline.flows import OFPP_CONTROLLER, Action, Output, SetField

REASON_REG = 'reg1'


class Reason(enum.IntEnum):
    DHCP_REQUEST = 1          # a client's DHCP request to the network's DHCP service
    TTL_EXPIRED = 2           # a routed packet whose TTL would reach 0 at a router
    NEXT_HOP_UNKNOWN = 3      # a next hop on a physical network the topology does not list
    ARP_REPLY_TO_ROUTER = 4   # an answer to the router's own ARP request
    DNS_QUERY = 5             # a query to the network's dns interface (UDP port 53)


def to_controller(reason: Reason) -> Tuple[Action, ...]:
    """The actions of a punting flow: the reason, then the controller port."""
    return (SetField(REASON_REG, int(reason)), Output(OFPP_CONTROLLER))
