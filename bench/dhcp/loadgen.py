#!/usr/bin/env python3
"""DHCP benchmark: DORA transactions/s and latency, OUR responder vs dnsmasq.

    .venv/bin/python bench/dhcp                       # 64 clients, concurrency 16
    .venv/bin/python bench/dhcp --clients 128 --concurrency 32 --rounds 5
    .venv/bin/python bench/dhcp --sides dnsmasq --json
    .venv/bin/python bench/dhcp --dnsmasq-bridge static   # dnsmasq without flooding

What it measures: N DHCP clients, each with its own MAC behind its own OVS
port (a veth pair; all client ends in ONE namespace), run complete DORA
exchanges (DISCOVER, wait OFFER, REQUEST, wait ACK) from raw AF_PACKET
sockets. Each round, per side: `--duration` seconds with `--concurrency`
exchanges in flight (the rate: ACKs received within that window per second,
and latency under load), then `--latency-duration` seconds one exchange at
a time (unloaded latency). Latency is DISCOVER sent -> ACK received.

* ours:    a bridge (netdev, fail_mode=secure, OpenFlow13) programmed by the
           controller (`ryu-manager --topology FILE controller.app`) from a
           generated topology: one network, the N vif interfaces, a simulated
           dhcp interface and a simulated router.
* dnsmasq: the same number of client veths on a bridge with one NORMAL flow
           (so DISCOVERs and REQUESTs are flooded to every port, as on any L2
           segment), and dnsmasq in a server namespace serving the same
           static leases with the same options (router, DNS, domain, lease).
           `--dnsmasq-bridge static` adds flows that send DHCP requests
           straight to the server's port and each client MAC to its port:
           dnsmasq without the flooding, closer to a responder-vs-responder
           comparison.

Both bridges live in the same ovs-vswitchd during the whole run, and rounds
alternate (dnsmasq, ours, ours, dnsmasq, ...) so drifting machine load hits
both sides alike. The table shows each side's rate, p50/p99 under load and
one at a time, and the ratios ours/dnsmasq; targets: ours rate >= dnsmasq's,
ours p99 < 5 ms one at a time (under load p99 is mostly queueing: about
concurrency / rate). Before measuring, every client does one DORA (retrying
for `--warmup` seconds) so flows, MAC learning and leases are in place; a
side whose server never answers is reported as "no answers" and skipped.

Needs root, a running ovs-vswitchd and dnsmasq. Traffic stays in namespaces
created here; everything (bridges, namespaces, veths, dnsmasq, controller)
is removed at exit, also after a crash (tests/netlab.py records it).

Exit status: 0 when measured (whatever the figures; with --strict, 1 when
ours misses a target or gave no answers), 2 when the setup does not work.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import random
import select
import shutil
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import yaml  # noqa: E402

from controller.packets import dhcp as p  # noqa: E402
from controller.topology import load_topology  # noqa: E402
from lab import (  # noqa: E402
    Lab,
    NetlabError,
    check_environment,
    free_tcp_port,
    sh,
    wait_for,
)

TARGET_P99_MS = 5.0
NETWORK = '10.77.0.0/16'
PREFIXLEN = 16
SERVER_IP = '10.77.255.253'
ROUTER_IP = '10.77.255.254'
SERVER_MAC = '52:54:00:bd:ff:fd'
ROUTER_MAC = '52:54:00:bd:ff:fe'
DNS_SERVERS = ['10.77.255.253', '192.0.2.53']
DOMAIN = 'bench.internal'
LEASE = 3600
DPID = 0xbd
MAX_CLIENTS = 4000

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
CLONE_NEWNET = 0x40000000


def client_mac(i: int) -> str:
    return f'52:54:00:bd:{i >> 8:02x}:{i & 0xff:02x}'


def client_ip(i: int) -> str:
    return f'10.77.{i // 250}.{i % 250 + 1}'


class SetupError(Exception):
    """The benchmark cannot measure: the message says why."""


# --------------------------------------------------------------------------
# raw sockets inside a namespace

_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns: str, fn):
    """Run fn() with this thread in network namespace `ns`, then come back.
    Sockets created meanwhile stay in `ns`."""
    own = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    target = os.open(f'/run/netns/{ns}', os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f'setns({ns}): {os.strerror(err)}')
        try:
            return fn()
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:   # cannot go on in the wrong namespace
                os._exit(3)
    finally:
        os.close(own)
        os.close(target)


# Classic BPF: IPv4, UDP, destination port 68 (IPv4 header of any length).
_BPF = [
    (0x28, 0, 0, 12),        # ldh [12]
    (0x15, 0, 6, 0x0800),    # jeq IPv4 ? next : drop
    (0x30, 0, 0, 23),        # ldb [23]
    (0x15, 0, 4, 17),        # jeq UDP ? next : drop
    (0xb1, 0, 0, 14),        # ldxb 4*([14]&0xf)
    (0x48, 0, 0, 16),        # ldh [x+16]  (UDP destination port)
    (0x15, 0, 1, 68),        # jeq 68 ? accept : drop
    (0x06, 0, 0, 0xffff),    # ret accept
    (0x06, 0, 0, 0),         # ret drop
]
_BPF_PROG = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in _BPF))
_BPF_FPROG = struct.pack('HL', len(_BPF), ctypes.addressof(_BPF_PROG))


def raw_socket(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, _BPF_FPROG)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((ifname, 0))
    # drop whatever arrived before the filter was attached
    s.setblocking(False)
    try:
        while True:
            s.recv(4096)
    except BlockingIOError:
        pass
    return s


# --------------------------------------------------------------------------
# the load generator

def _patch_xid(template: bytes, csum: int, xid: int) -> bytes:
    """`template` (xid 0, UDP checksum `csum`) with `xid`, checksum updated
    incrementally (RFC 1624)."""
    s = (~csum & 0xffff) + (xid >> 16) + (xid & 0xffff)
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    c = (~s & 0xffff) or 0xffff
    return template[:40] + c.to_bytes(2, 'big') + template[42:46] + \
        xid.to_bytes(4, 'big') + template[50:]


def _template(frame: bytes):
    return frame, int.from_bytes(frame[40:42], 'big')


_MAGIC = b'\x63\x82\x53\x63'


def quick_reply(frame: bytes):
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
    mtype = server = None
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
    discover: tuple
    request: tuple
    ip_packed: bytes
    state: str = 'idle'          # idle | discover | request
    xid: int = 0
    t0: float = 0.0
    deadline: float = 0.0


@dataclass
class RoundResult:
    side: str
    elapsed: float
    latencies: List[float] = field(default_factory=list)   # seconds
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


class LoadGenerator:
    """DORA exchanges over the raw sockets of one side's clients."""

    def __init__(self, socks: List[socket.socket], server_ip: str):
        self.server = socket.inet_aton(server_ip)
        self.clients: List[Client] = []
        self.by_fd: Dict[int, Client] = {}
        for i, s in enumerate(socks):
            mac, ip = client_mac(i), client_ip(i)
            c = Client(
                i, s, mac, ip,
                discover=_template(p.build_request(p.DISCOVER, 0, mac)),
                request=_template(p.build_request(p.REQUEST, 0, mac, requested_ip=ip,
                                                  server_id=server_ip)),
                ip_packed=socket.inet_aton(ip))
            self.clients.append(c)
            self.by_fd[s.fileno()] = c
        self.poll = select.epoll()
        for fd in self.by_fd:
            self.poll.register(fd, select.EPOLLIN)
        self._xid = random.getrandbits(32)

    def close(self):
        self.poll.close()

    def _next_xid(self) -> int:
        self._xid = (self._xid + 0x9e3779b1) & 0xffffffff
        return self._xid

    def _start(self, c: Client, now: float, timeout: float) -> None:
        c.xid = self._next_xid()
        c.state, c.t0, c.deadline = 'discover', now, now + timeout
        _send(c.sock, _patch_xid(*c.discover, c.xid))

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
                frame = _patch_xid(*c.request, xid)
            else:   # not what the template expects: build it the slow way
                frame = p.build_request(p.REQUEST, xid, c.mac, requested_ip=yiaddr,
                                        server_id=server or self.server)
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
        in_flight: Dict[int, Client] = {}
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
            for fd, _ in self.poll.poll(0.01):
                c = self.by_fd[fd]
                while True:
                    try:
                        frame = c.sock.recv(2048)
                    except BlockingIOError:
                        break
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
        offers = acks = bad = naks = 0
        examples: List[str] = []
        deadline = clock() + seconds
        while todo and clock() < deadline:
            now = clock()
            for c in todo.values():
                if c.state == 'idle' or c.deadline <= now:
                    self._start(c, now, timeout)
            while todo and clock() < min(deadline, now + timeout):
                for fd, _ in self.poll.poll(0.02):
                    c = self.by_fd[fd]
                    while True:
                        try:
                            frame = c.sock.recv(2048)
                        except BlockingIOError:
                            break
                        msg = p.parse_reply(frame)
                        if msg is None or msg.xid != c.xid or c.index not in todo:
                            continue
                        if not p.checksums_ok(frame):
                            bad += 1
                            if len(examples) < 3:
                                examples.append(f'bad checksum from {msg.eth_src}')
                        if msg.message_type == p.OFFER:
                            offers += 1
                        elif msg.message_type == p.ACK:
                            acks += 1
                        elif msg.message_type == p.NAK:
                            naks += 1
                            if len(examples) < 3:
                                examples.append(f'NAK to {c.mac}: '
                                                f'{msg.options.get(p.OPT_MESSAGE, b"")!r}')
                        if self._on_frame(c, frame, clock(), timeout, RoundResult('', 0)):
                            if msg.message_type == p.ACK:
                                del todo[c.index]
        for c in self.clients:
            c.state = 'idle'
        self._drain()
        return {'clients': len(self.clients), 'done': len(self.clients) - len(todo),
                'offers': offers, 'acks': acks, 'naks': naks, 'bad_checksums': bad,
                'examples': examples}

    def _drain(self):
        for c in self.clients:
            try:
                while True:
                    c.sock.recv(2048)
            except BlockingIOError:
                pass


