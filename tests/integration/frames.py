"""Crafted frames for the hardening tests, sent and seen from inside lab hosts.

Building (pure; the codecs of ``controller.packets`` do the IPv4/UDP/DHCP/ARP
encoding, this adds what they lack: VLAN tags, broken headers, ICMP):

    eth(dst, src, ethertype, payload, tags=())      Ethernet II, padded to 60 bytes
    tagged(frame, tags)                             802.1Q / 802.1ad tags pushed after the MACs
    udp_frame(...), ipv4_frame(...), icmp_echo(...), arp_frame(...), dhcp_reply(...)

Sending: ``RawPort(host)`` is an AF_PACKET socket on the host's eth0, opened
inside its network namespace (a short-lived thread enters it with setns), so
the test process itself sends at the pace it wants and reads what comes back.

Seeing: ``Capture(host)`` runs ``tcpdump -U -w`` in the host and reads the
pcap back as frames (libpcap puts VLAN tags the kernel took off back in
place, so a tagged frame shows as tagged); ``parse(frame)`` names the parts
a test asserts on. ``Pinger`` is a steady ping whose losses can be checked
while it runs; ``dhcp_discover`` times one DISCOVER -> OFFER exchange.

What the switch counted: ``table_drops`` (a table's drop flows),
``punted`` (every flow to the controller), ``meter_stats``.
"""
from __future__ import annotations

import ipaddress
import random
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional, Sequence, Tuple, Union

from controller.packets import dhcp
from controller.packets.arp import ARP_BODY
from controller.packets.constants import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST_MAC,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    ETH_TYPE_QINQ,
    ETH_TYPE_VLAN,
    ICMP_ECHO_REQUEST,
    IP_PROTO_ICMP,
)
from controller.packets.ethernet import ETH_HEADER, ip_checksum, mac_to_bytes, mac_to_str
from lab import wait_for
from lab.netns import in_netns

if TYPE_CHECKING:
    from lab import Host

__all__ = [
    'ETH_TYPE_ARP', 'ETH_TYPE_IP', 'ETH_TYPE_QINQ', 'ETH_TYPE_VLAN', 'ARP_REPLY', 'ARP_REQUEST',
    'BROADCAST_MAC', 'DOUBLE_TAGS', 'Tag', 'eth', 'tagged', 'ipv4_packet', 'ipv4_frame',
    'udp_frame', 'icmp_echo', 'arp_frame', 'dhcp_reply', 'RawPort', 'Capture', 'Frame', 'parse',
    'read_pcap', 'Pinger', 'dhcp_discover', 'table_drops', 'punted', 'meter_stats',
]

IPv4Like = Union[str, int, ipaddress.IPv4Address]
Tag = Tuple[int, int]                       # (TPID, TCI): (0x8100, vid) or (0x88a8, vid)

#: The tag stacks an attacker tries: 802.1ad outer + 802.1Q inner, 802.1Q twice,
#: one 802.1Q tag, and a priority tag (VID 0, which some stacks treat as untagged).
DOUBLE_TAGS: dict[str, Tuple[Tag, ...]] = {
    '802.1ad+802.1Q': ((ETH_TYPE_QINQ, 100), (ETH_TYPE_VLAN, 200)),
    '802.1Q+802.1Q': ((ETH_TYPE_VLAN, 100), (ETH_TYPE_VLAN, 200)),
    '802.1Q': ((ETH_TYPE_VLAN, 100),),
    '802.1Q vid 0': ((ETH_TYPE_VLAN, 0),),
}
MIN_FRAME = 60                              # Ethernet minimum without the FCS


# --------------------------------------------------------------------------
# building

def _ip(value: IPv4Like) -> bytes:
    return ipaddress.IPv4Address(value).packed


