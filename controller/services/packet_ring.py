"""A packet socket that receives through a memory-mapped ring (TPACKET_V2).

The service port answers tens of thousands of frames a second from one
Python thread.  With recvmsg each frame costs a syscall, a second one
(CPython turns the sender's ifindex into a name with an ioctl) and the
ancillary data for its timestamp.  With the kernel's RX ring
(Documentation/networking/packet_mmap.rst) the kernel writes each frame
and its receive time into a slot of shared memory and marks it the
user's; the reader copies it out and hands the slot back, and sleeps in
poll only when the ring is empty.  Under load a whole batch is read for
one wake-up.

Frames are small here (DHCP and DNS requests): a slot holds up to
SLOT_FRAME bytes; a longer frame arrives cut short, and is counted
(`truncated`) and dropped: it is longer than any request we answer.
"""
from __future__ import annotations

import mmap
import os
import select
import socket
import struct
import time
from typing import List, Tuple

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_RX_RING, PACKET_VERSION, PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING = 5, 10, 20, 23
TPACKET_V2 = 1
TP_STATUS_KERNEL, TP_STATUS_USER = 0, 1

SLOT = 2048                  # bytes a slot takes: the header, padding and the frame
BLOCK = 1 << 16              # a contiguous kernel allocation holds 32 slots
BLOCKS = 32                  # 1,024 slots, 2 MiB: 10 ms of queries at the DNS flood cap
SLOTS = BLOCKS * BLOCK // SLOT
SLOT_FRAME = SLOT - 80       # room for the frame after the header and the kernel's padding

# struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec (then vlan and padding)
_HEADER = struct.Struct('@IIIHHII')
_REQ = struct.Struct('@IIII')            # struct tpacket_req: block size and count, slot size and count


class PacketRing:
    """An AF_PACKET socket bound to `device`, reading through an RX ring and
    writing with send().  Not thread-safe: one thread reads it."""

    def __init__(self, device: str):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, _REQ.pack(BLOCK, BLOCKS, SLOT, SLOTS))
            # straight to the device: a queueing discipline only adds a lock
            sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
            # what we send is no request: the ring never sees it
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            self._ring = mmap.mmap(sock.fileno(), BLOCKS * BLOCK, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)
            sock.bind((device, 0))
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._status = memoryview(self._ring).cast('I')     # a slot's status word at offset/4
        self._next = 0
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN | select.POLLERR)
        self.truncated = 0

    def frames(self, timeout: float) -> List[Tuple[bytes, float]]:
        """The frames waiting, each with the seconds since the kernel received
        it; waits up to `timeout` seconds for the first.  OSError when the
        device went down or away."""
        if self._status[self._next * SLOT // 4] & TP_STATUS_USER == 0:
            events = self._poll.poll(int(timeout * 1000))
            if events and events[0][1] & select.POLLERR:
                error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                raise OSError(error, os.strerror(error))
        return self._take()

    def _take(self) -> List[Tuple[bytes, float]]:
        """Copy out the frames the kernel has handed over (one turn of the ring at
        most: a flood must not keep the caller from answering), and hand the
        slots back."""
        taken: List[Tuple[bytes, float]] = []
        ring, status, now = self._ring, self._status, 0.0
        for _ in range(SLOTS):
            offset = self._next * SLOT
            if status[offset // 4] & TP_STATUS_USER == 0:
                return taken
            _, length, snaplen, mac, _, sec, nsec = _HEADER.unpack_from(ring, offset)
            if snaplen < length:
                self.truncated += 1
            else:
                now = now or time.time()
                taken.append((ring[offset + mac:offset + mac + snaplen], max(0.0, now - sec - nsec * 1e-9)))
            status[offset // 4] = TP_STATUS_KERNEL
            self._next = (self._next + 1) % SLOTS
        return taken

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        self._poll.unregister(self.sock)
        self._status.release()
        self._ring.close()
        self.sock.close()
