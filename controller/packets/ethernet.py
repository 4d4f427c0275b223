"""Ethernet headers, MAC address text, and the Internet checksum: what
every codec in this package needs."""
from __future__ import annotations

import struct

ETH_HEADER = struct.Struct('!6s6sH')      # destination, source, ethertype
ETH_HLEN = ETH_HEADER.size


def mac_to_bytes(mac: str) -> bytes:
    """'52:54:00:00:00:01' (or with '-') -> 6 bytes; ValueError otherwise."""
    b = bytes.fromhex(mac.replace(':', '').replace('-', ''))
    if len(b) != 6:
        raise ValueError(f'not a MAC address: {mac!r}')
    return b


def mac_to_str(raw: bytes) -> str:
    return ':'.join(f'{x:02x}' for x in raw)


def ip_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`.

    The ones' complement sum of the 16-bit words is the data, read as one
    big number, modulo 0xffff (2**16 is 1 modulo 0xffff), except that a
    nonzero sum is written 0xffff rather than 0: one C-speed operation
    instead of a loop over words."""
    if len(data) % 2:
        data += b'\0'
    value = int.from_bytes(data, 'big')
    total = (value % 0xffff or 0xffff) if value else 0
    return ~total & 0xffff