def eth(dst: str, src: str, ethertype: int, payload: bytes, tags: Sequence[Tag] = (),
        pad: bool = True) -> bytes:
    """An Ethernet II frame (tags outermost first), padded to 60 bytes unless not ``pad``."""
    frame = mac_to_bytes(dst) + mac_to_bytes(src)
    frame += b''.join(struct.pack('!HH', tpid, tci) for tpid, tci in tags)
    frame += struct.pack('!H', ethertype) + payload
    return frame.ljust(MIN_FRAME, b'\0') if pad else frame


def tagged(frame: bytes, tags: Sequence[Tag]) -> bytes:
    """``frame`` with VLAN tags pushed in front of its ethertype."""
    return frame[:12] + b''.join(struct.pack('!HH', tpid, tci) for tpid, tci in tags) + frame[12:]


def ipv4_packet(src: IPv4Like, dst: IPv4Like, proto: int, payload: bytes, *, ttl: int = 64,
                ident: int = 0, frag: int = 0, options: bytes = b'',
                total_length: Optional[int] = None, bad_checksum: bool = False) -> bytes:
    """An IPv4 header (options padded to 4 bytes) + payload; ``total_length``
    and ``bad_checksum`` make it lie."""
    options += b'\0' * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    length = total_length if total_length is not None else 4 * ihl + len(payload)
    header = bytearray(struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, length & 0xffff, ident & 0xffff,
                                   frag, ttl, proto, 0, _ip(src), _ip(dst)) + options)
    struct.pack_into('!H', header, 10, ip_checksum(bytes(header)) ^ (0x5a5a if bad_checksum else 0))
    return bytes(header) + payload


def ipv4_frame(eth_src: str, eth_dst: str, src: IPv4Like, dst: IPv4Like, proto: int,
               payload: bytes, tags: Sequence[Tag] = (), **kw) -> bytes:
    return eth(eth_dst, eth_src, ETH_TYPE_IP, ipv4_packet(src, dst, proto, payload, **kw), tags)


def udp_frame(eth_src: str, eth_dst: str, src: IPv4Like, dst: IPv4Like, sport: int, dport: int,
              payload: bytes, tags: Sequence[Tag] = (), ttl: int = 64) -> bytes:
    """Ethernet/IPv4/UDP with both checksums right (controller.packets.dhcp.build_frame)."""
    frame = dhcp.build_frame(eth_src, eth_dst, src, dst, sport, dport, payload, ttl=ttl)
    return tagged(frame, tags).ljust(MIN_FRAME, b'\0')


def icmp_echo(eth_src: str, eth_dst: str, src: IPv4Like, dst: IPv4Like, payload: bytes = b'',
              ident: int = 0x4242, seq: int = 1, tags: Sequence[Tag] = (), ttl: int = 64) -> bytes:
    icmp = bytearray(struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, 0, ident, seq) + payload)
    struct.pack_into('!H', icmp, 2, ip_checksum(bytes(icmp)))
    return ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_ICMP, bytes(icmp), tags, ttl=ttl)


def arp_frame(op: int, eth_src: str, eth_dst: str, sha: str, spa: IPv4Like, tha: str,
              tpa: IPv4Like, tags: Sequence[Tag] = (), trailer: bytes = b'') -> bytes:
    """An ARP request or reply (``controller.packets.arp``'s layout); ``trailer``
    goes into the Ethernet padding, where a marker survives forwarding."""
    body = ARP_BODY.pack(1, ETH_TYPE_IP, 6, 4, op, mac_to_bytes(sha), _ip(spa), mac_to_bytes(tha),
                         _ip(tpa))
    return eth(eth_dst, eth_src, ETH_TYPE_ARP, body + trailer, tags)


