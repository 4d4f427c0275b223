"""The load generator: DORA exchanges (DISCOVER, OFFER, REQUEST, ACK) from
raw sockets, many in flight at once, timed from DISCOVER sent to ACK received.

The hot path sends prebuilt frames with the xid patched in (checksum updated
incrementally) and reads replies with a cheap parse; the warm-up checks
replies in full."""

from __future__ import annotations

import random
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

from bench.dhcp.rawsock import drain
from controller.packets import dhcp as p

Template = tuple[bytes, int]          # a frame with xid 0, and its UDP checksum
Reply = tuple[int, int, bytes, Optional[bytes]]   # xid, message type, yiaddr, server id
_MAGIC = p.MAGIC_COOKIE


def patch_xid(template: Template, xid: int) -> bytes:
    """The template's frame with ``xid``, its UDP checksum updated
    incrementally (RFC 1624)."""
    frame, csum = template
    s = (~csum & 0xffff) + (xid >> 16) + (xid & 0xffff)
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    c = (~s & 0xffff) or 0xffff
    return frame[:40] + c.to_bytes(2, 'big') + frame[42:46] + xid.to_bytes(4, 'big') + frame[50:]


def template(frame: bytes) -> Template:
    return frame, int.from_bytes(frame[40:42], 'big')


def quick_reply(frame: bytes) -> Optional[Reply]:
    """(xid, message type, yiaddr bytes, server id bytes) of a DHCP reply,
    or None; the hot path's cheap parse (the warm-up checks replies fully)."""
    if len(frame) < 282 or frame[12:14] != b'\x08\x00' or frame[23] != 17:
        return None
    b = 14 + (frame[14] & 0x0f) * 4
    if frame[b:b + 4] != b'\x00\x43\x00\x44':
        return None
    b += 8
    if frame[b] != 2 or frame[b + 236:b + 240] != _MAGIC:
        return None
    xid = int.from_bytes(frame[b + 4:b + 8], 'big')
    yiaddr = frame[b + 16:b + 20]
    mtype: Optional[int] = None
    server: Optional[bytes] = None
    i, n = b + 240, len(frame)
    while i < n:
        code = frame[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= n:
            break
        length = frame[i + 1]
        if code == 53 and length == 1:
            mtype = frame[i + 2]
        elif code == 54 and length == 4:
            server = frame[i + 2:i + 6]
        i += 2 + length
    if mtype is None:
        return None
    return xid, mtype, yiaddr, server


def _send(sock: socket.socket, frame: bytes) -> None:
    try:
        sock.send(frame)
    except OSError:      # a full socket buffer: the step times out like a lost frame
        pass


@dataclass
class Client:
    index: int
    sock: socket.socket
    mac: str
    ip: str
    discover: Template
    request: Template
    ip_packed: bytes
    state: str = 'idle'          # idle | discover | request
    xid: int = 0
    t0: float = 0.0
    deadline: float = 0.0


@dataclass
class RoundResult:
    side: str
    elapsed: float
    latencies: list[float] = field(default_factory=list)   # seconds
    started: int = 0
    timeouts: int = 0
    naks: int = 0
    wrong: int = 0        # OFFER/ACK of an address other than the registered one
    window: float = 0.0   # the seconds new transactions were started in
    in_window: int = 0    # transactions completed within the window (the rate)
    stop: float = float('inf')

    @property
    def completed(self) -> int:
        return len(self.latencies)


@dataclass
class WarmUp:
    """What the warm-up saw."""
    offers: int = 0
    acks: int = 0
    naks: int = 0
    bad: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, example: str) -> None:
        if len(self.examples) < 3:
            self.examples.append(example)