# --------------------------------------------------------------------------
# building the two sides

def _batch(args: List[str], lines: List[str]) -> None:
    for i in range(0, len(lines), 500):
        sh(args + ['-batch', '-'], input='\n'.join(lines[i:i + 500]) + '\n', timeout=120)


def add_client_veths(lab: Lab, ns: str, bridge, ports: List[str], inner: List[str],
                     macs: List[str]) -> None:
    """veth pairs: `ports[i]` on `bridge`, `inner[i]` (MAC `macs[i]`) in `ns`."""
    links = getattr(lab, '_links', None)
    if links is not None:             # so a crashed run is cleaned up too
        links.extend(ports)
        lab._save()
    _batch(['ip'], [f'link add {pt} type veth peer name {nm} netns {ns}'
                    for pt, nm in zip(ports, inner)])
    _batch(['ip', '-n', ns], [f'link set {nm} address {mac}' for nm, mac in zip(inner, macs)]
           + [f'link set {nm} up' for nm in inner])
    _batch(['ip'], [f'link set {pt} up' for pt in ports])
    sh(['sysctl', '-qw'] + [f'net.ipv6.conf.{pt}.disable_ipv6=1' for pt in ports], check=False)
    for i in range(0, len(ports), 200):
        args = ['ovs-vsctl', '--timeout=120']
        for pt in ports[i:i + 200]:
            args += ['--', '--may-exist', 'add-port', bridge.name, pt]
        sh(args, timeout=180)


