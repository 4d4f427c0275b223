"""DHCP frames: a parser and builders for Ethernet/IPv4/UDP/BOOTP+DHCP.

Pure Python (struct, ipaddress), no os-ken, so it is unit-testable and fast.

Parsing never raises: every `parse*` function returns None for anything that
is not a well-formed DHCP message in the expected direction, and the reason
is available from `try_parse` / `parse_reason` for debug logging.

    msg = parse(frame)                  # client -> server (op 1, UDP 68 -> 67)
    msg, why = try_parse(frame)         # the same, with a reason when None
    reply = parse_reply(frame)          # server -> client (op 2, UDP 67 -> 68)
    frame = build_reply(msg, ACK, yiaddr=..., server_mac=..., server_ip=...,
                        dst_mac=..., dst_ip=..., options=[(1, b'...'), ...])
    frame = build_request(DISCOVER, xid, chaddr)   # what a client sends

Accepted requests: untagged Ethernet II, IPv4 without options (IHL 5), not
fragmented, a valid IPv4 header checksum, UDP 68 -> 67 (the UDP checksum is
not checked: a client behind checksum offload may leave it partial), BOOTP
op 1 with htype 1 / hlen 6, the magic cookie, well-formed options ending in
End (or at the end of the packet) and exactly one-byte option 53. Frames
longer than MAX_FRAME_LEN are refused unread.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from controller.packets.constants import BROADCAST_MAC, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, ETH_TYPE_IP, IP_PROTO_UDP
from controller.packets.ethernet import ETH_HEADER, ETH_HLEN, ip_checksum, mac_to_bytes, mac_to_str
from controller.packets.udp import udp_frame

__all__ = [
    'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM',
    'MESSAGE_TYPES', 'BOOTREQUEST', 'BOOTREPLY', 'SERVER_PORT', 'CLIENT_PORT',
    'BROADCAST_MAC', 'BROADCAST_IP', 'ZERO_IP', 'FLAG_BROADCAST', 'MAX_FRAME_LEN',
    'OPT_SUBNET_MASK', 'OPT_ROUTER', 'OPT_DNS', 'OPT_HOSTNAME', 'OPT_DOMAIN_NAME', 'OPT_MTU',
    'OPT_REQUESTED_IP', 'OPT_LEASE_TIME', 'OPT_MESSAGE_TYPE', 'OPT_SERVER_ID',
    'OPT_PARAM_REQUEST', 'OPT_MESSAGE', 'OPT_MAX_SIZE', 'OPT_RENEWAL_TIME',
    'OPT_REBINDING_TIME', 'OPT_CLIENT_ID', 'OPT_CLASSLESS_ROUTES',
    'OPT_MS_CLASSLESS_ROUTES',
    'ParseError', 'DhcpMessage', 'parse', 'try_parse', 'parse_reason', 'parse_reply',
    'build_reply', 'build_request', 'build_frame', 'build_bootp', 'encode_options',
    'encode_classless_routes', 'checksums_ok', 'ip_checksum', 'mac_to_bytes',
    'mac_to_str',
]

# DHCP message types (option 53)
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
MESSAGE_TYPES = {DISCOVER: 'DISCOVER', OFFER: 'OFFER', REQUEST: 'REQUEST',
                 DECLINE: 'DECLINE', ACK: 'ACK', NAK: 'NAK', RELEASE: 'RELEASE',
                 INFORM: 'INFORM'}

BOOTREQUEST, BOOTREPLY = 1, 2
SERVER_PORT, CLIENT_PORT = DHCP_SERVER_PORT, DHCP_CLIENT_PORT
FLAG_BROADCAST = 0x8000
BROADCAST_IP = ipaddress.IPv4Address('255.255.255.255')
ZERO_IP = ipaddress.IPv4Address(0)
MAGIC_COOKIE = b'\x63\x82\x53\x63'

# Options
OPT_PAD, OPT_END = 0, 255
OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_DNS = 6
OPT_HOSTNAME = 12
OPT_DOMAIN_NAME = 15
OPT_MTU = 26
OPT_REQUESTED_IP = 50
OPT_LEASE_TIME = 51
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_PARAM_REQUEST = 55
OPT_MESSAGE = 56
OPT_MAX_SIZE = 57
OPT_RENEWAL_TIME = 58
OPT_REBINDING_TIME = 59
OPT_CLIENT_ID = 61
OPT_CLASSLESS_ROUTES = 121
OPT_MS_CLASSLESS_ROUTES = 249

IP_HLEN = 20
UDP_HLEN = 8
BOOTP_FIXED = 236            # op .. file, before the magic cookie
BOOTP_MIN = 300              # RFC 1542: pad BOOTP messages to at least 300 octets
#: Longest frame parsed: a 1500-byte IPv4 packet in Ethernet II (+ one VLAN
#: tag's worth of slack).  Anything longer is refused without being read.
MAX_FRAME_LEN = ETH_HLEN + 1500 + 4

_IP = struct.Struct('!BBHHHBBH4s4s')
_UDP = struct.Struct('!HHHH')
_BOOTP = struct.Struct('!BBBBIHH4s4s4s4s16s64s128s')

IPv4Like = Union[ipaddress.IPv4Address, str, int, None]


class ParseError(ValueError):
    """Why a frame is not the DHCP message we expected (a short reason)."""


def _ip(value: IPv4Like) -> ipaddress.IPv4Address:
    if value is None:
        return ZERO_IP
    if isinstance(value, ipaddress.IPv4Address):
        return value
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True)
class DhcpMessage:
    """One parsed DHCP message and the Ethernet/IPv4 envelope it came in.

    Addresses are ipaddress.IPv4Address, MACs lower-case colon strings.
    `options` holds every option's raw value (repeated options concatenated,
    RFC 3396); the well-known ones are also decoded into fields.
    """
    op: int
    xid: int
    flags: int
    ciaddr: ipaddress.IPv4Address
    yiaddr: ipaddress.IPv4Address
    siaddr: ipaddress.IPv4Address
    giaddr: ipaddress.IPv4Address
    chaddr: str
    message_type: int
    secs: int = 0
    hops: int = 0
    requested_ip: Optional[ipaddress.IPv4Address] = None     # option 50
    server_id: Optional[ipaddress.IPv4Address] = None        # option 54
    client_id: Optional[bytes] = None                        # option 61
    param_request_list: Tuple[int, ...] = ()                 # option 55
    max_message_size: Optional[int] = None                   # option 57
    hostname: Optional[str] = None                           # option 12
    eth_src: str = ''
    eth_dst: str = ''
    ip_src: ipaddress.IPv4Address = ZERO_IP
    ip_dst: ipaddress.IPv4Address = ZERO_IP
    options: Mapping[int, bytes] = field(default_factory=dict)

    @property
    def broadcast(self) -> bool:
        """The client asked for broadcast replies (flags bit 15)."""
        return bool(self.flags & FLAG_BROADCAST)

    @property
    def message_type_name(self) -> str:
        return MESSAGE_TYPES.get(self.message_type, f'type-{self.message_type}')

    def __str__(self) -> str:
        extra = ''
        if self.requested_ip is not None:
            extra += f' requested={self.requested_ip}'
        if self.server_id is not None:
            extra += f' server={self.server_id}'
        if self.ciaddr != ZERO_IP:
            extra += f' ciaddr={self.ciaddr}'
        if self.yiaddr != ZERO_IP:
            extra += f' yiaddr={self.yiaddr}'
        return (f'DHCP{self.message_type_name} xid={self.xid:#010x} '
                f'chaddr={self.chaddr}{extra}')


# --------------------------------------------------------------------------
# checksums

def checksums_ok(frame: bytes) -> bool:
    """True if `frame` is Ethernet/IPv4/UDP with correct IPv4 header and UDP
    checksums (a UDP checksum of 0, "none", counts as wrong here)."""
    try:
        if len(frame) < ETH_HLEN + IP_HLEN + UDP_HLEN:
            return False
        ip = frame[ETH_HLEN:]
        ihl = (ip[0] & 0x0f) * 4
        total = struct.unpack('!H', ip[2:4])[0]
        if ip_checksum(ip[:ihl]) != 0 or total > len(ip) or ip[9] != IP_PROTO_UDP:
            return False
        udp = ip[ihl:total]
        if struct.unpack('!H', udp[6:8])[0] == 0:
            return False
        pseudo = ip[12:20] + struct.pack('!BBH', 0, IP_PROTO_UDP, len(udp))
        return ip_checksum(pseudo + udp) == 0
    except Exception:
        return False


# --------------------------------------------------------------------------
# parsing

def _parse_options(data: bytes) -> Dict[int, bytes]:
    options: Dict[int, bytearray] = {}
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            break
        if i + 1 >= n:
            raise ParseError(f'option {code} has no length byte')
        length = data[i + 1]
        if i + 2 + length > n:
            raise ParseError(f'option {code} length {length} runs past the end')
        options.setdefault(code, bytearray()).extend(data[i + 2:i + 2 + length])
        i += 2 + length
    return {k: bytes(v) for k, v in options.items()}


def _opt_ip(options: Mapping[int, bytes], code: int) -> Optional[ipaddress.IPv4Address]:
    raw = options.get(code)
    if raw is None:
        return None
    if len(raw) != 4:
        raise ParseError(f'option {code} has length {len(raw)}, not 4')
    return ipaddress.IPv4Address(raw)


def _parse(frame: bytes, op: int) -> DhcpMessage:
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ParseError(f'not bytes: {type(frame).__name__}')
    frame = bytes(frame)
    if len(frame) > MAX_FRAME_LEN:
        raise ParseError(f'frame too long ({len(frame)} > {MAX_FRAME_LEN} bytes)')
    if len(frame) < ETH_HLEN + IP_HLEN + UDP_HLEN:
        raise ParseError(f'frame too short ({len(frame)} bytes)')
    eth_dst, eth_src, eth_type = ETH_HEADER.unpack_from(frame, 0)
    if eth_type != ETH_TYPE_IP:
        raise ParseError(f'not IPv4 (ethertype {eth_type:#06x})')
    (ver_ihl, _tos, total_len, _ident, frag, _ttl, proto, _csum, ip_src,
     ip_dst) = _IP.unpack_from(frame, ETH_HLEN)
    if ver_ihl >> 4 != 4:
        raise ParseError(f'IP version {ver_ihl >> 4}')
    if ver_ihl & 0x0f != 5:
        raise ParseError(f'IPv4 header length {ver_ihl & 0x0f} (options are not accepted)')
    if proto != IP_PROTO_UDP:
        raise ParseError(f'not UDP (IP protocol {proto})')
    if frag & 0x3fff:
        raise ParseError('IPv4 fragment')
    if total_len < IP_HLEN + UDP_HLEN or ETH_HLEN + total_len > len(frame):
        raise ParseError(f'IPv4 total length {total_len} does not fit the '
                         f'{len(frame) - ETH_HLEN}-byte payload')
    if ip_checksum(frame[ETH_HLEN:ETH_HLEN + IP_HLEN]) != 0:
        raise ParseError('bad IPv4 header checksum')
    udp_off = ETH_HLEN + IP_HLEN
    sport, dport, udp_len, _ucsum = _UDP.unpack_from(frame, udp_off)
    want = (CLIENT_PORT, SERVER_PORT) if op == BOOTREQUEST else (SERVER_PORT, CLIENT_PORT)
    if (sport, dport) != want:
        raise ParseError(f'UDP ports {sport}->{dport}, not {want[0]}->{want[1]}')
    if udp_len < UDP_HLEN or udp_len > total_len - IP_HLEN:
        raise ParseError(f'UDP length {udp_len} does not fit the IPv4 packet')
    bootp = frame[udp_off + UDP_HLEN:udp_off + udp_len]
    if len(bootp) < BOOTP_FIXED + len(MAGIC_COOKIE):
        raise ParseError(f'BOOTP message too short ({len(bootp)} bytes)')
    (b_op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
     chaddr, _sname, _file) = _BOOTP.unpack_from(bootp, 0)
    if b_op != op:
        raise ParseError(f'BOOTP op {b_op}, expected {op}')
    if htype != 1 or hlen != 6:
        raise ParseError(f'hardware type {htype}/length {hlen}, not Ethernet')
    if bootp[BOOTP_FIXED:BOOTP_FIXED + 4] != MAGIC_COOKIE:
        raise ParseError('no DHCP magic cookie')
    options = _parse_options(bootp[BOOTP_FIXED + 4:])
    mtype = options.get(OPT_MESSAGE_TYPE)
    if mtype is None:
        raise ParseError('no DHCP message type (option 53): plain BOOTP')
    if len(mtype) != 1:
        raise ParseError(f'option 53 has length {len(mtype)}')
    max_size = options.get(OPT_MAX_SIZE)
    if max_size is not None and len(max_size) != 2:
        raise ParseError(f'option 57 has length {len(max_size)}')
    hostname = options.get(OPT_HOSTNAME)
    return DhcpMessage(
        op=b_op, xid=xid, flags=flags, secs=secs, hops=hops,
        ciaddr=ipaddress.IPv4Address(ciaddr), yiaddr=ipaddress.IPv4Address(yiaddr),
        siaddr=ipaddress.IPv4Address(siaddr), giaddr=ipaddress.IPv4Address(giaddr),
        chaddr=mac_to_str(chaddr[:6]), message_type=mtype[0],
        requested_ip=_opt_ip(options, OPT_REQUESTED_IP),
        server_id=_opt_ip(options, OPT_SERVER_ID),
        client_id=options.get(OPT_CLIENT_ID),
        param_request_list=tuple(options.get(OPT_PARAM_REQUEST, b'')),
        max_message_size=struct.unpack('!H', max_size)[0] if max_size else None,
        hostname=hostname.decode('utf-8', 'replace') if hostname is not None else None,
        eth_src=mac_to_str(eth_src), eth_dst=mac_to_str(eth_dst),
        ip_src=ipaddress.IPv4Address(ip_src), ip_dst=ipaddress.IPv4Address(ip_dst),
        options=options)


def _try(frame, op) -> Tuple[Optional[DhcpMessage], str]:
    try:
        return _parse(frame, op), ''
    except ParseError as e:
        return None, str(e)
    except Exception as e:   # a bug here must not take the controller down
        return None, f'unparseable ({type(e).__name__}: {e})'


def try_parse(frame: bytes) -> Tuple[Optional[DhcpMessage], str]:
    """(message, '') for a client request, else (None, short reason). Never raises."""
    return _try(frame, BOOTREQUEST)


def parse(frame: bytes) -> Optional[DhcpMessage]:
    """The DHCP request (client -> server) in `frame`, or None. Never raises."""
    return _try(frame, BOOTREQUEST)[0]


def parse_reason(frame: bytes) -> Optional[str]:
    """Why parse(frame) is None (a short phrase), or None if it parses."""
    msg, why = _try(frame, BOOTREQUEST)
    return None if msg is not None else why


def parse_reply(frame: bytes) -> Optional[DhcpMessage]:
    """The DHCP reply (server -> client: op 2, UDP 67 -> 68) in `frame`, or
    None. Never raises. Used by tests and the benchmark's load generator."""
    return _try(frame, BOOTREPLY)[0]


