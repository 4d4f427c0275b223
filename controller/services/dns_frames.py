"""Whole answer frames remembered by the query frame that asked.

A client that asks again from the same socket sends the same frame but for
three fields: the IPv4 id and header checksum, and the DNS id.  So the
answer frame is remembered by everything else (the client's MAC, the IPv4
header's other fields, both addresses and ports, the UDP length and the
question's bytes after its id); a repeat is answered by putting the new
DNS id in and correcting the UDP checksum for it (RFC 1624: the checksum of
a one's complement sum moves by exactly what the changed word adds), with
no parsing and no building.  Only plain frames (IPv4 without options) are
remembered; others take the full path.  Bounded, and dropped with the
topology it was built on (controller.services.dns).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

LIMIT = 4096
_ID_AT = 42                 # Ethernet 14 + IPv4 20 + UDP 8: the DNS id
_UDP_CHECKSUM_AT = 40


def query_key(frame: bytes) -> Optional[bytes]:
    """The bytes a repeated query shares with its first asking, or None (IP options)."""
    if len(frame) <= _ID_AT + 2 or frame[14] != 0x45:
        return None
    return frame[6:12] + frame[14:18] + frame[20:24] + frame[26:40] + frame[44:]


class FrameMemo:
    def __init__(self) -> None:
        # (network, key) -> (result kind, reply up to its UDP checksum, its one's
        # complement sum without the DNS id, the reply after the DNS id)
        self._frames: Dict[Tuple[str, bytes], Tuple[str, bytes, int, bytes]] = {}

    def get(self, network: str, frame: bytes) -> Optional[Tuple[str, bytes]]:
        """(kind, answer frame) for a repeat of a remembered query."""
        key = query_key(frame)
        found = self._frames.get((network, key)) if key is not None else None
        if found is None:
            return None
        kind, head, base, tail = found
        ident = frame[_ID_AT:_ID_AT + 2]
        total = base + int.from_bytes(ident, 'big')
        total = (total & 0xffff) + (total >> 16)
        checksum = ~total & 0xffff or 0xffff
        return kind, head + checksum.to_bytes(2, 'big') + ident + tail

    def put(self, network: str, frame: bytes, kind: str, reply: bytes) -> None:
        """Remember `reply` (a plain Ethernet/IPv4/UDP frame) to the query `frame`."""
        key = query_key(frame)
        if key is None or len(reply) <= _ID_AT + 2 or reply[14] != 0x45:
            return
        if len(self._frames) >= LIMIT:
            self._frames.clear()
        checksum = int.from_bytes(reply[_UDP_CHECKSUM_AT:_ID_AT], 'big')
        total = (~checksum & 0xffff) + (~int.from_bytes(reply[_ID_AT:_ID_AT + 2], 'big') & 0xffff)
        total = (total & 0xffff) + (total >> 16)        # the sum less the reply's own id
        self._frames[(network, key)] = (kind, reply[:_UDP_CHECKSUM_AT], total, reply[_ID_AT + 2:])