def static_flows(bridge, server_port: str, ports_by_mac: Dict[str, str]) -> None:
    """On a NORMAL bridge: DHCP requests straight to the server's port and
    each client MAC to its port, so nothing DHCP is flooded."""
    out = sh(['ovs-vsctl', '-f', 'csv', '--no-headings', '--columns=name,ofport',
              'list', 'Interface']).stdout
    ofport = {}
    for line in out.splitlines():
        name, _, num = line.partition(',')
        ofport[name.strip('"')] = num.strip()
    flows = [f'priority=100,udp,tp_src=68,tp_dst=67,actions=output:{ofport[server_port]}']
    flows += [f'priority=90,dl_dst={mac},actions=output:{ofport[port]}'
              for mac, port in ports_by_mac.items()]
    sh(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', bridge.name, '-'],
       input='\n'.join(flows) + '\n', timeout=60)


def topology_for(lab: Lab, n: int) -> dict:
    interfaces = {}
    for i in range(n):
        interfaces[f'c{i}'] = {'network': 'bench', 'mac': client_mac(i), 'ipv4': client_ip(i),
                               'datapath': 'bench', 'port': lab.ifname(f'o{i}')}
    interfaces['bench-gw'] = {'network': 'bench', 'mode': 'simulated', 'mac': ROUTER_MAC,
                              'ipv4': ROUTER_IP, 'services': ['router']}
    interfaces['bench-dhcp'] = {'network': 'bench', 'mode': 'simulated', 'mac': SERVER_MAC,
                                'ipv4': SERVER_IP, 'services': ['dhcp']}
    return {'datapaths': {'bench': {'dpid': DPID}},
            'networks': {'bench': {'ipv4': NETWORK, 'dns_servers': DNS_SERVERS,
                                   'domain_name': DOMAIN, 'lease_time': LEASE}},
            'interfaces': interfaces}