# --------------------------------------------------------------------------
# building

def encode_options(options: Iterable[Tuple[int, bytes]]) -> bytes:
    """TLV-encode (code, value) pairs in the given order, then End.

    Values longer than 255 bytes are split into consecutive instances of the
    same option (RFC 3396)."""
    out = bytearray()
    for code, value in options:
        value = bytes(value)
        if not value:
            out += bytes((code, 0))
        for i in range(0, len(value), 255):
            chunk = value[i:i + 255]
            out += bytes((code, len(chunk))) + chunk
    out.append(OPT_END)
    return bytes(out)


def encode_classless_routes(routes: Iterable[Tuple[ipaddress.IPv4Network,
                                                   ipaddress.IPv4Address]]) -> bytes:
    """RFC 3442 option 121 value: per route, the prefix length, the
    significant octets of the destination, then the router."""
    out = bytearray()
    for net, router in routes:
        width = net.prefixlen
        out.append(width)
        out += net.network_address.packed[:(width + 7) // 8]
        out += _ip(router).packed
    return bytes(out)


def build_bootp(op: int, xid: int, chaddr: str, options: Iterable[Tuple[int, bytes]],
                *, flags: int = 0, ciaddr: IPv4Like = None, yiaddr: IPv4Like = None,
                siaddr: IPv4Like = None, giaddr: IPv4Like = None, secs: int = 0,
                hops: int = 0) -> bytes:
    """A BOOTP/DHCP message (the UDP payload), padded to 300 bytes."""
    fixed = _BOOTP.pack(op, 1, 6, hops, xid & 0xffffffff, secs & 0xffff, flags & 0xffff,
                        _ip(ciaddr).packed, _ip(yiaddr).packed, _ip(siaddr).packed,
                        _ip(giaddr).packed, mac_to_bytes(chaddr).ljust(16, b'\0'),
                        b'', b'')
    msg = fixed + MAGIC_COOKIE + encode_options(options)
    if len(msg) < BOOTP_MIN:
        msg += bytes(BOOTP_MIN - len(msg))
    return msg


def build_frame(eth_src: str, eth_dst: str, ip_src: IPv4Like, ip_dst: IPv4Like,
                sport: int, dport: int, payload: bytes, *, ttl: int = 64,
                ident: int = 0) -> bytes:
    """Ethernet II + IPv4 (DF clear, no options) + UDP with both checksums."""
    return udp_frame(mac_to_bytes(eth_src), mac_to_bytes(eth_dst), _ip(ip_src).packed,
                     _ip(ip_dst).packed, sport, dport, payload, ttl=ttl, ident=ident)


def build_reply(request: DhcpMessage, message_type: int, *, yiaddr: IPv4Like,
                server_mac: str, server_ip: IPv4Like, dst_mac: str, dst_ip: IPv4Like,
                options: Iterable[Tuple[int, bytes]] = (),
                ciaddr: IPv4Like = None, siaddr: IPv4Like = None) -> bytes:
    """A full Ethernet frame answering `request` (server -> client, UDP 67 -> 68).

    xid, flags, giaddr, chaddr come from the request; option 53 is
    `message_type` and comes first, then `options` in the order given (the
    caller includes 54 server id, 61 client id, ...). Checksums are correct.
    """
    payload = build_bootp(BOOTREPLY, request.xid, request.chaddr,
                          [(OPT_MESSAGE_TYPE, bytes((message_type,)))] + list(options),
                          flags=request.flags, ciaddr=ciaddr, yiaddr=yiaddr,
                          siaddr=siaddr, giaddr=request.giaddr)
    return build_frame(server_mac, dst_mac, server_ip, dst_ip, SERVER_PORT, CLIENT_PORT,
                       payload)


def build_request(message_type: int, xid: int, chaddr: str, *,
                  requested_ip: IPv4Like = None, server_id: IPv4Like = None,
                  ciaddr: IPv4Like = None, broadcast: bool = False,
                  client_id: Optional[bytes] = None,
                  param_request_list: Sequence[int] = (OPT_SUBNET_MASK, OPT_ROUTER,
                                                       OPT_DNS, OPT_DOMAIN_NAME),
                  hostname: Optional[str] = None,
                  extra_options: Iterable[Tuple[int, bytes]] = (),
                  eth_dst: str = BROADCAST_MAC, ip_src: IPv4Like = None,
                  ip_dst: IPv4Like = BROADCAST_IP, secs: int = 0) -> bytes:
    """A client's DHCP message as a full frame (UDP 68 -> 67), from `chaddr`.

    Defaults give what a client sends before it has an address: 0.0.0.0 ->
    255.255.255.255, to ff:ff:ff:ff:ff:ff. For a renewal pass ciaddr,
    ip_src = ciaddr, ip_dst = the server, eth_dst = the server's MAC.
    """
    opts = []
    if client_id is not None:
        opts.append((OPT_CLIENT_ID, client_id))
    if requested_ip is not None:
        opts.append((OPT_REQUESTED_IP, _ip(requested_ip).packed))
    if server_id is not None:
        opts.append((OPT_SERVER_ID, _ip(server_id).packed))
    if hostname is not None:
        opts.append((OPT_HOSTNAME, hostname.encode()))
    if param_request_list:
        opts.append((OPT_PARAM_REQUEST, bytes(param_request_list)))
    opts.extend(extra_options)
    payload = build_bootp(BOOTREQUEST, xid, chaddr,
                          [(OPT_MESSAGE_TYPE, bytes((message_type,)))] + opts,
                          flags=FLAG_BROADCAST if broadcast else 0, ciaddr=ciaddr,
                          secs=secs)
    return build_frame(chaddr, eth_dst, ip_src, ip_dst, CLIENT_PORT, SERVER_PORT, payload)