def dhcp_reply(message_type: int, server_mac: str, server_ip: IPv4Like, client_mac: str,
               yiaddr: IPv4Like, xid: int, *, sport: int = dhcp.SERVER_PORT,
               eth_dst: str = BROADCAST_MAC, ip_dst: IPv4Like = '255.255.255.255',
               router: Optional[IPv4Like] = None, tags: Sequence[Tag] = ()) -> bytes:
    """A DHCP server's OFFER/ACK (to UDP 68, from ``sport``) with the options a
    client needs to take it: server id, mask, lease time, and a router."""
    options = [(dhcp.OPT_MESSAGE_TYPE, bytes((message_type,))),
               (dhcp.OPT_SERVER_ID, _ip(server_ip)),
               (dhcp.OPT_SUBNET_MASK, _ip('255.255.255.0')),
               (dhcp.OPT_LEASE_TIME, struct.pack('!I', 3600))]
    if router is not None:
        options.append((dhcp.OPT_ROUTER, _ip(router)))
    payload = dhcp.build_bootp(dhcp.BOOTREPLY, xid, client_mac, options, yiaddr=yiaddr,
                               siaddr=server_ip)
    return udp_frame(server_mac, eth_dst, server_ip, ip_dst, sport, dhcp.CLIENT_PORT, payload, tags)


# --------------------------------------------------------------------------
# reading frames back

@dataclass
class Frame:
    """What a test asserts on; fields the frame does not have stay None."""
    raw: bytes
    dst: str = ''
    src: str = ''
    tags: List[Tag] = field(default_factory=list)
    ethertype: int = 0
    ip_src: Optional[str] = None
    ip_dst: Optional[str] = None
    ttl: Optional[int] = None
    proto: Optional[int] = None
    sport: Optional[int] = None
    dport: Optional[int] = None
    arp_op: Optional[int] = None
    arp_sha: Optional[str] = None
    arp_spa: Optional[str] = None
    arp_tpa: Optional[str] = None

    def has(self, marker: bytes) -> bool:
        return marker in self.raw

    def __str__(self) -> str:
        tags = ''.join(f' tag {tpid:#06x}/{tci & 0xfff}' for tpid, tci in self.tags)
        text = f'{self.src} > {self.dst}{tags} type {self.ethertype:#06x} len {len(self.raw)}'
        if self.arp_op is not None:
            text += f' ARP op {self.arp_op} {self.arp_spa} is-at {self.arp_sha} (to {self.arp_tpa})'
        if self.ip_src is not None:
            text += f' IPv4 {self.ip_src} > {self.ip_dst} ttl {self.ttl} proto {self.proto}'
        if self.sport is not None:
            text += f' ports {self.sport} > {self.dport}'
        return text


def parse(raw: bytes) -> Frame:
    """Split a frame into the fields of ``Frame``; never raises."""
    f = Frame(raw)
    if len(raw) < ETH_HEADER.size:
        return f
    f.dst, f.src = mac_to_str(raw[0:6]), mac_to_str(raw[6:12])
    at = 12
    ethertype = struct.unpack_from('!H', raw, at)[0]
    while ethertype in (ETH_TYPE_VLAN, ETH_TYPE_QINQ) and len(raw) >= at + 6:
        f.tags.append((ethertype, struct.unpack_from('!H', raw, at + 2)[0]))
        at += 4
        ethertype = struct.unpack_from('!H', raw, at)[0]
    f.ethertype, at = ethertype, at + 2
    body = raw[at:]
    if ethertype == ETH_TYPE_ARP and len(body) >= ARP_BODY.size:
        _, _, _, _, op, sha, spa, _, tpa = ARP_BODY.unpack_from(body)
        f.arp_op, f.arp_sha = op, mac_to_str(sha)
        f.arp_spa, f.arp_tpa = str(ipaddress.IPv4Address(spa)), str(ipaddress.IPv4Address(tpa))
    elif ethertype == ETH_TYPE_IP and len(body) >= 20:
        ihl = (body[0] & 0x0f) * 4
        f.ttl, f.proto = body[8], body[9]
        f.ip_src, f.ip_dst = str(ipaddress.IPv4Address(body[12:16])), str(ipaddress.IPv4Address(body[16:20]))
        if f.proto in (6, 17) and len(body) >= ihl + 4:
            f.sport, f.dport = struct.unpack_from('!HH', body, ihl)
    return f


