"""UDP over IPv4 in Ethernet, as the dns service receives it.  Pure and
total: `parse_udp` returns None on anything odd (truncated headers, IP
options beyond the frame, fragments, a length that does not fit)."""
from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple, Optional

from controller.packets.constants import ETH_TYPE_IP, IP_PROTO_UDP
from controller.packets.ethernet import ETH_HEADER, ip_checksum, mac_to_str

_UDP = struct.Struct('!HHHH')
_IPV4 = struct.Struct('!BBHHHBBH4s4s')        # no options
_MORE_FRAGMENTS_OR_OFFSET = 0x3fff


class Datagram(NamedTuple):
    """The addresses as the frame has them (bytes): answering needs nothing
    else, and a DNS answer is built ~50,000 times a second."""
    src_mac_raw: bytes
    src_raw: bytes
    dst_raw: bytes
    sport: int
    dport: int
    payload: bytes

    @property
    def src_mac(self) -> str:
        return mac_to_str(self.src_mac_raw)

    @property
    def src(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(self.src_raw)

    @property
    def dst(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(self.dst_raw)


def parse_udp(frame: bytes) -> Optional[Datagram]:
    at = ETH_HEADER.size
    if len(frame) < at + 20 + _UDP.size:
        return None
    _, src_mac, eth_type = ETH_HEADER.unpack_from(frame)
    version_ihl = frame[at]
    ihl = (version_ihl & 0x0f) * 4
    if eth_type != ETH_TYPE_IP or version_ihl >> 4 != 4 or ihl < 20 or frame[at + 9] != IP_PROTO_UDP:
        return None
    total, = struct.unpack_from('!H', frame, at + 2)
    flags_offset, = struct.unpack_from('!H', frame, at + 6)
    if flags_offset & _MORE_FRAGMENTS_OR_OFFSET or total > len(frame) - at or total < ihl + _UDP.size:
        return None
    sport, dport, length, _ = _UDP.unpack_from(frame, at + ihl)
    if length < _UDP.size or length > total - ihl:
        return None
    start = at + ihl + _UDP.size
    return Datagram(src_mac, frame[at + 12:at + 16], frame[at + 16:at + 20], sport, dport,
                    bytes(frame[start:start + length - _UDP.size]))


def udp_frame(eth_src: bytes, eth_dst: bytes, src: bytes, dst: bytes, sport: int, dport: int,
              payload: bytes, *, ttl: int = 64, ident: int = 0) -> bytes:
    """Ethernet II + IPv4 (DF clear, no options) + UDP with both checksums, the
    addresses as bytes (dhcp.build_frame takes them as text)."""
    udp = _UDP.pack(sport, dport, _UDP.size + len(payload), 0) + payload
    udp = udp[:6] + struct.pack('!H', udp_checksum(src, dst, udp)) + udp[8:]
    hdr = _IPV4.pack(0x45, 0, _IPV4.size + len(udp), ident & 0xffff, 0, ttl, IP_PROTO_UDP, 0, src, dst)
    hdr = hdr[:10] + struct.pack('!H', ip_checksum(hdr)) + hdr[12:]
    return ETH_HEADER.pack(eth_dst, eth_src, ETH_TYPE_IP) + hdr + udp


def udp_checksum(src: bytes, dst: bytes, udp: bytes) -> int:
    """The UDP checksum over the IPv4 pseudo-header (0 is written 0xffff: 0 means none)."""
    pseudo = src + dst + struct.pack('!BBH', 0, IP_PROTO_UDP, len(udp))
    return ip_checksum(pseudo + udp) or 0xffff
