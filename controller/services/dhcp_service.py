"""The DHCP service: a client's request in, the responder's reply out of
the port it came from.  It keeps the running topology's precomputed plans."""
from __future__ import annotations

import logging
from typing import List, Optional

from controller.services.actions import Action, SendFrame
from controller.services.dhcp import respond
from controller.services.dhcp_plan import NetworkPlans
from controller.services.registry import LogOnce, PacketIn

_INFO_KINDS = {'OFFER', 'ACK', 'NAK'}
_INFO_WORDS = ('RELEASE', 'DECLINE')


class DhcpService:
    def __init__(self, log: logging.Logger):
        self.note = LogOnce(log)
        self._plans: Optional[NetworkPlans] = None

    def __call__(self, packet: PacketIn) -> List[Action]:
        iface = packet.switch.interface_at(packet.topology, packet.in_port)
        if iface is None:
            return []
        if self._plans is None or self._plans.topology is not packet.topology:
            self._plans = NetworkPlans(packet.topology)
        reply = respond(packet.topology, iface.network, packet.frame, self._plans)
        self.note(f'{packet.switch.label}: dhcp from {iface.name}: {reply.note}',
                  reply.kind in _INFO_KINDS or any(w in reply.note for w in _INFO_WORDS))
        return [SendFrame(packet.in_port, reply.frame)] if reply.frame is not None else []
