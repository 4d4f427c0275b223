"""Frames the router side of the controller reads and writes: ARP, and
ICMP time exceeded.  Pure and total: parsers return None on anything odd.
(DHCP has its own package, whose Internet-checksum and MAC helpers these reuse.)
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Optional

from controller.packets.dhcp import ip_checksum, mac_to_bytes, mac_to_str
from controller.pipeline.flows import ARP_REQUEST, ETH_TYPE_ARP, ETH_TYPE_IP

ETH_HEADER = struct.Struct('!6s6sH')
ARP_BODY = struct.Struct('!HHBBH6s4s6s4s')
ICMP_TIME_EXCEEDED = 11
ERROR_TTL = 64
BROADCAST = 'ff:ff:ff:ff:ff:ff'


@dataclass(frozen=True)
class Arp:
    op: int
    sha: str
    spa: ipaddress.IPv4Address
    tha: str
    tpa: ipaddress.IPv4Address


def parse_arp(frame: bytes) -> Optional[Arp]:
    if len(frame) < ETH_HEADER.size + ARP_BODY.size:
        return None
    _, _, eth_type = ETH_HEADER.unpack_from(frame)
    if eth_type != ETH_TYPE_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = ARP_BODY.unpack_from(frame, ETH_HEADER.size)
    if (htype, ptype, hlen, plen) != (1, ETH_TYPE_IP, 6, 4):
        return None
    return Arp(op, mac_to_str(sha), ipaddress.IPv4Address(spa), mac_to_str(tha),
               ipaddress.IPv4Address(tpa))


def arp_request(src_mac: str, src_ip, target_ip) -> bytes:
    body = ARP_BODY.pack(1, ETH_TYPE_IP, 6, 4, ARP_REQUEST, mac_to_bytes(src_mac),
                         ipaddress.IPv4Address(src_ip).packed, bytes(6),
                         ipaddress.IPv4Address(target_ip).packed)
    return ETH_HEADER.pack(mac_to_bytes(BROADCAST), mac_to_bytes(src_mac), ETH_TYPE_ARP) + body


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
    header = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 0, 0, ERROR_TTL, 1,
                                   0, ipaddress.IPv4Address(router_ip).packed, info.src.packed))
    struct.pack_into('!H', header, 10, ip_checksum(bytes(header)))
    eth = ETH_HEADER.pack(mac_to_bytes(info.src_mac), mac_to_bytes(router_mac), ETH_TYPE_IP)
    return eth + bytes(header) + bytes(icmp)
