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
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
