"""A bridge's service port, read and written by a thread of its own.

The switch sends DHCP requests and DNS queries to the service port (an OVS
internal port; controller.pipeline.service_port says how frames name their
ports).  Here a packet socket on that port's device receives them through
a memory-mapped ring (controller.services.packet_ring), and the services
registry answers them as it answers packet-ins (a repeated DNS query from
the service's memory, without a PacketIn).  An answer leaves by the
requesting port's own device when that port is one here
(controller.services.port_devices), else tagged back into the bridge
through the service port.  No OpenFlow message is involved, and the app's
event thread is not in the path.

The thread answers only while the switch's session may write (the master,
with several controllers).  An answer it cannot send this way (a port the
return tag cannot name) or a flow a service wants installed goes to the
event thread (`later`).  A frame that does not carry the service MAC is
counted as foreign and ignored.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
import time
from typing import Callable, Dict, Optional, Protocol

from controller.packets.ethernet import mac_to_bytes
from controller.pipeline.service_port import (
    MAX_SERVICE_PORT,
    bridge_of,
    decode_service_mac,
    find_service_port,
    service_port_name,
    tagged,
)
from controller.services.actions import Action, SendFrame
from controller.services.packet_ring import PacketRing
from controller.services.port_devices import PortDevices, PortNames
from controller.services.registry import PacketIn, PortView, Registry, worth_logging
from controller.topology import Topology

POLL_SECONDS = 0.5          # how often the thread looks whether it should stop


class Switch(PortView, PortNames, Protocol):
    """What a service port asks of its switch's session (SwitchSession)."""
    writable: bool                  # the master (or the only controller): it answers
    service_port_open: bool         # the pipeline sends DHCP and DNS to the port


class ServicePort:
    def __init__(self, ifname: str, switch: Switch, topology: Callable[[], Topology],
                 registry: Registry, later: Callable[[Action], None], log: logging.Logger,
                 by_device: bool = True):
        self.ifname, self.switch, self.topology = ifname, switch, topology
        self.registry, self.later, self.log = registry, later, log
        # received, answered (answered_by_device of them), foreign, send_failed,
        # receive_failed, failed
        self.counts: Dict[str, int] = {'received': 0, 'answered': 0, 'answered_by_device': 0}
        self._ring: Optional[PacketRing] = None
        self.devices = PortDevices(switch, by_device)   # answers out of the vif's own device
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- life ------------------------------------------------------------------------
    def open(self, mac: Optional[str] = None) -> bool:
        """Bring the device up and start answering; False (logged) if it cannot.
        `mac`: the port's address as the switch reports it; a device of that name
        here with another address is some other switch's (emulated hosts all
        have a br-int), and is left alone."""
        try:
            device = device_for(self.ifname, mac)
            prepare_device(device)
            self._ring = PacketRing(device)
        except OSError as exc:
            self.log.warning('%s: service port %s cannot be opened here (%s); DHCP and DNS go '
                             'through packet-ins', self.switch.label, self.ifname, exc)
            return False
        self._thread = threading.Thread(target=self._run, name=f'service-port-{self.ifname}',
                                        daemon=True)
        self._thread.start()
        self.log.info('%s: answering DHCP and DNS on service port %s', self.switch.label, self.ifname)
        return True

    def close(self) -> None:
        """Stop answering at once; the thread closes its socket within
        POLL_SECONDS (the event thread calling this never waits for it)."""
        self._stop.set()
        if self._thread is None and self._ring is not None:
            self._ring.close()

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        ring = self._ring
        assert ring is not None
        try:
            self._serve(ring)
        finally:
            ring.close()
            self.devices.close()

    def _serve(self, ring: PacketRing) -> None:
        while not self._stop.is_set():
            try:
                frames = ring.frames(POLL_SECONDS)
            except OSError as exc:          # the device went down or away: wait for it
                self._count('receive_failed', f'cannot read: {exc}')
                self._stop.wait(POLL_SECONDS)
                continue
            if ring.truncated:              # longer than a slot: no request we answer
                self.counts['truncated'] = ring.truncated
            for frame, waited in frames:
                if self._stop.is_set():     # closed while it waited: a successor may answer
                    return
                try:
                    self.handle(frame, waited)
                except Exception:           # nothing a frame holds may stop the thread
                    self._count('failed', 'could not handle a frame', exc_info=True)

    def handle(self, frame: bytes, waited: float = 0.0) -> None:
        """Answer one frame read from the service port."""
        found = decode_service_mac(frame)
        if found is None:
            self._count('foreign')
            return
        if not self.switch.writable:
            return
        reason, in_port, in_source = found
        topology = self.topology()
        iface = self.switch.interface_at(topology, in_port)
        network = topology.networks.get(iface.network) if iface is not None else None
        if in_source:        # a vif's own MAC (checked by the classifier) goes back in
            if iface is None:
                self._count('foreign')
                return
            frame = frame[:6] + mac_to_bytes(iface.mac) + frame[12:]
        self.counts['received'] += 1
        reply = self.registry.repeat(reason, topology, network, frame, waited)
        if reply is not None and in_port <= MAX_SERVICE_PORT:
            self.send(in_port, reply)
            return
        packet = PacketIn(topology, self.switch, in_port, network, frame, time.monotonic(), waited)
        for action in self.registry.dispatch(reason, packet):
            if isinstance(action, SendFrame) and action.port <= MAX_SERVICE_PORT:
                self.send(action.port, action.frame)
            else:
                self.later(action)

    def send(self, port: int, frame: bytes) -> None:
        """Out of the port's own device where it can (controller.services.port_devices),
        else tagged back into the switch through the service port."""
        try:
            sock = self.devices.socket_for(port)
            if sock is not None:
                try:
                    sock.send(frame)
                    self.counts['answered'] += 1
                    self.counts['answered_by_device'] += 1
                    return
                except OSError:             # the device went away or down: the switch decides
                    self.devices.failed(port)
            assert self._ring is not None
            self._ring.send(tagged(frame, port))
            self.counts['answered'] += 1
        except OSError as exc:              # a full queue or the device going away: the client asks again
            self._count('send_failed', f'cannot send: {exc}')

    def _count(self, what: str, note: str = '', exc_info: bool = False) -> None:
        n = self.counts[what] = self.counts.get(what, 0) + 1
        if note and worth_logging(n):
            self.log.warning('%s: service port %s: %s (#%d)', self.switch.label, self.ifname, note, n,
                             exc_info=exc_info)


