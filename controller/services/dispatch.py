"""Packets the datapath sends to the controller, and what we do about them.

The table that punted a packet says why (everything else is answered in the
datapath, and every punt is metered there):
  PORT_SECURITY  a DHCP client request      -> the DHCP responder's reply
  L3             TTL would expire at a router -> ICMP time exceeded from it
  NEXTHOP        a next hop on a physical network the topology does not list
                                            -> ARP for it from the router interface
  SERVICES       an ARP reply to a router   -> a learned, idle-expiring next hop
The handler returns what to do as data (frames to send, next hops to
learn); the app carries it out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List

from controller.packets import router as packets
from controller.pipeline import tables
from controller.pipeline.flows import ARP_REPLY
from controller.services.dhcp import respond
from controller.services.resolver import Resolver
from controller.topology import ROUTER, Topology, routing

_INFO_KINDS = {'OFFER', 'ACK', 'NAK'}
_INFO_WORDS = ('RELEASE', 'DECLINE')
_MAX_REMEMBERED = 10000


@dataclass(frozen=True)
class SendFrame:
    port: int
    frame: bytes


@dataclass(frozen=True)
class LearnNextHop:
    vni: int
    ip: object
    mac: str


class PacketInHandler:
    def __init__(self, log: logging.Logger):
        self.log = log
        self.resolver = Resolver()
        self.unexpected = 0
        self._seen_notes = set()

    def handle(self, topology: Topology, session, table_id: int, in_port: int,
               metadata: int, frame: bytes, now: float) -> List:
        try:
            if table_id == tables.PORT_SECURITY:
                return self._dhcp(topology, session, in_port, frame)
            network = topology.network_by_vni(metadata)
            if network is not None and table_id == tables.L3:
                return self._ttl_expired(topology, network, in_port, frame)
            if network is not None and table_id == tables.NEXTHOP:
                return self._resolve(topology, session, network, frame, now)
            if network is not None and table_id == tables.SERVICES:
                return self._learn(topology, session, network, frame)
        except Exception:                      # a bad packet must never stop the app
            self.log.exception('%s: could not handle a packet-in from table %s',
                               session.label, table_id)
            return []
        self._unexpected(session.label, table_id)
        return []

    # -- DHCP -----------------------------------------------------------------------
    def _dhcp(self, topology, session, in_port, frame):
        iface = session.interface_at(topology, in_port)
        if iface is None:
            self._unexpected(session.label, tables.PORT_SECURITY)
            return []
        reply = respond(topology, iface.network, frame)
        self._note(f'{session.label}: dhcp from {iface.name}: {reply.note}',
                   reply.kind in _INFO_KINDS or any(w in reply.note for w in _INFO_WORDS))
        return [SendFrame(in_port, reply.frame)] if reply.frame is not None else []

    # -- routing ------------------------------------------------------------------------
    def _ttl_expired(self, topology, network, in_port, frame):
        router = _router_by_mac(topology, network.name, frame[0:6].hex(':'))
        if router is None:
            return []
        reply = packets.time_exceeded(frame, router.mac, router.ipv4)
        return [SendFrame(in_port, reply)] if reply is not None else []

    def _resolve(self, topology, session, network, frame, now):
        info = packets.parse_ipv4(frame)
        found = info and routing.route_for_destination(topology, network.name, info.dst)
        if not found:
            return []
        router, hop = found
        if not self.resolver.should_ask((session.dp.id, network.vni, hop), now):
            return []
        self.log.info('%s: resolving %s in %s by ARP from %s', session.label, hop,
                      network.name, router.name)
        request = packets.arp_request(router.mac, router.ipv4, hop)
        return [SendFrame(port, request) for port in session.host_ports(topology, network.name)]

    def _learn(self, topology, session, network, frame):
        arp = packets.parse_arp(frame)
        if arp is None or arp.op != ARP_REPLY or arp.spa not in network.ipv4:
            return []
        router = _router_by_mac(topology, network.name, arp.tha)
        if router is None or router.ipv4 != arp.tpa:
            return []
        self.resolver.answered((session.dp.id, network.vni, arp.spa))
        self.log.info('%s: learned %s is-at %s in %s', session.label, arp.spa, arp.sha,
                      network.name)
        return [LearnNextHop(network.vni, arp.spa, arp.sha)]

    # -- logging ----------------------------------------------------------------------
    def _note(self, note: str, important: bool) -> None:
        """Important notes at INFO; others once each at DEBUG (a noisy client
        cannot flood the log)."""
        if important:
            self.log.info(note)
        elif note not in self._seen_notes:
            if len(self._seen_notes) < _MAX_REMEMBERED:
                self._seen_notes.add(note)
            self.log.debug(note)

    def _unexpected(self, label, table_id) -> None:
        self.unexpected += 1
        if self.unexpected <= 10 or self.unexpected % 1000 == 0:
            self.log.warning('%s: unexpected packet-in #%d from table %s', label,
                             self.unexpected, table_id)


def _router_by_mac(topology, network, mac):
    for iface in topology.interfaces_of(network):
        if ROUTER in iface.services and iface.mac == mac:
            return iface
    return None


def packet_out(dp, port: int, frame: bytes):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port, 0)], data=frame)