def read_pcap(path: Union[str, Path]) -> List[bytes]:
    """The frames of a pcap file (DLT_EN10MB), also while tcpdump still writes it
    (a record cut short at the end is left out)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        order = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        order = '>'
    else:
        raise ValueError(f'{path}: not a pcap file (magic {magic.hex()})')
    record = struct.Struct(order + 'IIII')
    frames, at = [], 24
    while at + record.size <= len(data):
        _, _, caplen, _ = record.unpack_from(data, at)
        at += record.size
        if at + caplen > len(data):
            break
        frames.append(data[at:at + caplen])
        at += caplen
    return frames


# --------------------------------------------------------------------------
# raw sockets inside a namespace

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class RawPort:
    """An AF_PACKET socket on ``ifname`` of a lab host: send crafted frames as
    they are (tags and all), receive the frames that come in."""

    def __init__(self, host: 'Host', ifname: str = 'eth0'):
        self.host = host

        def make():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((ifname, ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            return s

        self.sock = in_netns(host.ns, make)
        self.sent = 0

    def __enter__(self) -> 'RawPort':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)
        self.sent += 1

    def send_all(self, frames: Iterable[bytes], pace: float = 0.0) -> int:
        """Send each frame, ``pace`` seconds apart; returns how many were sent."""
        n = 0
        for frame in frames:
            self.send(frame)
            n += 1
            if pace:
                time.sleep(pace)
        return n

    def flood(self, frame_at: Callable[[int], bytes], count: int, seconds: float) -> float:
        """Send ``frame_at(i)`` for i < count, evenly over ``seconds`` (in small
        bursts, so the pace holds on a busy machine); returns the time taken."""
        start, bursts = time.monotonic(), max(1, int(seconds * 100))
        per_burst = -(-count // bursts)
        for b in range(bursts):
            for i in range(b * per_burst, min(count, (b + 1) * per_burst)):
                self.send(frame_at(i))
            wait = start + (b + 1) * seconds / bursts - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return time.monotonic() - start

    def drain(self) -> None:
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(65535)

    def receive(self, want: Callable[[bytes], bool], timeout: float) -> Optional[bytes]:
        """The first incoming frame for which ``want`` is true, within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                break
            data, addr = self.sock.recvfrom(65535)
            if addr[2] != PACKET_OUTGOING and want(data):
                return data
        return None


# --------------------------------------------------------------------------
# tcpdump

class Capture:
    """``tcpdump -U -w`` on a host's eth0 (inbound frames only unless
    ``direction`` says otherwise), read back while it runs.

    ``--immediate-mode``: without it libpcap hands frames over in blocks that
    are released on a timer, so a frame may show up in the file a second or
    more after it arrived.  Frames are written in order of arrival, so once
    a frame sent last is in the file, every frame before it is too."""

    _count = 0

    def __init__(self, host: 'Host', direction: str = 'in', bpf: Sequence[str] = ()):
        Capture._count += 1
        self.host = host
        self.path = host.lab.path(f'{host.name}-{Capture._count}.pcap')
        self.errors = host.lab.path(f'{host.name}-{Capture._count}.tcpdump')
        with open(self.errors, 'w') as err:
            self.proc = host.popen(['tcpdump', '-i', 'eth0', '--immediate-mode', '-U', '-n', '-s', '0', '-Q', direction,
                                    '-w', str(self.path), *bpf], stderr=err)
        wait_for(lambda: 'listening on' in self.errors.read_text() or self.proc.poll() is not None,
                 timeout=10, interval=0.05, what=f'tcpdump to start in {host.name}')
        if self.proc.poll() is not None:
            raise RuntimeError(f'tcpdump in {host.name} exited: {self.errors.read_text()}')

    def frames(self) -> List[Frame]:
        return [parse(raw) for raw in read_pcap(self.path)]

    def stop(self) -> List[Frame]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.frames()