def device_for(ifname: str, mac: Optional[str] = None) -> str:
    """The device the controller reads: the port itself when it is an OVS
    internal port (a tap), or its peer when it is one end of a veth pair (OVS
    reads a veth in batches, a tap a frame per syscall)."""
    base = f'/sys/class/net/{ifname}'
    if not os.path.exists(base):
        raise OSError(f'no device {ifname} in this network namespace')
    with open(f'{base}/ifindex') as f, open(f'{base}/iflink') as g, open(f'{base}/address') as h:
        index, link, address = int(f.read()), int(g.read()), h.read().strip()
    if mac and address.lower() != mac.lower():
        raise OSError(f'the device {ifname} here has MAC {address}, the switch\'s port {mac}: '
                      'another switch\'s port')
    if link == index:
        return ifname
    try:
        return socket.if_indextoname(link)
    except OSError:
        raise OSError(f'{ifname} is a veth whose peer is in another network namespace') from None


def prepare_device(ifname: str) -> None:
    """Up, and quiet: no IPv6 (its router solicitations would only be dropped)."""
    with contextlib.suppress(OSError):
        with open(f'/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6', 'w') as f:
            f.write('1')
    done = subprocess.run(['ip', 'link', 'set', 'dev', ifname, 'up'], capture_output=True, text=True,
                          timeout=10)
    if done.returncode != 0:
        raise OSError(f'ip link set dev {ifname} up: {done.stderr.strip()}')


class ServicePorts:
    """The open service ports, one per connected switch whose bridge has one.

    `update(session)` after the switch's ports change: opens the port that
    appeared, closes the one that went; it sets `session.service_port_open`,
    which decides whether the pipeline sends DHCP and DNS there (so a port
    that cannot be opened here never swallows a query)."""

    def __init__(self, registry: Registry, topology: Callable[[], Topology],
                 later: Callable[[int, Action], None], log: logging.Logger, by_device: bool = True):
        self.registry, self.topology, self.later, self.log = registry, topology, later, log
        self.by_device = by_device
        self.open: Dict[int, ServicePort] = {}           # dpid -> its port
        self._refused: Dict[int, str] = {}               # dpid -> the name that would not open

    def update(self, session) -> None:
        found = find_service_port(session.ports)
        name = service_port_name(bridge_of(session.ports)) if found is not None else None
        current = self.open.get(session.dpid)
        if current is not None and (current.ifname != name or current.switch is not session):
            self.close(session.dpid)
            current = None
        if name is not None and current is None and self._refused.get(session.dpid) != name:
            port = ServicePort(name, session, self.topology, self.registry,
                               lambda a: self.later(session.dpid, a), self.log, self.by_device)
            if port.open(session.macs.get(name)):
                self.open[session.dpid] = port
            else:
                self._refused[session.dpid] = name      # said once; tried again if it changes
        if name is None:
            self._refused.pop(session.dpid, None)
        session.service_port_open = session.dpid in self.open

    def close(self, dpid: int) -> None:
        port = self.open.pop(dpid, None)
        if port is not None:
            port.close()
            port.switch.service_port_open = False

    def close_all(self) -> None:
        for dpid in list(self.open):
            self.close(dpid)
