"""Weave's three-host layout on emulated hosts (lab/hosts.py), with the
controller in the root namespace and the topology generated from the hosts.

    underlay subnet a: h1 198.18.1.1, h2 198.18.1.2; subnet b: h3 behind the router

    red   10.44.1.0/24 vni 4401  red1 (h1), red2 (h2), red3 (h3); red-gw .254, red-dhcp .253
    blue  10.44.1.0/24 vni 4402  blue1 (h1) has red2's address, blue2 (h2) red1's; blue-gw .254
    green 10.44.2.0/24 vni 4403  green1 (h1), green3 (h3); green-gw .254, routed to red

``Weave(lab, vms=...)`` builds the hosts and the VMs it is given (a subset of
``VMS`` plus any extra), ``start()`` writes the topology and starts the
controller, waiting until every datapath has synced.
"""
from __future__ import annotations

import ipaddress
import os
import re
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Optional

import yaml

from controller.packets.ethernet import ip_checksum, mac_to_bytes
from lab import VNET_COOKIE, Controller, free_tcp_port, parse_flow_line, sh, wait_for
from lab.hosts import Capture, EmulatedHost, MultiHost, Vm
from lab.proc import NetlabError

RED, BLUE, GREEN = 4401, 4402, 4403
NETWORKS: dict[str, dict] = {
    'red': {'ipv4': '10.44.1.0/24', 'vni': RED},
    'blue': {'ipv4': '10.44.1.0/24', 'vni': BLUE},
    'green': {'ipv4': '10.44.2.0/24', 'vni': GREEN},
}
HOSTS = {'h1': (0x101, 'a'), 'h2': (0x102, 'a'), 'h3': (0x103, 'b')}
GATEWAYS = {'red': '10.44.1.254', 'green': '10.44.2.254'}     # blue's is on no route link


@dataclass(frozen=True)
class VmSpec:
    name: str
    network: str
    host: str
    ip: str
    mac: str

    @property
    def port(self) -> str:
        return f'{self.name}-p'


VMS = {v.name: v for v in [
    VmSpec('red1', 'red', 'h1', '10.44.1.1', '52:54:00:44:01:01'),
    VmSpec('red2', 'red', 'h2', '10.44.1.2', '52:54:00:44:01:02'),
    VmSpec('red3', 'red', 'h3', '10.44.1.3', '52:54:00:44:01:03'),
    VmSpec('blue1', 'blue', 'h1', '10.44.1.2', '52:54:00:44:02:01'),   # red2's address
    VmSpec('blue2', 'blue', 'h2', '10.44.1.1', '52:54:00:44:02:02'),   # red1's address
    VmSpec('green1', 'green', 'h1', '10.44.2.1', '52:54:00:44:03:01'),
    VmSpec('green3', 'green', 'h3', '10.44.2.3', '52:54:00:44:03:03'),
]}
SIMULATED = {
    'red-gw': ('red', '10.44.1.254', '52:54:00:44:01:fe', ['router']),
    'red-dhcp': ('red', '10.44.1.253', '52:54:00:44:01:fd', ['dhcp']),
    'blue-gw': ('blue', '10.44.1.254', '52:54:00:44:02:fe', ['router']),
    'green-gw': ('green', '10.44.2.254', '52:54:00:44:03:fe', ['router']),
}
ROUTE_LINKS = {'red-green': {'routes': [{'interface': 'red-gw'}, {'interface': 'green-gw'}]}}


