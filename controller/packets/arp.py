"""ARP frames: parse one, build a request.  Pure and total: the parser
returns None on anything odd."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Optional

from controller.packets.constants import ARP_REQUEST, BROADCAST_MAC, ETH_TYPE_ARP, ETH_TYPE_IP
from controller.packets.ethernet import ETH_HEADER, mac_to_bytes, mac_to_str

ARP_BODY = struct.Struct('!HHBBH6s4s6s4s')


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
    return ETH_HEADER.pack(mac_to_bytes(BROADCAST_MAC), mac_to_bytes(src_mac), ETH_TYPE_ARP) + body
