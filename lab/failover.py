"""Several controllers on the same bridges, and what failover tests watch.

* ``set_controllers``: point a bridge at several controllers (OVS connects
  to every target and keeps each connection's OpenFlow role);
* ``controller_roles``: the role OVS gives each connection (its Controller
  table: ``master``, ``slave`` or ``other`` for EQUAL), read from OVSDB;
* ``election_args``: the controller options for a leader election on etcd;
* ``DhcpWatch``: tcpdump in a host namespace, DHCP requests and replies by
  transaction id (a duplicate reply is two replies to one request);
* ``Renewer``: udhcpc bound in a host, asked to renew every so often
  (SIGUSR1: a unicast REQUEST to the server it got its lease from);
* ``RenewalProbe``: renewals at a steady pace from a UDP socket, each with
  its own xid, every reply timed (udhcpc's back-off would blur a failover).

Attach every controller before any of them programs the bridge: OVS deletes
all flows when a bridge gets its first controller (see DESIGN.md).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from controller.packets import dhcp
from lab.netns import in_netns
from lab.proc import sh, wait_for

if TYPE_CHECKING:
    from lab.netns import Host
    from lab.ovs import Bridge


def election_args(url: str, ttl: int = 2) -> list[str]:
    """Controller options: take part in the election on `url`
    (etcd://HOST:PORT/PREFIX), the API off (its default port is fixed)."""
    return ['--election', url, '--election-ttl', str(ttl), '--api-listen', 'off']


def set_controllers(bridge: 'Bridge', ports: Sequence[int], max_backoff_ms: int = 1000) -> None:
    """Connect `bridge` to a controller on each of `ports` (127.0.0.1), out of band."""
    sh(['ovs-vsctl', '--timeout=20', 'set-controller', bridge.name,
        *[f'tcp:127.0.0.1:{int(p)}' for p in ports]])
    for uuid in _controller_uuids(bridge):
        sh(['ovs-vsctl', '--timeout=20', 'set', 'Controller', uuid, 'connection-mode=out-of-band',
            f'max_backoff={int(max_backoff_ms)}'])


def _controller_uuids(bridge: 'Bridge') -> list[str]:
    out = sh(['ovs-vsctl', 'get', 'Bridge', bridge.name, 'controller']).stdout
    return re.findall(r'[0-9a-f-]{36}', out)


def controller_roles(bridge: 'Bridge') -> dict[int, Optional[str]]:
    """{controller port: OVS's role for that connection, None while it is down}."""
    uuids = _controller_uuids(bridge)
    if not uuids:
        return {}
    out = sh(['ovs-vsctl', '--format=json', '--columns=target,is_connected,role', 'list',
              'Controller', *uuids]).stdout
    roles: dict[int, Optional[str]] = {}
    for target, connected, role in json.loads(out)['data']:
        port = int(target.rsplit(':', 1)[1])
        roles[port] = role if connected is True and isinstance(role, str) else None
    return roles


def wait_roles(bridge: 'Bridge', expected: dict[int, Optional[str]], timeout: float = 15) -> None:
    """Wait until OVS reports exactly `expected` for these controller ports."""
    wait_for(lambda: {p: r for p, r in controller_roles(bridge).items() if p in expected}
             == expected, timeout=timeout, interval=0.1,
             what=f'roles {expected} on {bridge.name}',
             state=lambda: f'roles now: {controller_roles(bridge)}')


# -- DHCP seen from a host --------------------------------------------------------

_STAMP_RE = re.compile(r'^(\d+\.\d+) ')
_BOOTP_RE = re.compile(r'BOOTP/DHCP, (Request|Reply).*?xid (0x[0-9a-f]+)')


@dataclass(frozen=True)
class DhcpPacket:
    at: float            # wall clock (tcpdump -tt)
    kind: str            # 'Request' (from the client) or 'Reply'
    xid: str


class DhcpWatch:
    """tcpdump on a host's eth0: every DHCP request and reply it sees."""

    def __init__(self, host: 'Host', path: Path):
        self.path = path
        self._out = open(path, 'w')
        self.proc = host.popen(['tcpdump', '-l', '-n', '-v', '-tt', '-i', host.ifname,
                                'udp port 67 or udp port 68'], stdout=self._out,
                               stderr=subprocess.STDOUT)
        wait_for(lambda: 'listening on' in path.read_text(), timeout=10, interval=0.05,
                 what=f'tcpdump in {host.ns}')

    def packets(self) -> list[DhcpPacket]:
        """With -v, tcpdump prints the time and IP header on one line and the
        BOOTP summary (with the xid) on the next."""
        found, stamp = [], 0.0
        for line in self.path.read_text(errors='replace').splitlines():
            t = _STAMP_RE.match(line)
            if t:
                stamp = float(t.group(1))
            m = _BOOTP_RE.search(line)
            if m:
                found.append(DhcpPacket(stamp, m.group(1), m.group(2)))
        return found

    def duplicates(self) -> dict[str, tuple[int, int]]:
        """{xid: (requests, replies)} where more replies came than requests."""
        counts: dict[str, list[int]] = {}
        for p in self.packets():
            counts.setdefault(p.xid, [0, 0])[p.kind == 'Reply'] += 1
        return {x: (q, r) for x, (q, r) in counts.items() if r > q}

    def replies_after(self, t: float) -> list[DhcpPacket]:
        return [p for p in self.packets() if p.kind == 'Reply' and p.at > t]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)     # tcpdump flushes on SIGINT
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()


