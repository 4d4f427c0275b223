"""Packet-ins, dispatched by the reason the punting flow wrote into them.

Each service registers a handler for a `controller.pipeline.punt.Reason`.
A handler gets one `PacketIn` and returns actions (frames to send, flows
to install) as data; the app carries them out.  Nothing a packet contains
can stop the app: a handler that raises is logged and counted, and so is
a reason nobody handles.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Dict, List, NamedTuple, Optional, Protocol, Sequence

from controller.pipeline.punt import Reason
from controller.services.actions import Action
from controller.topology import Interface, Network, Topology

MAX_REMEMBERED_NOTES = 10000


class PortView(Protocol):
    """What a service may ask of the switch a packet came from."""
    label: str
    dpid: int

    def interface_at(self, topology: Topology, ofport: int) -> Optional[Interface]: ...

    def host_ports(self, topology: Topology, network: str) -> Sequence[int]: ...


class PacketIn(NamedTuple):
    """One punted frame (a tuple: the service ports make ~50,000 a second)."""
    topology: Topology
    switch: PortView
    in_port: int
    network: Optional[Network]      # from the metadata the pipeline had written
    frame: bytes
    now: float                      # monotonic seconds
    waited: float = 0.0             # seconds since the packet-in arrived (queueing in the app)


Handler = Callable[[PacketIn], List[Action]]
# A service's memory of whole answers: (topology, network, frame, seconds it
# waited) -> the answer frame for the port it came in by, or None (ask the handler)
Repeat = Callable[[Topology, Optional[Network], bytes, float], Optional[bytes]]
_REASON_NAMES = {int(r): r.name for r in Reason}    # Reason(n).name costs a microsecond a packet


class Registry:
    def __init__(self, log: logging.Logger):
        self.log = log
        self._handlers: Dict[int, Handler] = {}     # a Reason is an int: one lookup either way
        self._repeats: Dict[int, Repeat] = {}
        self.counts: Dict[str, int] = {}          # reason name (or 'unknown') -> packet-ins
        self.failures = 0                         # handlers that raised
        self.unhandled = 0                        # reasons no service handles
        # the event thread (packet-ins) and the service ports' threads dispatch
        # here; services keep state (leases, memos), so one handler at a time
        self._lock = threading.Lock()

    def register(self, reason: Reason, handler: Handler, repeat: Optional[Repeat] = None) -> None:
        """`repeat`: how the service answers a frame it has answered before
        without a PacketIn, for the service ports' threads (see `repeat`)."""
        if reason in self._handlers:
            raise ValueError(f'{reason.name} already has a handler')
        self._handlers[reason] = handler
        if repeat is not None:
            self._repeats[reason] = repeat

    def repeat(self, reason: int, topology: Topology, network: Optional[Network], frame: bytes,
               waited: float) -> Optional[bytes]:
        """The answer to a repeat of a frame the service remembers answering, or
        None (then `dispatch`).  A DNS client asks the same few names over and
        over; this skips the PacketIn, the lock and the handler, a third of what
        a query costs the thread (a service's memory is a dict: safe without
        the lock, and a stale read only misses)."""
        repeat = self._repeats.get(reason)
        reply = repeat(topology, network, frame, waited) if repeat is not None else None
        if reply is not None:
            name = _REASON_NAMES[reason]
            self.counts[name] = self.counts.get(name, 0) + 1
        return reply

    def handler(self, reason: Reason) -> Optional[Handler]:
        """The service registered for `reason` (the API reads DHCP leases from it)."""
        return self._handlers.get(reason)

    def dispatch(self, reason: int, packet: PacketIn) -> List[Action]:
        name, handler = _REASON_NAMES.get(reason, 'unknown'), self._handlers.get(reason)
        self.counts[name] = self.counts.get(name, 0) + 1
        if handler is None:
            self.unhandled += 1
            if worth_logging(self.unhandled):
                self.log.warning('%s: packet-in #%d with no service for reason %s',
                                 packet.switch.label, self.unhandled, reason)
            return []
        try:
            with self._lock:
                return handler(packet)
        except Exception:                      # a bad packet must never stop the app
            self.failures += 1
            if worth_logging(self.failures):
                self.log.exception('%s: could not handle a %s packet-in (#%d)', packet.switch.label,
                                   name, self.failures)
            return []


def worth_logging(n: int) -> bool:
    """The first ten, then every thousandth: a flood must not flood the log."""
    return n <= 10 or n % 1000 == 0


class LogOnce:
    """Important notes at INFO; others once each at DEBUG, so a noisy client
    cannot flood the log."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self._seen: set = set()

    def __call__(self, note: str, important: bool) -> None:
        if important:
            self.log.info(note)
        elif note not in self._seen:
            if len(self._seen) < MAX_REMEMBERED_NOTES:
                self._seen.add(note)
            self.log.debug(note)
