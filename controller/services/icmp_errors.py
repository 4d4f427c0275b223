"""ICMP errors a router sends: time exceeded, when a routed packet's TTL
would reach 0 (so traceroute shows the gateway)."""
from __future__ import annotations

from typing import List

from controller.packets.ipv4 import time_exceeded
from controller.services.actions import Action, SendFrame
from controller.services.registry import PacketIn
from controller.topology import routing


def ttl_expired(packet: PacketIn) -> List[Action]:
    """The packet was addressed to a router interface's MAC in its network
    (the pipeline punts before rewriting anything)."""
    if packet.network is None:
        return []
    router = routing.router_by_mac(packet.topology, packet.network.name, packet.frame[0:6].hex(':'))
    if router is None:
        return []
    reply = time_exceeded(packet.frame, router.mac, router.ipv4)
    return [SendFrame(packet.in_port, reply)] if reply is not None else []
