"""Packets the datapath sends to the controller, and what we send back.

Only DHCP client requests come here (metered per port by the pipeline).  The
port a request arrived on tells which interface, hence which network, asked;
the pure responder decides the answer.  Anything else that arrives is
counted and reported: in steady state nothing else should.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

from controller.dhcp.responder import respond
from controller.topology import Topology

# Notes worth a line at INFO; the rest (unknown clients, no server) are
# logged once each at DEBUG, so a noisy client cannot flood the log.
_INFO_KINDS = {'OFFER', 'ACK', 'NAK'}
_INFO_WORDS = ('RELEASE', 'DECLINE')
_MAX_REMEMBERED = 10000


class PacketInHandler:
    def __init__(self, log: logging.Logger):
        self.log = log
        self.unexpected = 0
        self.answered = 0
        self._seen_notes = set()

    def handle(self, topology: Topology, label: str, interface, frame: bytes
               ) -> Optional[bytes]:
        """The frame to send back out of the arrival port, if any."""
        if interface is None:
            self._unexpected(label)
            return None
        reply = respond(topology, interface.network, frame)
        self._log_note(label, interface.name, reply)
        if reply.frame is not None:
            self.answered += 1
        return reply.frame

    def _log_note(self, label, iface_name, reply) -> None:
        note = f'{label}: dhcp from {iface_name}: {reply.note}'
        if reply.kind in _INFO_KINDS or any(w in reply.note for w in _INFO_WORDS):
            self.log.info(note)
        elif note not in self._seen_notes:
            if len(self._seen_notes) < _MAX_REMEMBERED:
                self._seen_notes.add(note)
            self.log.debug(note)

    def _unexpected(self, label) -> None:
        self.unexpected += 1
        if self.unexpected <= 10 or self.unexpected % 1000 == 0:
            self.log.warning('%s: unexpected packet-in #%d from a port with no interface',
                             label, self.unexpected)


def packet_out(dp, port: int, frame: bytes):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port, 0)], data=frame)