def dnsmasq_argv(n: int, pidfile: Path) -> List[str]:
    argv = ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0',
            '--interface=eth0', '--bind-interfaces', '--log-facility=-', '--quiet-dhcp',
            '--leasefile-ro', '--dhcp-authoritative', '--no-ping', '--user=root',
            f'--pid-file={pidfile}', f'--dhcp-lease-max={max(1000, 2 * n)}',
            f'--dhcp-range={NETWORK.split("/")[0]},static,255.255.0.0,{LEASE}',
            f'--dhcp-option=option:router,{ROUTER_IP}',
            f'--dhcp-option=option:dns-server,{",".join(DNS_SERVERS)}',
            f'--dhcp-option=option:domain-name,{DOMAIN}']
    argv += [f'--dhcp-host={client_mac(i)},{client_ip(i)}' for i in range(n)]
    return argv


@dataclass
class Bench:
    lab: Lab
    n: int
    gens: Dict[str, LoadGenerator] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)
    controller: object = None
    dnsmasq: object = None
    dnsmasq_log: Optional[Path] = None

    def build(self, sides: List[str], verbose: bool, dnsmasq_bridge: str = 'normal',
              app: str = 'controller.app') -> None:
        lab, n = self.lab, self.n
        first = 'ours' if 'ours' in sides else 'dnsmasq'
        # the client namespace, created with the first veth of the first side
        br_o = br_d = None
        port = free_tcp_port()
        if 'ours' in sides:
            br_o = lab.bridge('bo', DPID, controller_port=port)
        if 'dnsmasq' in sides:
            br_d = lab.normal_bridge('bd')
        first_br = br_o if first == 'ours' else br_d
        first_port = lab.ifname(('o' if first == 'ours' else 'd') + '0')
        cli = lab.host('cli', first_br, first_port, client_mac(0), None)
        ns = cli.ns
        bridges = {'ours': br_o if 'ours' in sides else None,
                   'dnsmasq': br_d if 'dnsmasq' in sides else None}
        names: Dict[str, List[str]] = {}
        for side, letter in (('ours', 'o'), ('dnsmasq', 'd')):
            if side not in sides:
                continue
            start = 1 if side == first else 0     # lab.host made the first one
            inner = [f'{letter}{i}' for i in range(n)]
            if side == first:
                inner[0] = cli.ifname
            add_client_veths(lab, ns, bridges[side],
                             [lab.ifname(f'{letter}{i}') for i in range(start, n)],
                             inner[start:], [client_mac(i) for i in range(start, n)])
            names[side] = inner
        if 'dnsmasq' in sides:
            srv = lab.host('srv', br_d, lab.ifname('ds'), SERVER_MAC,
                           f'{SERVER_IP}/{PREFIXLEN}')
            self.dnsmasq_log = lab.path('dnsmasq.log')
            log = open(self.dnsmasq_log, 'w')
            self.dnsmasq = srv.popen(dnsmasq_argv(n, lab.path('dnsmasq.pid')),
                                     stdout=log, stderr=log)
            log.close()
            try:
                wait_for(lambda: self.dnsmasq.poll() is not None or
                         'DHCP, static leases only' in self.dnsmasq_log.read_text(),
                         timeout=10, interval=0.05, what='dnsmasq to start')
            except AssertionError as e:
                raise SetupError(f'dnsmasq did not start: {e}') from None
            if self.dnsmasq.poll() is not None:
                raise SetupError(f'dnsmasq exited ({self.dnsmasq.returncode}):\n'
                                 f'{self.dnsmasq_log.read_text()[-2000:]}')
            if dnsmasq_bridge == 'static':
                static_flows(br_d, srv.port, {client_mac(i): lab.ifname(f'd{i}')
                                              for i in range(n)})
        if 'ours' in sides:
            path = lab.write('topology.yml', yaml.safe_dump(topology_for(lab, n), sort_keys=False))
            try:
                load_topology(str(path))
            except Exception as e:
                raise SetupError(f'the generated topology is refused: {e}') from None
            extra = ['--verbose'] if verbose else []
            problem = None
            try:
                self.controller = ctl = lab.controller(path, port=port, extra_args=extra,
                                                       app=app)
            except Exception as e:   # netlab raises when it exits before listening
                lines = [x for x in str(e).splitlines() if x.strip()]
                head = lines[0].strip('\'"') if lines else repr(e)
                self.notes['ours'] = f'controller did not start: {head}'
                if lines and verbose:
                    self.notes['ours'] += '\n' + '\n'.join(lines[1:][-25:])
                elif lines:
                    self.notes['ours'] += f' ... {lines[-1]}'
                ctl = None

            def flows_or_death():
                if not ctl.running():
                    raise AssertionError(f'controller exited ({ctl.proc.returncode})')
                return bool(br_o.dump_flows())
            try:
                if ctl is not None:
                    wait_for(flows_or_death, timeout=30, interval=0.2,
                             what='the controller to install flows')
            except AssertionError as e:
                problem = str(e).splitlines()[0]
            if problem:     # the ours half reports it; dnsmasq is still measured
                self.notes['ours'] = f'controller not ready: {problem}' + \
                    self._controller_hint(verbose)
        for side in sides:
            socks = in_netns(ns, lambda: [raw_socket(nm) for nm in names[side]])
            self.gens[side] = LoadGenerator(socks, SERVER_IP)

    def _controller_hint(self, verbose: bool) -> str:
        if self.controller is None:
            return ''
        log = self.controller.log_text().splitlines()
        if verbose:
            return '\ncontroller log (tail):\n' + '\n'.join(log[-25:])
        found = []
        for k, line in enumerate(log):
            if ' ERROR ' in line:
                found.append(line.strip())
            elif line.startswith('Traceback'):
                tail = next((x for x in log[k + 1:] if x and not x.startswith(' ')), '')
                found.append(f'Traceback: {tail.strip()}')
        packet_ins = sum('packet-in' in line for line in log)
        hint = f'; first controller error: {found[0]}' if found else ''
        if packet_ins:
            hint += f'; {packet_ins} log lines about packet-ins'
        return hint

    def close(self):
        for g in self.gens.values():
            for c in g.clients:
                c.sock.close()
            g.close()


