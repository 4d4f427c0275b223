"""The DHCP service: a client's request in, the responder's reply out of
the port it came from.  It keeps the running topology's precomputed plans.

A request that waited in the controller longer than a client waits for its
answer is dropped: the client has retransmitted by then, and a late OFFER
would only add to the burst when the controller catches up.
"""
from __future__ import annotations

import logging
import time
from typing import Dict, List, Optional, Tuple

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
        # (network, MAC) -> the last lease ACKed: read by the API (copy it first)
        self.leases: Dict[Tuple[str, str], dict] = {}
        self.replies: Dict[str, int] = {}     # reply kind (OFFER, ACK, NAK) -> sent; for metrics

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
        if reply.frame is not None and reply.kind:
            self.replies[reply.kind] = self.replies.get(reply.kind, 0) + 1
        if reply.kind == 'ACK' and reply.frame is not None:
            self._leased(packet, iface.name)
        return [SendFrame(packet.in_port, reply.frame)] if reply.frame is not None else []

    def _leased(self, packet: PacketIn, name: str) -> None:
        iface = packet.topology.interfaces[name]
        network = packet.topology.networks[iface.network]
        self.leases[(iface.network, iface.mac)] = {
            'interface': name, 'network': iface.network, 'mac': iface.mac,
            'ipv4': str(iface.ipv4), 'datapath': getattr(packet.switch, 'name', None),
            'dpid': packet.switch.dpid, 'at': time.time(), 'lease_time': network.lease_time}