_SCRIPT = '#!/bin/sh\necho "$1" >> "%s"\n'


class Renewer:
    """udhcpc bound in `host` (started with `ip` already on eth0, so the
    renewal can go unicast), sent SIGUSR1 every `every` s from a thread."""

    def __init__(self, host: 'Host', workdir: Path, every: float = 0.25):
        self.events = workdir / f'{host.name}-renewer.events'
        script = workdir / f'{host.name}-renewer.sh'
        script.write_text(_SCRIPT % self.events)
        os.chmod(script, 0o755)
        self.proc = host.popen(['udhcpc', '-i', host.ifname, '-f', '-t', '5', '-T', '1',
                                '-s', str(script)])
        self.every = every
        self.renewals = 0
        self._stop = threading.Event()
        wait_for(lambda: 'bound' in self.seen(), timeout=15, interval=0.1,
                 what=f'udhcpc in {host.ns} to get its lease')
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def seen(self) -> list[str]:
        try:
            return self.events.read_text().split()
        except OSError:
            return []

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if self.proc.poll() is not None:
                return
            self.proc.send_signal(signal.SIGUSR1)
            self.renewals += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)


def ping_counts(out: str) -> tuple[int, int]:
    """(echoes sent, echoes answered) from ping's output (without -q),
    leaving out the last echo if it was still on its way when ping stopped
    (ping counts it lost)."""
    m = re.search(r'(\d+) packets transmitted', out)
    if not m:
        raise ValueError(f'ping printed no summary: {out[-300:]}')
    sent = int(m.group(1))
    answered = {int(n) for n in re.findall(r'icmp_seq=(\d+) ttl=', out)}
    if sent not in answered:
        sent -= 1
    return sent, len(answered & set(range(1, sent + 1)))


class RenewalProbe:
    """DHCP renewals from a host that has its address: a REQUEST (ciaddr =
    the host's address) sent unicast to the server every `every` s, each
    with a new xid, from a UDP socket on port 68 in the host's namespace.
    Records when each was sent and when each reply came (by xid)."""

    def __init__(self, host: 'Host', server_ip: str, every: float = 0.1):
        assert host.ip is not None, 'the probe renews an address the host has'
        self.host, self.server_ip, self.every = host, server_ip, every
        self.sock = in_netns(host.ns, lambda: _client_socket(str(host.ip)))
        self.sent: dict[int, float] = {}
        self.replies: dict[int, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _request(self, xid: int) -> bytes:
        options = [(dhcp.OPT_MESSAGE_TYPE, bytes((dhcp.REQUEST,)))]
        return dhcp.build_bootp(dhcp.BOOTREQUEST, xid, self.host.mac, options,
                                ciaddr=self.host.ip)

    def _run(self) -> None:
        due = time.time()
        while not self._stop.is_set():
            now = time.time()
            if now >= due:
                xid = secrets.randbits(32)
                self.sent[xid] = now
                try:
                    self.sock.sendto(self._request(xid), (self.server_ip, dhcp.SERVER_PORT))
                except OSError:
                    pass                      # no ARP answer yet: counted as unanswered
                due = now + self.every
            ready, _, _ = select.select([self.sock], [], [], max(0.0, due - time.time()))
            if ready:
                data = self.sock.recv(4096)
                if len(data) >= 8 and data[0] == dhcp.BOOTREPLY:
                    xid = int.from_bytes(data[4:8], 'big')
                    self.replies.setdefault(xid, []).append(time.time())

    def first_reply_after(self, t: float) -> Optional[float]:
        """When the first reply to a request sent after `t` came."""
        times = [min(r) for x, r in self.replies.items() if self.sent.get(x, 0) > t]
        return min(times) if times else None

    def duplicates(self) -> int:
        """Replies beyond the first, over all requests."""
        return sum(len(r) - 1 for r in self.replies.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _client_socket(ip: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, dhcp.CLIENT_PORT))
    return s
