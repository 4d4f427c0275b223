"""Services: what the datapath cannot answer by itself.

Packets reach the controller only through metered punts, each carrying its
reason (controller.pipeline.punt).  `build_registry` wires every service to
its reason; a new service is a module here plus one line below.
"""
from __future__ import annotations

import logging
from typing import Optional

from controller.pipeline.punt import Reason
from controller.services.dhcp_service import DhcpService
from controller.services.dns import DnsService
from controller.services.dns_forward import Deliver
from controller.services.icmp_errors import ttl_expired
from controller.services.nexthop import NextHopService
from controller.services.registry import PacketIn, Registry

__all__ = ['PacketIn', 'Registry', 'build_registry']


def build_registry(log: logging.Logger, deliver: Optional[Deliver] = None) -> Registry:
    """`deliver(dpid, port, frame)`: how a service sends a frame later, from
    another thread (the dns forwarder's upstream answers); without it,
    names outside a dns zone get no answer."""
    registry = Registry(log)
    nexthops = NextHopService(log)
    registry.register(Reason.DHCP_REQUEST, DhcpService(log))
    registry.register(Reason.TTL_EXPIRED, ttl_expired)
    registry.register(Reason.NEXT_HOP_UNKNOWN, nexthops.resolve)
    registry.register(Reason.ARP_REPLY_TO_ROUTER, nexthops.learn)
    dns = DnsService(log, deliver)
    registry.register(Reason.DNS_QUERY, dns, repeat=dns.repeat)
    return registry
