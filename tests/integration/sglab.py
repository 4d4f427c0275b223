"""What the security-group tests and bench share: the scenario, TCP servers
and clients inside namespaces, and the drop counters of one reason."""
from __future__ import annotations

import socket
import threading
from typing import List, Optional

from controller.pipeline.drops import Drop
from controller.pipeline.flows import DROP_COOKIE, DROP_COOKIE_MASK
from lab import ofctl, parse_flow_line
from lab.netns import in_netns
from tests.integration.scenarios import Scenario, gateway, vif

WEB, APP, CLIENT = '172.16.1.1', '172.16.1.2', '172.16.1.3'


def groups() -> dict:
    return {
        'web': {'ingress': [{'proto': 'tcp', 'ports': 80, 'from': '0.0.0.0/0'},
                            {'proto': 'tcp', 'ports': '8000-8100', 'from_group': 'app'},
                            {'proto': 'icmp', 'from': '172.16.1.0/24'}]},
        'app': {'egress': [{'proto': 'tcp', 'ports': '8000-8100', 'to_group': 'web'},
                           {'proto': 'icmp'}]},
    }


def scenario(lab) -> Scenario:
    """web (group web), app (group app), client (no group) on one bridge."""
    s = Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x14}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'web': dict(vif(lab, 'net1', '52:54:00:14:00:01', WEB, 'br0', 'sw'), security_groups=['web']),
            'app': dict(vif(lab, 'net1', '52:54:00:14:00:02', APP, 'br0', 'sa'), security_groups=['app']),
            'client': vif(lab, 'net1', '52:54:00:14:00:03', CLIENT, 'br0', 'sc'),
            'net1-gw': gateway('net1', '52:54:00:14:00:fe', '172.16.1.254'),
        })
    s.doc['security_groups'] = groups()
    return s


class EchoServer:
    """A TCP echo server on ip:port inside a namespace (a thread of ours)."""

    def __init__(self, ns: str, ip: str, port: int):
        self.sock = in_netns(ns, lambda: socket.create_server((ip, port)))
        self.conns: List[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def connect(ns: str, ip: str, port: int, timeout: float = 2) -> Optional[socket.socket]:
    """A TCP connection made from inside `ns`, or None when refused or silent."""
    def attempt():
        try:
            return socket.create_connection((ip, port), timeout=timeout)
        except OSError:
            return None
    return in_netns(ns, attempt)


def echoes(sock: socket.socket, timeout: float = 1.5) -> bool:
    """Whether a line sent on `sock` comes back within `timeout`."""
    sock.settimeout(timeout)
    try:
        sock.sendall(b'ping\n')
        return sock.recv(64) == b'ping\n'
    except OSError:
        return False


def dropped(bridge, reason: Drop) -> int:
    """Packets the bridge's drop flows of `reason` have counted."""
    value = DROP_COOKIE | int(reason) << 40
    mask = DROP_COOKIE_MASK | 0x7f << 40
    out = ofctl(bridge, 'dump-flows', f'cookie={value:#x}/{mask:#x}')
    return sum(parse_flow_line(line)['n_packets'] for line in out.splitlines()
               if 'actions=' in line)
