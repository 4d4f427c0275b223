"""IPv4 headers as the router needs them, and ICMP errors it sends.
Pure and total: the parser returns None on anything odd."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Optional

from controller.packets.constants import ETH_TYPE_IP, ICMP_TIME_EXCEEDED, IP_PROTO_ICMP
from controller.packets.ethernet import ETH_HEADER, ip_checksum, mac_to_bytes, mac_to_str

ERROR_TTL = 64


@dataclass(frozen=True)
class Ipv4Info:
    src_mac: str
    src: ipaddress.IPv4Address
    dst: ipaddress.IPv4Address
    header_len: int


def parse_ipv4(frame: bytes) -> Optional[Ipv4Info]:
    if len(frame) < ETH_HEADER.size + 20:
        return None
    _, src_mac, eth_type = ETH_HEADER.unpack_from(frame)
    ihl = (frame[ETH_HEADER.size] & 0x0f) * 4
    if eth_type != ETH_TYPE_IP or frame[ETH_HEADER.size] >> 4 != 4 or ihl < 20 \
            or len(frame) < ETH_HEADER.size + ihl:
        return None
    at = ETH_HEADER.size
    return Ipv4Info(mac_to_str(src_mac), ipaddress.IPv4Address(frame[at + 12:at + 16]),
                    ipaddress.IPv4Address(frame[at + 16:at + 20]), ihl)


def time_exceeded(frame: bytes, router_mac: str, router_ip) -> Optional[bytes]:
    """ICMP time exceeded (in transit) from the router back to the sender (RFC 792)."""
    info = parse_ipv4(frame)
    if info is None or info.src.is_unspecified or info.src.is_multicast:
        return None
    quoted = frame[ETH_HEADER.size:ETH_HEADER.size + info.header_len + 8]
    icmp = bytearray(struct.pack('!BBHI', ICMP_TIME_EXCEEDED, 0, 0, 0) + quoted)
    struct.pack_into('!H', icmp, 2, ip_checksum(bytes(icmp)))
    header = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 0, 0, ERROR_TTL, IP_PROTO_ICMP,
                                   0, ipaddress.IPv4Address(router_ip).packed, info.src.packed))
    struct.pack_into('!H', header, 10, ip_checksum(bytes(header)))
    eth = ETH_HEADER.pack(mac_to_bytes(info.src_mac), mac_to_bytes(router_mac), ETH_TYPE_IP)
    return eth + bytes(header) + bytes(icmp)