class LoadGenerator:
    """DORA exchanges over the raw sockets of one side's clients: client i
    has socket ``socks[i]``, MAC ``macs[i]`` and is registered with ``ips[i]``."""

    def __init__(self, socks: list[socket.socket], macs: list[str], ips: list[str],
                 server_ip: str):
        self.server = socket.inet_aton(server_ip)
        self.clients: list[Client] = []
        self.by_fd: dict[int, Client] = {}
        for i, (s, mac, ip) in enumerate(zip(socks, macs, ips)):
            c = Client(
                i, s, mac, ip,
                discover=template(p.build_request(p.DISCOVER, 0, mac)),
                request=template(p.build_request(p.REQUEST, 0, mac, requested_ip=ip,
                                                 server_id=server_ip)),
                ip_packed=socket.inet_aton(ip))
            self.clients.append(c)
            self.by_fd[s.fileno()] = c
        self.poll = select.epoll()
        for fd in self.by_fd:
            self.poll.register(fd, select.EPOLLIN)
        self._xid = random.getrandbits(32)

    def close(self) -> None:
        """The epoll and every client's socket."""
        for c in self.clients:
            c.sock.close()
        self.poll.close()

    def drain(self) -> None:
        for c in self.clients:
            drain(c.sock)

    def _next_xid(self) -> int:
        self._xid = (self._xid + 0x9e3779b1) & 0xffffffff
        return self._xid

    def _start(self, c: Client, now: float, timeout: float) -> None:
        c.xid = self._next_xid()
        c.state, c.t0, c.deadline = 'discover', now, now + timeout
        _send(c.sock, patch_xid(c.discover, c.xid))

    def _frames(self, wait: float):
        """(client, frame) for every frame that arrives within ``wait`` seconds."""
        for fd, _ in self.poll.poll(wait):
            c = self.by_fd[fd]
            while True:
                try:
                    frame = c.sock.recv(2048)
                except BlockingIOError:
                    break
                yield c, frame

    def _on_frame(self, c: Client, frame: bytes, now: float, timeout: float,
                  r: RoundResult) -> bool:
        """Advance `c` on a reply; True when its transaction ended."""
        q = quick_reply(frame)
        if q is None or q[0] != c.xid:
            return False
        xid, mtype, yiaddr, server = q
        if c.state == 'discover' and mtype == p.OFFER:
            if yiaddr != c.ip_packed:
                r.wrong += 1
            if yiaddr == c.ip_packed and server == self.server:
                frame = patch_xid(c.request, xid)
            else:   # not what the template expects: build it the slow way
                frame = p.build_request(p.REQUEST, xid, c.mac,
                                        requested_ip=socket.inet_ntoa(yiaddr),
                                        server_id=socket.inet_ntoa(server or self.server))
            c.state, c.deadline = 'request', now + timeout
            _send(c.sock, frame)
            return False
        if c.state == 'request' and mtype == p.ACK:
            if yiaddr != c.ip_packed:
                r.wrong += 1
            r.latencies.append(now - c.t0)
            if now <= r.stop:
                r.in_window += 1
            c.state = 'idle'
            return True
        if c.state == 'request' and mtype == p.NAK:
            r.naks += 1
            c.state = 'idle'
            return True
        return False

    def run(self, side: str, duration: float, concurrency: int,
            timeout: float) -> RoundResult:
        """Keep `concurrency` DORAs in flight for `duration` seconds, then let
        the ones in flight finish (or time out)."""
        clock = time.perf_counter
        concurrency = max(1, min(concurrency, len(self.clients)))
        idle = list(self.clients)
        random.shuffle(idle)
        in_flight: dict[int, Client] = {}
        r = RoundResult(side, 0.0, window=duration)
        start = clock()
        stop = r.stop = start + duration
        last_sweep = start
        while True:
            now = clock()
            while now < stop and len(in_flight) < concurrency and idle:
                c = idle.pop(0)
                self._start(c, now, timeout)
                in_flight[c.index] = c
                r.started += 1
            if not in_flight and (now >= stop or not idle):
                break
            for c, frame in self._frames(0.01):
                if c.state == 'idle':
                    continue          # a late or stray reply
                if self._on_frame(c, frame, clock(), timeout, r):
                    del in_flight[c.index]
                    idle.append(c)
            now = clock()
            if now - last_sweep > 0.005:
                last_sweep = now
                for c in [c for c in in_flight.values() if c.deadline <= now]:
                    c.state = 'idle'
                    r.timeouts += 1
                    del in_flight[c.index]
                    idle.append(c)
        r.elapsed = clock() - start
        return r

    def warm_up(self, seconds: float, timeout: float) -> dict:
        """Every client once through a full DORA, retrying until `seconds`
        pass; replies are checked in full (parse + checksums) here."""
        clock = time.perf_counter
        todo = {c.index: c for c in self.clients}
        seen = WarmUp()
        deadline = clock() + seconds
        while todo and clock() < deadline:
            now = clock()
            for c in todo.values():
                if c.state == 'idle' or c.deadline <= now:
                    self._start(c, now, timeout)
            while todo and clock() < min(deadline, now + timeout):
                for c, frame in self._frames(0.02):
                    msg = p.parse_reply(frame)
                    if msg is None or msg.xid != c.xid or c.index not in todo:
                        continue
                    if not p.checksums_ok(frame):
                        seen.bad += 1
                        seen.note(f'bad checksum from {msg.eth_src}')
                    if msg.message_type == p.OFFER:
                        seen.offers += 1
                    elif msg.message_type == p.ACK:
                        seen.acks += 1
                    elif msg.message_type == p.NAK:
                        seen.naks += 1
                        seen.note(f'NAK to {c.mac}: {msg.options.get(p.OPT_MESSAGE, b"")!r}')
                    if self._on_frame(c, frame, clock(), timeout, RoundResult('', 0)):
                        if msg.message_type == p.ACK:
                            del todo[c.index]
        for c in self.clients:
            c.state = 'idle'
        self.drain()
        return {'clients': len(self.clients), 'done': len(self.clients) - len(todo),
                'offers': seen.offers, 'acks': seen.acks, 'naks': seen.naks,
                'bad_checksums': seen.bad, 'examples': seen.examples}
