"""OpenFlow 1.3 controller roles: the request, and what the switch answers.

A switch with several controllers gives each connection a role: EQUAL (the
default: full access, packet-ins), MASTER (full access; at most one) or
SLAVE (read-only: flow-mods, group/meter-mods, packet-outs and bundles are
refused with OFPBRC_IS_SLAVE, and no packet-ins arrive).  MASTER and SLAVE
requests carry a generation id; the switch keeps the highest it has seen and
refuses a lower one with OFPRRFC_STALE, which is how a stale leader is
fenced off (OpenFlow 1.3.5, section 6.3.6).
"""
from __future__ import annotations

import enum


class Role(enum.Enum):
    """The roles, numbered as on the wire (OFPCR_ROLE_*)."""
    NOCHANGE = 0
    EQUAL = 1
    MASTER = 2
    SLAVE = 3


OFPET_BAD_REQUEST = 1
OFPBRC_IS_SLAVE = 10
OFPET_ROLE_REQUEST_FAILED = 11
OFPRRFC_STALE = 0
GENERATION_MASK = (1 << 64) - 1


def role_request(dp, role: Role, generation: int):
    """The role request message for `dp` (send it with dp.send_msg)."""
    return dp.ofproto_parser.OFPRoleRequest(dp, role.value, generation & GENERATION_MASK)


def role_of_reply(msg) -> Role:
    """The role an OFPRoleReply confirms."""
    return Role(msg.role)


def is_stale(msg) -> bool:
    """Is this error the switch refusing a role request with an old generation id?"""
    return msg.type == OFPET_ROLE_REQUEST_FAILED and msg.code == OFPRRFC_STALE


def is_role_error(msg) -> bool:
    return msg.type == OFPET_ROLE_REQUEST_FAILED


def is_slave_refusal(msg) -> bool:
    """Is this error the switch refusing a write because we are SLAVE there?"""
    return msg.type == OFPET_BAD_REQUEST and msg.code == OFPBRC_IS_SLAVE