# --------------------------------------------------------------------------
# measuring and reporting

def percentile(sorted_values: List[float], q: float) -> Optional[float]:
    """Nearest-rank percentile of an ascending list (None if empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def _ms(v: Optional[float]) -> Optional[float]:
    return None if v is None else round(v * 1e3, 3)


def summarize(load: List[RoundResult], idle: List[RoundResult], warm: dict,
              note: Optional[str]) -> dict:
    lat = sorted(x for r in load for x in r.latencies)
    one = sorted(x for r in idle for x in r.latencies)
    elapsed = sum(r.window for r in load)
    idle_elapsed = sum(r.window for r in idle)
    done = sum(r.in_window for r in load)
    idle_done = sum(r.in_window for r in idle)
    out = {
        'status': 'ok' if lat else 'no answers',
        'transactions': len(lat),
        'seconds': round(elapsed, 3),
        'rate': round(done / elapsed, 1) if elapsed else 0.0,
        'p50_ms': _ms(percentile(lat, 50)),
        'p99_ms': _ms(percentile(lat, 99)),
        'max_ms': _ms(lat[-1] if lat else None),
        'timeouts': sum(r.timeouts for r in load + idle),
        'naks': sum(r.naks for r in load + idle),
        'wrong_address': sum(r.wrong for r in load + idle),
        'round_rates': [round(r.in_window / r.window, 1) if r.window else 0.0 for r in load],
        'one_at_a_time': {
            'transactions': len(one),
            'rate': round(idle_done / idle_elapsed, 1) if idle_elapsed else 0.0,
            'p50_ms': _ms(percentile(one, 50)),
            'p99_ms': _ms(percentile(one, 99)),
            'max_ms': _ms(one[-1] if one else None),
        },
        'warm_up': warm,
    }
    if note:
        out['status'] = 'no answers'
        out['note'] = note
    return out


def _f(v, fmt='.3f', width=9):
    return f"{'-':>{width}}" if v is None else f'{v:>{width}{fmt}}'


def table(r: dict) -> str:
    c = r['config']
    lines = [f"DHCP DORA: {c['clients']} clients (one OVS port each), {c['rounds']} rounds per "
             f"side, alternating: {c['duration']:g} s at concurrency {c['concurrency']}, then "
             f"{c['latency_duration']:g} s one at a time; dnsmasq bridge: "
             f"{c['dnsmasq_bridge']}; step timeout {c['timeout']:g} s",
             '',
             f"{'':8} {'-- concurrency ' + str(c['concurrency']) + ' ':-<42}  "
             f"{'-- one at a time ':-<30}",
             f"{'side':<8} {'DORA/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}   "
             f"{'DORA/s':>8} {'p50 ms':>9} {'p99 ms':>9}  {'timeouts':>8} {'naks':>5}  "
             f"DORA/s per round"]
    later = []
    for side, s in r['sides'].items():
        if s['status'] != 'ok':
            note = s.get('note', '').split('\n', 1)
            lines.append(f"{side:<8} {'no answers':>10}  {note[0]}")
            if len(note) > 1:
                later.append(f'{side}: {note[1]}')
            continue
        one = s['one_at_a_time']
        lines.append(f"{side:<8} {s['rate']:>8.0f} {_f(s['p50_ms'])} {_f(s['p99_ms'])} "
                     f"{_f(s['max_ms'])}   {one['rate']:>8.0f} {_f(one['p50_ms'])} "
                     f"{_f(one['p99_ms'])}  {s['timeouts']:>8} {s['naks']:>5}  "
                     f"{', '.join(f'{x:.0f}' for x in s['round_rates'])}")
    lines.append('')
    ratio = r.get('ratio')
    if ratio:
        def x(v):
            return '-' if v is None else f'{v:.2f}x'
        lines.append(f"ratio ours/dnsmasq: rate {x(ratio['rate'])}; at concurrency "
                     f"{c['concurrency']}: p50 {x(ratio['p50'])}, p99 {x(ratio['p99'])}; "
                     f"one at a time: p50 {x(ratio['one_p50'])}, p99 {x(ratio['one_p99'])}")
    for name, t in r.get('targets', {}).items():
        verdict = 'n/a' if t['met'] is None else ('met' if t['met'] else 'MISSED')
        lines.append(f"target {name}: {verdict} ({t['detail']})")
    for side, s in r['sides'].items():
        if s.get('warm_up', {}).get('note'):
            lines.append(f"{side}: warm-up: {s['warm_up']['note']}")
    if r.get('meter_cap'):
        lines.append(f"note: {r['meter_cap']}")
    lines += later
    return '\n'.join(lines)


def meter_cap(clients: int) -> Optional[str]:
    """The ceiling the pipeline's per-port DHCP meter puts on ours, if known."""
    try:
        from controller.pipeline.port_security import DHCP_BURST, DHCP_RATE_PPS
    except Exception:
        return None
    return (f'the per-port DHCP meter ({DHCP_RATE_PPS} pps, burst {DHCP_BURST}) caps ours '
            f'at {clients} x {DHCP_RATE_PPS}/2 = {clients * DHCP_RATE_PPS // 2} DORA/s '
            f'sustained with {clients} clients')


