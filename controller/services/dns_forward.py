"""Forwarding the names a zone does not own to the network's dns_upstream.

The event thread never waits on an upstream: `forward` rewrites the query's
id (a fresh random one, so answers cannot be guessed or mixed up between
clients), sends it from a non-blocking UDP socket and returns.  A thread of
its own (`run`) reads the answers, puts the client's id back and hands the
reply frame to `deliver(dpid, port, frame)`, which posts it to the app's
event thread for the packet-out.  Each upstream gets TIMEOUT seconds; then
the next one is asked, and after the last one the client gets SERVFAIL.
An answer from any other address or port, or with an id nobody waits for,
is ignored.
"""
from __future__ import annotations

import logging
import secrets
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from controller.services.dns_zone import servfail

TIMEOUT = 1.0                # per upstream; dig waits 5 s, glibc's resolver 5 s
MAX_PENDING = 1024           # queries waiting for an upstream; beyond: SERVFAIL at once
MAX_MESSAGE = 65535

# (query's own wire, client id) -> frame: the service builds the frame to the client
Reply = Callable[[bytes], bytes]
Deliver = Callable[[int, int, bytes], None]


@dataclass
class _Pending:
    wire: bytes                       # the query as the client sent it
    upstreams: Tuple[str, ...]
    index: int                        # which upstream is being asked
    deadline: float
    dpid: int
    port: int
    frame: Reply                      # the response's wire -> the frame to the client


class Forwarder:
    def __init__(self, log: logging.Logger, deliver: Deliver, port: int = 53,
                 timeout: float = TIMEOUT, clock=time.monotonic):
        self.log, self.deliver, self.port, self.timeout, self.clock = log, deliver, port, timeout, clock
        self.counts: Dict[str, int] = {}        # forwarded, servfail
        self._pending: Dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = False

    def forward(self, wire: bytes, upstreams, dpid: int, port: int, frame: Reply) -> None:
        """Send `wire` to the first upstream; never blocks."""
        sock = self._socket()
        now = self.clock()
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                full = True
            else:
                full = False
                ident = self._fresh_id()
                self._pending[ident] = _Pending(wire, tuple(str(u) for u in upstreams), 0,
                                                now + self.timeout, dpid, port, frame)
        if full:
            self._fail(wire, dpid, port, frame)
            return
        self._send(sock, ident)

    def close(self) -> None:
        self._stop = True

    # -- the reading thread ---------------------------------------------------------
    def run(self) -> None:
        sock = self._socket()
        while not self._stop:
            wait = self._expire()
            ready, _, _ = select.select([sock], [], [], wait)
            if ready:
                self._read(sock)
        sock.close()

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data, (host, port) = sock.recvfrom(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:                   # an ICMP error for an earlier send: no answer
                continue
            if len(data) < 12 or port != self.port:
                continue
            ident = int.from_bytes(data[:2], 'big')
            with self._lock:
                pending = self._pending.get(ident)
                if pending is None or pending.upstreams[pending.index] != host:
                    continue
                del self._pending[ident]
            self._count('forwarded')
            self._deliver(pending, pending.wire[:2] + data[2:])

    def _expire(self) -> float:
        """Move on from upstreams that did not answer in time; the seconds until the next deadline."""
        now = self.clock()
        retry, failed, soonest = [], [], self.timeout
        with self._lock:
            for ident, p in list(self._pending.items()):
                if p.deadline > now:
                    soonest = min(soonest, p.deadline - now)
                elif p.index + 1 < len(p.upstreams):
                    p.index, p.deadline = p.index + 1, now + self.timeout
                    retry.append(ident)
                else:
                    failed.append(self._pending.pop(ident))
        for ident in retry:
            self._send(self._socket(), ident)
        for p in failed:
            self._fail(p.wire, p.dpid, p.port, p.frame)
        return max(0.01, soonest)

    # -- helpers -------------------------------------------------------------------
    def _send(self, sock: socket.socket, ident: int) -> None:
        with self._lock:
            p = self._pending.get(ident)
            if p is None:
                return
            message, host = ident.to_bytes(2, 'big') + p.wire[2:], p.upstreams[p.index]
        try:
            sock.sendto(message, (host, self.port))
        except OSError as exc:                 # unreachable, buffer full: the next upstream or SERVFAIL
            with self._lock:
                p.deadline = 0.0
            self.log.debug('dns: could not send to upstream %s: %s', host, exc)

    def _fail(self, wire: bytes, dpid: int, port: int, frame: Reply) -> None:
        self._count('servfail')
        self.deliver(dpid, port, frame(servfail(wire)))

    def _deliver(self, p: _Pending, response: bytes) -> None:
        try:
            self.deliver(p.dpid, p.port, p.frame(response))
        except Exception:                      # a frame we cannot build must not stop the thread
            self.log.exception('dns: could not deliver an upstream answer')

    def _fresh_id(self) -> int:
        while True:
            ident = secrets.randbits(16)
            if ident not in self._pending:
                return ident

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _socket(self) -> socket.socket:
        with self._lock:
            if self._sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.bind(('0.0.0.0', 0))
                self._sock = sock
            if self._thread is None:
                self._thread = threading.Thread(target=self.run, name='dns-forwarder', daemon=True)
                self._thread.start()
            return self._sock