class Weave:
    """The three emulated hosts, their VMs, the topology file and the controller."""

    def __init__(self, lab, vms: Iterable[VmSpec] = VMS.values()):
        self.lab = lab
        self.hosts = MultiHost(lab, controller_port=free_tcp_port())
        self.h: dict[str, EmulatedHost] = {
            name: self.hosts.host(name, dpid=dpid, subnet=subnet)
            for name, (dpid, subnet) in HOSTS.items()}
        self.specs: dict[str, VmSpec] = {}
        self.vm: dict[str, Vm] = {}
        for spec in vms:
            self.add_vm(spec)
        self.hosts.prime_tunnels()
        self.path = lab.path('topology.yml')
        self.ctl: Optional[Controller] = None

    def add_vm(self, spec: VmSpec, plugged: bool = True, name: Optional[str] = None) -> Vm:
        """A VM for ``spec`` on its host (``name``: the namespace's name, for a
        second copy of one interface on another host)."""
        prefix = NETWORKS[spec.network]['ipv4'].split('/')[1]
        vm = self.h[spec.host].vm(name or spec.name, port=spec.port, mac=spec.mac,
                                  cidr=f'{spec.ip}/{prefix}', gateway=GATEWAYS.get(spec.network),
                                  plugged=plugged)
        self.vm[name or spec.name] = vm
        self.specs.setdefault(spec.name, spec)
        return vm

    # -- the topology ------------------------------------------------------
    def topology(self) -> dict:
        ifaces: dict = {}
        for spec in self.specs.values():
            ifaces[spec.name] = {'network': spec.network, 'mac': spec.mac, 'ipv4': spec.ip,
                                 'datapath': spec.host, 'port': spec.port}
        for name, (net, ip, mac, services) in SIMULATED.items():
            ifaces[name] = {'network': net, 'mode': 'simulated', 'mac': mac, 'ipv4': ip,
                            'services': services}
        return {
            'datapaths': {name: {'dpid': h.dpid, 'tunnel_ip': h.tunnel_ip}
                          for name, h in self.h.items()},
            'networks': NETWORKS,
            'interfaces': ifaces,
            'route_links': ROUTE_LINKS,
        }

    def save(self, doc: dict) -> float:
        """Write the topology the way editors do (a temp file renamed into
        place); returns the monotonic time of the rename."""
        tmp = self.path.with_suffix('.tmp')
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.replace(tmp, self.path)
        return time.monotonic()

    # -- the controller ----------------------------------------------------
    def start(self) -> 'Weave':
        """Write the topology, start the controller and wait until every
        datapath has connected and synced."""
        self.save(self.topology())
        self.ctl = self.lab.controller(self.path, port=self.hosts.controller_port,
                                       extra_args=['--ofp-listen-host', self.hosts.controller_ip])
        self.wait_synced()
        for h in self.h.values():
            assert flows(h), f'{h.name}: no flows on br-int after the sync'
        return self

    def run_log(self) -> str:
        """The log of the controller's current run (since its last start)."""
        assert self.ctl is not None
        return self.ctl.log_text().split('### netlab')[-1]

    def synced(self) -> dict[str, str]:
        """Datapath -> how its connection sync ended in the current run
        ('applied' or 'already in sync'), for those that got that far."""
        found = {}
        for m in re.finditer(r'^.*?(\w+) \(dpid [^)]*\): connected: (applied in|already in sync)',
                             self.run_log(), re.M):
            found[m.group(1)] = m.group(2).replace('applied in', 'applied')
        return found

    def wait_synced(self, timeout: float = 20) -> dict[str, str]:
        assert self.ctl is not None
        ctl = self.ctl

        def done():
            ctl.assert_running()
            return set(self.synced()) >= set(self.h) and self.synced()
        return wait_for(done, timeout=timeout, interval=0.05, what='every datapath to sync',
                        state=lambda: ctl.log_tail(30))

    def tracebacks(self) -> list[str]:
        text = self.ctl.log_text() if self.ctl else ''
        return [line for line in text.splitlines() if 'Traceback' in line]

    def close(self) -> None:
        if self.ctl:
            self.ctl.stop()
        self.hosts.close()


# -- observing -------------------------------------------------------------

