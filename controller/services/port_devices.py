"""Answers sent by the requesting port's own device, as OVS would send them.

An answer from the service port goes back to the port the request came in
by, unchanged: the return flow pops the tag and outputs to that port, and
no other stage touches it.  When that port is a device OVS drives as a
"system" port (a veth, a VLAN or macvlan device, a NIC), OVS's output to
it is a send on a packet socket bound to the device, through its queueing
discipline.  The controller can make that same send itself, and so spare
ovs-vswitchd a second trip per answer (reading the service port, looking
up the return flow, sending): ovs-vswitchd's main thread is what bounds
the rate of answers (README, Figures).

A port keeps the tagged road back through the switch when it is no such
device here: a tunnel or patch port (no device), a tap (OVS's own internal
ports are taps that OVS writes into, and a tap does not say whose it is),
a device in another network namespace, or a device of that name that is
not the switch's port (its MAC differs: emulated hosts reuse names).  So
does an answer whose send on the device failed; the next one tries the
device afresh.
"""
from __future__ import annotations

import ctypes
import fcntl
import socket
import struct
from typing import Dict, Optional, Protocol, Tuple

from controller.packets.ethernet import mac_to_bytes

MAX_SOCKETS = 256       # one per port that asked; past it they are all closed and opened anew
IFNAMSIZ = 16
SIOCGIFHWADDR, SIOCETHTOOL, ETHTOOL_GDRVINFO = 0x8927, 0x8946, 0x3
_DRVINFO_BYTES = 196    # struct ethtool_drvinfo


class PortNames(Protocol):
    macs: Dict[str, str]            # port name -> MAC, as the switch reported them

    def port_name(self, number: int) -> Optional[str]: ...


class PortDevices:
    """Packet sockets on the switch's system-port devices, opened on first use.
    Owned by one thread (the service port's), which alone opens and closes them."""

    def __init__(self, switch: PortNames, enabled: bool = True):
        self.switch, self.enabled = switch, enabled     # off: every answer through the switch
        # port number -> (name, MAC, socket or None: this port takes the tagged road)
        self._open: Dict[int, Tuple[str, str, Optional[socket.socket]]] = {}

    def socket_for(self, port: int) -> Optional[socket.socket]:
        """A socket bound to `port`'s device, or None: send through the switch."""
        name = self.switch.port_name(port) if self.enabled else None
        if name is None:
            return None
        mac = self.switch.macs.get(name, '')
        found = self._open.get(port)
        if found is None or found[0] != name or found[1] != mac:
            found = self._reopen(port, name, mac)
        return found[2]

    def failed(self, port: int) -> None:
        """A send on `port`'s device failed (it went away, or down): that answer
        goes through the switch, and the next one opens the device afresh."""
        found = self._open.pop(port, None)
        if found is not None and found[2] is not None:
            found[2].close()

    def _reopen(self, port: int, name: str, mac: str) -> Tuple[str, str, Optional[socket.socket]]:
        old = self._open.pop(port, None)
        if old is not None and old[2] is not None:
            old[2].close()
        if len(self._open) >= MAX_SOCKETS:
            self.close()
        found = (name, mac, _device_socket(name, mac))
        self._open[port] = found
        return found

    def close(self) -> None:
        for _, _, sock in self._open.values():
            if sock is not None:
                sock.close()
        self._open.clear()


def system_device(name: str, mac: str) -> bool:
    """Whether `name` is a device in this network namespace, with the switch's
    `mac`, that OVS sends to with a packet socket (any driver but tun).
    Asked by ioctl, which answers for the calling thread's namespace (sysfs
    answers for the one it was mounted in)."""
    if not mac or not name or len(name) >= IFNAMSIZ:
        return False
    if device_mac(name) != mac_to_bytes(mac):
        return False
    driver = _driver(name)         # None: a driver without ethtool, not known to be no tap
    return driver is not None and driver != b'tun'


def device_mac(name: str) -> Optional[bytes]:
    """The MAC of device `name` in the calling thread's namespace, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            found = fcntl.ioctl(probe, SIOCGIFHWADDR, struct.pack('16s16x', name.encode()))
        except OSError:             # no such device here
            return None
    return found[18:24]


def _driver(name: str) -> Optional[bytes]:
    """The device's driver as ethtool names it, or None (a driver without ethtool)."""
    drvinfo = ctypes.create_string_buffer(struct.pack('I', ETHTOOL_GDRVINFO), _DRVINFO_BYTES)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            fcntl.ioctl(probe, SIOCETHTOOL, struct.pack('16sP8x', name.encode(), ctypes.addressof(drvinfo)))
        except OSError:
            return None
    return drvinfo.raw[4:36].split(b'\0', 1)[0]


def _device_socket(name: str, mac: str) -> Optional[socket.socket]:
    if not system_device(name, mac):
        return None
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)     # protocol 0: it never receives
    try:
        sock.bind((name, 0))
    except OSError:
        sock.close()
        return None
    return sock