# --------------------------------------------------------------------------
# a steady ping whose losses can be checked while it runs

_REPLY_RE = re.compile(r'icmp_seq=(\d+) ttl=')
_NO_ANSWER_RE = re.compile(r'no answer yet for icmp_seq=(\d+)')
_SENT_RE = re.compile(r'(\d+) packets transmitted, (\d+) received')


class Pinger:
    """``ping -O -i 1/hz`` from ``host`` to ``ip`` in the background.  A thread
    reads its lines as they come (ping flushes each): a reply, or (-O) "no
    answer yet" when the next echo goes out first, so every echo sent shows
    up and ``lost()`` is known at any time."""

    def __init__(self, host: 'Host', ip: str, hz: float = 10, seconds: int = 600):
        interval = f'{1 / hz:g}'
        self.proc = host.popen(['ping', '-n', '-O', '-i', interval, '-W', '1', '-w', str(seconds), ip],
                               stdout=subprocess.PIPE)
        self.first_seen: dict[int, float] = {}     # seq -> when it first showed up
        self.replies: set[int] = set()
        self.summary = ''
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            reply, waiting = _REPLY_RE.search(line), _NO_ANSWER_RE.search(line)
            if reply or waiting:
                seq = int((reply or waiting).group(1))     # type: ignore[union-attr]
                self.first_seen.setdefault(seq, time.monotonic())
                if reply:
                    self.replies.add(seq)
            elif 'packets transmitted' in line:
                self.summary = line.strip()

    def sent(self) -> int:
        return max(self.first_seen, default=0)

    def lost(self, settle: float = 1.2) -> List[int]:
        """Echoes sent more than ``settle`` s ago (ping's -W 1 plus slack) that
        got no reply."""
        now = time.monotonic()
        return sorted(seq for seq, seen in list(self.first_seen.items())
                      if now - seen > settle and seq not in self.replies)

    def stop(self) -> Tuple[int, int]:
        """Stop it; (transmitted, received) as ping counted them.  It is
        stopped just after a reply, so no echo is still on its way then
        (ping would count that one as lost)."""
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and self.proc.poll() is None:
            newest = self.sent()
            if newest and newest in self.replies:
                break
            time.sleep(0.002)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        m = _SENT_RE.search(self.summary)
        if not m:
            raise AssertionError(f'ping gave no summary: {self.summary!r}')
        return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------
# DHCP from a raw socket

def dhcp_discover(port: RawPort, mac: str, timeout: float = 2.0) -> Optional[float]:
    """DISCOVER -> OFFER for ``mac``: the seconds it took, or None without an offer."""
    xid = random.getrandbits(32)
    port.drain()
    started = time.monotonic()
    port.send(dhcp.build_request(dhcp.DISCOVER, xid, mac))

    def offer(frame: bytes) -> bool:
        reply = dhcp.parse_reply(frame)
        return reply is not None and reply.xid == xid and reply.message_type == dhcp.OFFER

    return time.monotonic() - started if port.receive(offer, timeout) else None


# --------------------------------------------------------------------------
# what the switch counted

def table_drops(br, table: int) -> int:
    """Packets dropped by ``table``'s drop flows of ours (its last flow, and
    those with a reason of their own: tagged frames, spoofed MACs, ...)."""
    return sum(f['n_packets'] for f in br.dump_flows(match=f'table={table}') if f['actions'] == 'drop')


def punted(br) -> int:
    """Packets our flows sent to the controller: by packet-in, or by the
    bridge's service port (every punt writes its reason into reg1 first)."""
    return sum(f['n_packets'] for f in br.dump_flows() if '->reg1' in f['actions'])


def meter_stats(br) -> dict[int, Tuple[int, int]]:
    """meter id -> (packets that reached it, packets its band dropped)."""
    out = br.ofctl('meter-stats')
    return {int(m.group(1)): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r'meter:(\d+) .*?packet_in_count:(\d+).*?\n\s*0: packet_count:(\d+)', out)}
