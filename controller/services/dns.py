"""The dns service: a query punted from a network's dns interface in, the
answer out of the port it came from (controller.services.dns_zone decides
what; names outside the zone go to dns_upstream through dns_forward).

Answers read the running topology, so a live edit shows at once.  Local
answers are remembered per topology by the query's bytes after its id
(clients asking the same thing send the same bytes), so a repeated question
costs a dictionary lookup; the memo goes with the topology it was built on.
Nothing a packet holds can stop the service: what cannot be parsed is
counted as `malformed` (and answered FORMERR when its header can be).
"""
from __future__ import annotations

import functools
import logging
from typing import Callable, Dict, List, Optional, Tuple

from controller.packets.constants import DNS_PORT
from controller.packets.ethernet import mac_to_bytes
from controller.packets.udp import Datagram, parse_udp, udp_frame
from controller.services.actions import Action, SendFrame
from controller.services.dns_forward import Deliver, Forwarder
from controller.services.dns_frames import FrameMemo
from controller.services.dns_zone import FORWARD, MALFORMED, Zone, Zones, answer
from controller.services.registry import PacketIn, worth_logging
from controller.topology import Network, Topology

STALE_SECONDS = 2.0          # dig and glibc ask again after 1-5 s: a later answer is noise
MEMO_LIMIT = 4096            # remembered answers per topology

# The counters (metrics: vnet_dns_queries_total{result}); every query lands in one.
RESULTS = ('answer', 'nodata', 'nxdomain', 'refused', 'forwarded', 'servfail', 'formerr',
           'notimp', 'malformed', 'stale')


class DnsService:
    def __init__(self, log: logging.Logger, deliver: Optional[Deliver] = None,
                 forwarder: Optional[Forwarder] = None):
        self.log = log
        self.forwarder = forwarder or (Forwarder(log, deliver) if deliver is not None else None)
        self._counts: Dict[str, int] = {}
        self._zones: Optional[Zones] = None
        self._memo: Dict[Tuple[str, bytes], Tuple[str, Optional[bytes]]] = {}
        self._frames = FrameMemo()                 # whole answers to repeated query frames

    @property
    def counts(self) -> Dict[str, int]:
        """Queries by result (the forwarder's outcomes included); a copy."""
        found = dict(self._counts)
        if self.forwarder is not None:
            for name, n in list(self.forwarder.counts.items()):
                found[name] = found.get(name, 0) + n
        return found

    def __call__(self, packet: PacketIn) -> List[Action]:
        # None when stale: waited past the client's patience, or sent to a server an
        # edit just removed (looking drops the memos of an older topology)
        zone = self._zone(packet) if packet.waited <= STALE_SECONDS else None
        if zone is not None:
            reply = self.repeat(packet.topology, packet.network, packet.frame, packet.waited)
            if reply is not None:
                return [SendFrame(packet.in_port, reply)]
        datagram = parse_udp(packet.frame)
        if datagram is None or datagram.dport != DNS_PORT:
            self._count(MALFORMED, packet)
            return []
        if zone is None:
            self._count('stale', packet)
            return []
        kind, wire = self._answer(zone, datagram.payload)
        if kind == FORWARD:
            if self.forwarder is None:            # no way to wait for an upstream (tests, tools)
                return []
            self.forwarder.forward(datagram.payload, zone.upstreams, packet.switch.dpid,
                                   packet.in_port, _reply_frame(zone, datagram))
            return []
        self._count(kind, packet)
        if wire is None:
            return []
        reply = _reply_frame(zone, datagram)(wire)
        self._frames.put(zone.network, packet.frame, kind, reply)
        return [SendFrame(packet.in_port, reply)]

    def repeat(self, topology: Topology, network: Optional[Network], frame: bytes,
               waited: float) -> Optional[bytes]:
        """The remembered answer to a repeated query frame, counted; None when
        there is none (or the topology changed, or the query is stale: then
        the full path decides and counts)."""
        zones, memo = self._zones, self._frames
        if zones is None or zones.topology is not topology or network is None or waited > STALE_SECONDS:
            return None
        found = memo.get(network.name, frame)
        if found is None:
            return None
        kind, reply = found
        self._counts[kind] = self._counts.get(kind, 0) + 1
        return reply

    def _answer(self, zone: Zone, wire: bytes) -> Tuple[str, Optional[bytes]]:
        key = (zone.network, wire[2:])
        found = self._memo.get(key)
        if found is None:
            result = answer(zone, wire)
            found = (result.kind, result.wire[2:] if result.wire else None)
            if result.kind not in (FORWARD, MALFORMED):
                if len(self._memo) >= MEMO_LIMIT:
                    self._memo.clear()
                self._memo[key] = found
        kind, rest = found
        return kind, (wire[:2] + rest) if rest is not None else None

    def _zone(self, packet: PacketIn) -> Optional[Zone]:
        if self._zones is None or self._zones.topology is not packet.topology:
            self._zones, self._memo, self._frames = Zones(packet.topology), {}, FrameMemo()
        return self._zones.get(packet.network.name) if packet.network is not None else None

    def _count(self, kind: str, packet: PacketIn) -> None:
        n = self._counts[kind] = self._counts.get(kind, 0) + 1
        if kind in (MALFORMED, 'stale') and worth_logging(n):
            self.log.info('%s: dns: %s query from port %s (#%d)', packet.switch.label, kind,
                          packet.in_port, n)


def _reply_frame(zone: Zone, query: Datagram) -> Callable[[bytes], bytes]:
    """The frame that carries a response back to the client of `query`."""
    server_mac, server_ip = _mac_bytes(zone.server.mac), query.dst_raw     # the query was to it

    def frame(wire: bytes) -> bytes:
        return udp_frame(server_mac, query.src_mac_raw, server_ip, query.src_raw, DNS_PORT,
                         query.sport, wire)
    return frame


@functools.lru_cache(maxsize=4096)
def _mac_bytes(mac: str) -> bytes:
    return mac_to_bytes(mac)
