"""Raw AF_PACKET sockets for DHCP clients, opened inside a network namespace."""

from __future__ import annotations

import ctypes
import socket
import struct
from typing import TypeVar

from controller.packets.constants import DHCP_CLIENT_PORT, ETH_TYPE_IP, IP_PROTO_UDP
from lab.netns import in_netns

T = TypeVar('T')
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26



# Classic BPF: IPv4, UDP, destination port 68 (IPv4 header of any length).
_BPF = [
    (0x28, 0, 0, 12),        # ldh [12]
    (0x15, 0, 6, ETH_TYPE_IP),       # jeq IPv4 ? next : drop
    (0x30, 0, 0, 23),        # ldb [23]
    (0x15, 0, 4, IP_PROTO_UDP),      # jeq UDP ? next : drop
    (0xb1, 0, 0, 14),        # ldxb 4*([14]&0xf)
    (0x48, 0, 0, 16),        # ldh [x+16]  (UDP destination port)
    (0x15, 0, 1, DHCP_CLIENT_PORT),  # jeq 68 ? accept : drop
    (0x06, 0, 0, 0xffff),    # ret accept
    (0x06, 0, 0, 0),         # ret drop
]
_BPF_PROG = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in _BPF))
_BPF_FPROG = struct.pack('HL', len(_BPF), ctypes.addressof(_BPF_PROG))


def raw_socket(ifname: str) -> socket.socket:
    """A non-blocking raw socket on ``ifname`` that receives DHCP replies
    (UDP to port 68) only."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, _BPF_FPROG)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((ifname, 0))
    s.setblocking(False)
    drain(s)                 # whatever arrived before the filter was attached
    return s


def drain(s: socket.socket) -> None:
    """Read and drop whatever is queued on the (non-blocking) socket."""
    try:
        while True:
            s.recv(4096)
    except BlockingIOError:
        pass


def raw_sockets(ns: str, ifnames: list[str]) -> list[socket.socket]:
    """raw_socket(name) for each name, opened in namespace ``ns``."""
    return in_netns(ns, lambda: [raw_socket(name) for name in ifnames])
