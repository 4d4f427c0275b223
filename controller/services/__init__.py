"""Services: what the datapath cannot answer by itself.

Packets reach the controller only through metered punts, each carrying its
reason (controller.pipeline.punt).  `build_registry` wires every service to
its reason; a new service is a module here plus one line below.
"""
from __future__ import annotations

import logging

from controller.pipeline.punt import Reason
from controller.services.dhcp_service import DhcpService
from controller.services.icmp_errors import ttl_expired
from controller.services.nexthop import NextHopService
from controller.services.registry import PacketIn, Registry

__all__ = ['PacketIn', 'Registry', 'build_registry']


def build_registry(log: logging.Logger) -> Registry:
    registry = Registry(log)
    nexthops = NextHopService(log)
    registry.register(Reason.DHCP_REQUEST, DhcpService(log))
    registry.register(Reason.TTL_EXPIRED, ttl_expired)
    registry.register(Reason.NEXT_HOP_UNKNOWN, nexthops.resolve)
    registry.register(Reason.ARP_REPLY_TO_ROUTER, nexthops.learn)
    return registry
