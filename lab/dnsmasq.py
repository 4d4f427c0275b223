"""dnsmasq as a DNS server in a namespace of its own, reachable from the
root namespace (where the controller runs) over a veth: the upstream of a
network's dns interface in tests, and the side-by-side server in the DNS
benchmark.

    server = DnsmasqServer(lab, 'up', records={'host.example.test': '192.0.2.98'})
    server.ip          # its address; the root namespace routes to it
    server.stop()      # the lab also stops it at close
"""
from __future__ import annotations

import ipaddress
import random
import subprocess
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from lab.proc import NetlabError, sh, wait_for

if TYPE_CHECKING:
    from lab.core import Lab

LINK_POOL = ipaddress.IPv4Network('100.64.0.0/10')     # shared address space: no real network here


def _used_networks() -> list:
    out = sh(['ip', '-4', '-o', 'addr', 'show']).stdout
    return [ipaddress.IPv4Interface(word).network for line in out.splitlines()
            for word in line.split()[3:4]]


def free_link_subnet(rng: Optional[random.Random] = None) -> ipaddress.IPv4Network:
    """A /30 of 100.64.0.0/10 that no address of the root namespace overlaps."""
    rng = rng or random.Random()
    used = _used_networks()
    for _ in range(100):
        subnet = ipaddress.IPv4Network((int(LINK_POOL.network_address) + 4 * rng.randrange(1 << 20), 30))
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise NetlabError('no free /30 in 100.64.0.0/10 for a veth link')


class DnsmasqServer:
    """A namespace `<prefix>-NAME` with dnsmasq answering `records` (name ->
    address) on UDP port 53 of `ip`, linked to the root namespace."""

    def __init__(self, lab: 'Lab', name: str, records: Mapping[str, str] = {},
                 extra: Sequence[str] = ()):
        self.lab = lab
        self.ns = f'{lab.prefix}-{name}'
        subnet = free_link_subnet()
        self.root_ip, self.ip = (str(h) for h in list(subnet.hosts())[:2])
        root_end = lab.ifname(f'{name}r')
        lab.track_netns(self.ns)
        lab.track_link(root_end)
        sh(['ip', 'netns', 'add', self.ns])
        sh(['ip', 'link', 'add', root_end, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', self.ns])
        sh(['ip', 'addr', 'add', f'{self.root_ip}/30', 'dev', root_end])
        sh(['ip', 'link', 'set', root_end, 'up'])
        self.exec('ip link set lo up && ip link set eth0 up && '
                  f'ip addr add {self.ip}/30 dev eth0 && ethtool -K eth0 tx off >/dev/null 2>&1; true')
        self.pidfile = lab.path(f'dnsmasq-{name}.pid')
        argv = ['ip', 'netns', 'exec', self.ns, 'dnsmasq', '--no-daemon', '--conf-file=/dev/null',
                '--no-resolv', '--no-hosts', '--no-negcache', f'--listen-address={self.ip}',
                '--bind-interfaces', '--port=53', '--user=root', '--log-facility=-',
                f'--pid-file={self.pidfile}', '--cache-size=0', *extra]
        argv += [f'--host-record={host},{address}' for host, address in records.items()]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lab.track_process(self.proc)
        wait_for(self._listening, timeout=10, what=f'dnsmasq in {self.ns} to listen',
                 state=lambda: self.proc.poll())

    def exec(self, script: str) -> subprocess.CompletedProcess:
        return sh(['ip', 'netns', 'exec', self.ns, 'sh', '-c', script])

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors='replace') if self.proc.stderr else ''
            raise NetlabError(f'dnsmasq exited: {err}')
        return f'{self.ip}:53 ' in self.exec('ss -lun').stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