def measure(bench: Bench, sides: List[str], args) -> dict:
    warm, notes = {}, dict(bench.notes)
    for side in sides:
        if side in notes:
            warm[side] = {}
            continue
        w = bench.gens[side].warm_up(args.warmup, args.timeout)
        warm[side] = w
        if w['done'] == 0:
            notes[side] = (f"no client got an ACK in {args.warmup:g} s of warm-up "
                           f"({w['offers']} offers, {w['acks']} acks, {w['naks']} naks)")
            if side == 'ours':
                notes[side] += bench._controller_hint(args.verbose)
            if side == 'dnsmasq' and bench.dnsmasq_log is not None:
                notes[side] += '\ndnsmasq log:\n' + bench.dnsmasq_log.read_text()[-1500:]
        elif w['done'] < w['clients']:
            warm[side]['note'] = f"only {w['done']}/{w['clients']} clients completed a DORA"
        if w.get('bad_checksums'):
            warm[side]['note'] = (warm[side].get('note', '') +
                                  f" {w['bad_checksums']} replies with bad checksums").strip()
    live = [s for s in sides if s not in notes]
    load: Dict[str, List[RoundResult]] = {s: [] for s in sides}
    idle: Dict[str, List[RoundResult]] = {s: [] for s in sides}
    for k in range(args.rounds):
        order = live if k % 2 == 0 else list(reversed(live))
        for side in order:
            gen = bench.gens[side]
            load[side].append(gen.run(side, args.duration, args.concurrency, args.timeout))
            gen._drain()
            if args.latency_duration > 0:
                idle[side].append(gen.run(side, args.latency_duration, 1, args.timeout))
                gen._drain()
    result = {
        'config': {'clients': args.clients, 'concurrency': args.concurrency,
                   'rounds': args.rounds, 'duration': args.duration,
                   'latency_duration': args.latency_duration, 'timeout': args.timeout,
                   'warmup': args.warmup, 'dnsmasq_bridge': args.dnsmasq_bridge},
        'sides': {s: summarize(load[s], idle[s], warm[s], notes.get(s)) for s in sides},
    }
    if 'ours' in sides and result['sides']['ours']['status'] == 'ok':
        result['meter_cap'] = meter_cap(args.clients)
    o, d = result['sides'].get('ours'), result['sides'].get('dnsmasq')
    both = o is not None and d is not None and o['status'] == 'ok' and d['status'] == 'ok'
    if both:
        def ratio(a, b):
            return round(a / b, 3) if a is not None and b else None
        oo, do = o['one_at_a_time'], d['one_at_a_time']
        result['ratio'] = {'rate': ratio(o['rate'], d['rate']),
                           'p50': ratio(o['p50_ms'], d['p50_ms']),
                           'p99': ratio(o['p99_ms'], d['p99_ms']),
                           'one_p50': ratio(oo['p50_ms'], do['p50_ms']),
                           'one_p99': ratio(oo['p99_ms'], do['p99_ms'])}
    targets = {}
    if o is not None:
        if d is not None:
            if both:
                met, detail = o['rate'] >= d['rate'], f"{o['rate']:.0f} vs {d['rate']:.0f} DORA/s"
            elif o['status'] != 'ok':
                met, detail = False, 'ours gave no answers'
            else:
                met, detail = None, 'dnsmasq gave no answers'
            targets['ours rate >= dnsmasq rate'] = {'met': met, 'detail': detail}
        one = o['one_at_a_time']
        if o['status'] != 'ok':
            met, detail = False, 'no answers'
        elif one['p99_ms'] is None:
            met, detail = None, 'not measured (--latency-duration 0)'
        else:
            met = one['p99_ms'] < TARGET_P99_MS
            detail = (f"{one['p99_ms']:.3f} ms one at a time; {o['p99_ms']:.3f} ms at "
                      f"concurrency {args.concurrency}, where queueing dominates")
        targets[f'ours p99 < {TARGET_P99_MS:g} ms'] = {'met': met, 'detail': detail}
    result['targets'] = targets
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description='DHCP DORA rate and latency: our responder vs dnsmasq '
                    '(see the module docstring)')
    ap.add_argument('--clients', type=int, default=64, metavar='N',
                    help='client MACs, each on its own veth/OVS port (default 64)')
    ap.add_argument('--concurrency', type=int, default=16, metavar='C',
                    help='DORA exchanges in flight at once (default 16)')
    ap.add_argument('--rounds', type=int, default=3, metavar='R',
                    help='measured rounds per side, alternating (default 3)')
    ap.add_argument('--duration', type=float, default=3.0, metavar='S',
                    help='seconds per round (default 3)')
    ap.add_argument('--latency-duration', type=float, default=1.5, metavar='S',
                    help='then seconds per round one DORA at a time, for unloaded '
                         'latency (default 1.5; 0: skip)')
    ap.add_argument('--dnsmasq-bridge', choices=('normal', 'static'), default='normal',
                    help='dnsmasq side: one NORMAL flow (default), or NORMAL plus static '
                         'flows (DHCP requests to the server port, client MACs to their '
                         'ports) so broadcasts are not flooded, like our pipeline')
    ap.add_argument('--timeout', type=float, default=1.0, metavar='S',
                    help='wait per step (OFFER, ACK) before a transaction times out (default 1)')
    ap.add_argument('--warmup', type=float, default=10.0, metavar='S',
                    help='at most this long for every client to complete one DORA '
                         'before measuring (default 10)')
    ap.add_argument('--sides', default='dnsmasq,ours',
                    help='comma-separated: dnsmasq, ours (default both)')
    ap.add_argument('--app', default='controller.app', metavar='MODULE',
                    help='the os-ken app module(s) ryu-manager runs for ours '
                         '(default controller.app; for trying variants)')
    ap.add_argument('--json', action='store_true', help='print JSON instead of a table')
    ap.add_argument('--strict', action='store_true',
                    help='exit 1 when ours misses a target or gives no answers')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='controller at debug level; its log tail when it gives no answers')
    args = ap.parse_args(argv)
    sides = [s.strip() for s in args.sides.split(',') if s.strip()]
    if not sides or any(s not in ('ours', 'dnsmasq') for s in sides):
        ap.error('--sides takes dnsmasq and/or ours')
    if not 1 <= args.clients <= MAX_CLIENTS:
        ap.error(f'--clients must be 1..{MAX_CLIENTS}')
    problems = check_environment()
    if 'dnsmasq' in sides and shutil.which('dnsmasq') is None:
        problems.append('dnsmasq is not installed (apt-get install dnsmasq-base)')
    if problems:
        print('bench/dhcp: cannot run here:\n  ' + '\n  '.join(problems), file=sys.stderr)
        return 2
    try:
        with Lab() as lab:
            bench = Bench(lab, args.clients)
            try:
                if not args.json:
                    print(f'setting up {args.clients} clients per side '
                          f'({", ".join(sides)}) ...', file=sys.stderr)
                bench.build(sides, args.verbose, args.dnsmasq_bridge, args.app)
                result = measure(bench, sides, args)
            finally:
                bench.close()
    except (SetupError, NetlabError) as e:
        print(f'bench/dhcp: setup failed: {e}', file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else table(result))
    if args.strict and 'ours' in result['sides']:
        if not all(t['met'] for t in result['targets'].values()):
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