def capture(where, filter: str, iface: str = 'eth0', count: int = 1000,
            timeout: float = 5) -> Capture:
    """``tcpdump -e -v`` on ``iface`` of a VM (or a host), returning once it
    listens; ``.wait(t)`` gives what it saw within t seconds."""
    p = where.popen(['tcpdump', '-l', '-nn', '-e', '-v', '-i', iface, '-c', str(count), filter],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([p.stderr], [], [], timeout)
    line = p.stderr.readline() if ready else ''
    if 'listening on' not in line:
        p.kill()
        raise NetlabError(f'tcpdump in {where.ns} did not start: {line or "(no output)"}')
    return Capture(p)


def vxlan_packets(text: str, inner: str = '') -> list[tuple[str, str, int]]:
    """(outer source, outer destination, VNI) of each VXLAN packet in the
    text of an underlay capture (``tcpdump -v``) whose inner packet's
    summary contains ``inner`` (e.g. ``'10.44.1.1 > 10.44.1.3: ICMP'``)."""
    found = []
    for block in re.split(r'^(?=\d\d:\d\d:\d\d\.\d+ )', text, flags=re.M):
        m = re.search(r'(\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.4789: VXLAN.*?vni (\d+)'
                      r'(.*)', block, re.S)
        if m and inner in m.group(4):
            found.append((m.group(1), m.group(2), int(m.group(3))))
    return found


def flows(h: EmulatedHost, match: str = '') -> list[dict]:
    """The controller's flows on ``h``'s br-int (``match``: an ofctl filter)."""
    filt = f'cookie={VNET_COOKIE}' + (f',{match}' if match else '')
    out = h.ofctl('dump-flows', 'br-int', '--no-names', filt)
    return [parse_flow_line(line) for line in out.splitlines() if 'actions=' in line]


def icmp_echoes_received(vm: Vm) -> int:
    """How many ICMP echo requests the VM's kernel has taken in (InEchos)."""
    lines = [line.split() for line in vm.run('cat /proc/net/snmp').stdout.splitlines()
             if line.startswith('Icmp:')]
    return int(dict(zip(lines[0], lines[1]))['InEchos'])


def ping_summary(out: str) -> tuple[int, int, set[int]]:
    """(transmitted, received, the sequence numbers without a reply) from
    the output of a ``ping`` that printed its replies."""
    sent = re.search(r'(\d+) packets transmitted', out)
    got = re.search(r'(\d+) received', out)
    if not sent or not got:
        raise AssertionError(f'no ping summary in:\n{out}')
    answered = {int(n) for n in re.findall(r'icmp_seq=(\d+) ttl=', out)}
    return int(sent.group(1)), int(got.group(1)), set(range(1, int(sent.group(1)) + 1)) - answered


# -- forging ---------------------------------------------------------------

def icmp_echo_frame(dst_mac: str, src_mac: str, src_ip: str, dst_ip: str, ident: int = 0x4d48) -> bytes:
    """An Ethernet frame carrying one ICMP echo request, checksums right."""
    icmp = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'forged-vxlan-probe'
    icmp = icmp[:2] + struct.pack('!H', ip_checksum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 0, 0x4000, 64, 1, 0,
                     ipaddress.IPv4Address(src_ip).packed, ipaddress.IPv4Address(dst_ip).packed)
    ip = ip[:10] + struct.pack('!H', ip_checksum(ip)) + ip[12:]
    return mac_to_bytes(dst_mac) + mac_to_bytes(src_mac) + b'\x08\x00' + ip + icmp


def vxlan(vni: int, frame: bytes) -> bytes:
    """The VXLAN header (RFC 7348: flags 0x08 = VNI valid, 24-bit VNI) + frame."""
    return struct.pack('!B3xI', 0x08, vni << 8) + frame


# UDP checksum 0 (SO_NO_CHECK, as Linux's own VXLAN sends): a checksum left
# to veth offload would arrive unfinished, and OVS drops such a tunnel packet
_SEND_UDP = '''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)     # SO_NO_CHECK
s.bind((sys.argv[1], 0))
for _ in range(int(sys.argv[5])):
    s.sendto(bytes.fromhex(sys.argv[4]), (sys.argv[2], int(sys.argv[3])))
    time.sleep(0.05)
'''


def send_udp(ns: str, src_ip: str, dst_ip: str, port: int, payload: bytes, count: int = 1) -> None:
    """Send ``payload`` as ``count`` UDP datagrams from ``src_ip`` in namespace ``ns``."""
    sh(['ip', 'netns', 'exec', ns, sys.executable, '-c', _SEND_UDP,
        src_ip, dst_ip, str(port), payload.hex(), str(count)])
