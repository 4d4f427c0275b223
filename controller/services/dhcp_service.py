"""The DHCP service: a client's request in, the responder's reply out of
the port it came from.  It keeps the running topology's precomputed plans.

A request that waited in the controller longer than a client waits for its
answer is dropped: the client has retransmitted by then, and a late OFFER
would only add to the burst when the controller catches up.
"""
from __future__ import annotations

import logging
from typing import List, Optional

from controller.services.actions import Action, SendFrame
from controller.services.dhcp import respond
from controller.services.dhcp_plan import NetworkPlans
from controller.services.registry import LogOnce, PacketIn, worth_logging

_INFO_KINDS = {'OFFER', 'ACK', 'NAK'}
STALE_SECONDS = 2.0      # udhcpc retransmits after 3 s, dhclient after 3-4 s
_INFO_WORDS = ('RELEASE', 'DECLINE')


class DhcpService:
    def __init__(self, log: logging.Logger):
        self.log = log
        self.note = LogOnce(log)
        self._plans: Optional[NetworkPlans] = None
        self.stale = 0           # requests dropped because they waited too long

    def __call__(self, packet: PacketIn) -> List[Action]:
        iface = packet.switch.interface_at(packet.topology, packet.in_port)
        if iface is None:
            return []
        if packet.waited > STALE_SECONDS:
            self.stale += 1
            if worth_logging(self.stale):
                self.log.warning('%s: dhcp from %s waited %.1f s in the controller; not answered, '
                                 'the client has asked again by now (#%d)', packet.switch.label,
                                 iface.name, packet.waited, self.stale)
            return []
        if self._plans is None or self._plans.topology is not packet.topology:
            self._plans = NetworkPlans(packet.topology)
        reply = respond(packet.topology, iface.network, packet.frame, self._plans)
        self.note(f'{packet.switch.label}: dhcp from {iface.name}: {reply.note}',
                  reply.kind in _INFO_KINDS or any(w in reply.note for w in _INFO_WORDS))
        return [SendFrame(packet.in_port, reply.frame)] if reply.frame is not None else []
