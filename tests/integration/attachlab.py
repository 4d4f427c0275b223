"""`vnetctl setup` and `vnetctl attach` against the machine's OVS, for the
integration tests: a topology whose bridge and ports carry the lab's unique
names, namespaces tracked by the lab, and what a test compares before and
after a command that must change nothing."""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import yaml

from lab import REPO_ROOT, Bridge, free_tcp_port, sh, wait_for

VNETCTL = str(Path(sys.executable).parent / 'vnetctl')
GATEWAY, DHCP_SERVER = '172.16.1.254', '172.16.1.253'


def vnetctl(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([VNETCTL, *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def ok(*args: object) -> str:
    """vnetctl's output; the test fails unless it exits 0."""
    cp = vnetctl(*args)
    assert cp.returncode == 0, f'vnetctl {args} exited {cp.returncode}:\n{cp.stdout}{cp.stderr}'
    return cp.stdout


class AttachLab:
    """One datapath (named as its bridge: `<prefix>br`) with net1 (vm1..vm3,
    a gateway, a DHCP server) and, on a second datapath that has no bridge
    here, net9 with vm9."""

    def __init__(self, lab, tunnel_ip: str | None = None):
        self.lab = lab
        self.bridge = lab.ifname('br')
        # unique per lab: parallel tests' bridges must not share our dpid
        self.dpid = 0x7a0000000 + (zlib.crc32(lab.prefix.encode()) & 0xffffff)
        self.port = {name: lab.ifname(name) for name in ('vm1', 'vm2', 'vm3', 'vm9')}
        self.tunnel_port = lab.ifname('vx')    # OVS port names are machine-wide
        dp = {'dpid': self.dpid, **({'tunnel_ip': tunnel_ip, 'tunnel_port': self.tunnel_port}
                                     if tunnel_ip else {})}
        self.doc = {
            'datapaths': {self.bridge: dp, lab.ifname('other'): {'dpid': self.dpid + 1}},
            'networks': {'net1': {'ipv4': '172.16.1.0/24'}, 'net9': {'ipv4': '10.9.0.0/24'}},
            'interfaces': {
                **{f'vm{n}': {'network': 'net1', 'mac': f'52:54:00:7a:01:0{n}',
                              'ipv4': f'172.16.1.{n}', 'datapath': self.bridge,
                              'port': self.port[f'vm{n}']} for n in (1, 2, 3)},
                'vm9': {'network': 'net9', 'mac': '52:54:00:7a:09:01', 'ipv4': '10.9.0.1',
                        'datapath': lab.ifname('other'), 'port': self.port['vm9']},
                'gw': {'network': 'net1', 'mode': 'simulated', 'mac': '52:54:00:7a:01:fe',
                       'ipv4': GATEWAY, 'services': ['router']},
                'dhcp': {'network': 'net1', 'mode': 'simulated', 'mac': '52:54:00:7a:01:fd',
                         'ipv4': DHCP_SERVER, 'services': ['dhcp']},
            }}
        self.path = lab.write('attach.yml', yaml.safe_dump(self.doc, sort_keys=False))
        for port in self.port.values():      # removed with the lab, whatever a test leaves
            lab.track_link(port)
        self.controller_port = 0

    def start(self) -> Bridge:
        """The controller, then `vnetctl setup --apply`: the bridge, connected."""
        self.controller_port = free_tcp_port()
        self.lab.controller(self.path, port=self.controller_port)
        self.lab.track_bridge(self.bridge)
        ok('setup', self.bridge, *self.topology_args, '--controller', self.controller_target, '--apply')
        bridge = Bridge(self.lab, self.bridge, self.dpid, self.controller_port)
        bridge.wait_connected()
        bridge.wait_for_flows(1)
        return bridge

    @property
    def topology_args(self) -> tuple:
        return ('--topology', self.path)

    @property
    def controller_target(self) -> str:
        return f'tcp:127.0.0.1:{self.controller_port}'

    def netns(self, name: str) -> str:
        """A new (empty) namespace `<prefix>-<name>`, removed with the lab."""
        ns = f'{self.lab.prefix}-{name}'
        self.lab.track_netns(ns)
        sh(['ip', 'netns', 'add', ns])
        return ns

    def attach(self, iface: str, *target: str) -> str:
        return ok('attach', iface, *target, *self.topology_args)


def in_ns(ns: str, *argv: str, check: bool = True, timeout: float = 15) -> subprocess.CompletedProcess:
    return sh(['ip', 'netns', 'exec', ns, *argv], check=check, timeout=timeout)


def pings(ns: str, ip: str, timeout: float = 10) -> None:
    """Wait until `ip` answers ping from namespace `ns` (flows follow a new port within ms)."""
    wait_for(lambda: in_ns(ns, 'ping', '-c1', '-W1', ip, check=False).returncode == 0,
             timeout=timeout, interval=0.1, what=f'{ip} to answer ping from {ns}')


TCP_SERVER = '''
import socket, sys
s = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("listening", flush=True)
c, _ = s.accept(); c.settimeout(5); got = 0
while (chunk := c.recv(65536)):
    got += len(chunk)
c.sendall(str(got).encode()); c.close()
'''
TCP_CLIENT = '''
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b"x" * 200000); c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode())
'''


def tcp_bytes_through(lab, client_ns: str, server_ns: str, server_ip: str) -> int:
    """Send 200 kB over TCP between two namespaces; what the server counted.
    (On the userspace datapath this fails unless TX checksum offload is off.)"""
    port = 5201
    server = subprocess.Popen(['ip', 'netns', 'exec', server_ns, sys.executable, '-c', TCP_SERVER,
                               str(port)], stdout=subprocess.PIPE, text=True)
    lab.track_process(server)
    assert server.stdout is not None and server.stdout.readline().strip() == 'listening'
    cp = in_ns(client_ns, sys.executable, '-c', TCP_CLIENT, server_ip, str(port), check=False)
    server.wait(timeout=10)
    return int(cp.stdout.strip()) if cp.returncode == 0 and cp.stdout.strip().isdigit() else -1


def snapshot(al: AttachLab, *namespaces: str) -> dict:
    """What a refused command must leave as it was (only this lab's things: other
    tests run alongside): the OVS records of our ports, our links, namespaces,
    and every link, address and route inside `namespaces`."""
    ours = set(al.port.values())
    ifaces = json.loads(sh(['ovs-vsctl', '--format=json', '--columns=name,external_ids',
                            'list', 'Interface']).stdout)['data']
    inside = {ns: [in_ns(ns, *cmd).stdout for cmd in (['ip', '-br', 'link'], ['ip', '-br', 'addr'],
                                                       ['ip', 'route'])]
              for ns in namespaces}
    return {'ovs': sorted(json.dumps(row) for row in ifaces if row[0] in ours),
            'ports': sh(['ovs-vsctl', 'list-ports', al.bridge]).stdout,
            'links': sorted(p for p in ours if Path('/sys/class/net', p).exists()),
            'netns': sorted(n for n in sh(['ip', 'netns', 'list']).stdout.split()
                            if n.startswith(al.lab.prefix)),
            'inside': inside}


# -- Docker ---------------------------------------------------------------------

@contextlib.contextmanager
def container(lab, lifetime: int = 120):
    """A running container `<prefix>-web` (--network none) of a busybox image built
    here from Debian's busybox and the libraries it links (there is no registry);
    removed with its image afterwards.  After a crash, --rm removes it once its
    `sleep` ends."""
    image = f'vnet-test-{lab.prefix}:busybox'
    _import(busybox_root(lab), image)
    name = f'{lab.prefix}-web'
    try:
        sh(['docker', 'run', '-d', '--rm', '--network', 'none', '--name', name, image,
            'sleep', str(lifetime)])
        yield name
    finally:
        sh(['docker', 'rm', '-f', name], check=False)
        sh(['docker', 'rmi', image], check=False)


def busybox_root(lab) -> Path:
    root = lab.path('busybox-root')
    busybox = Path(shutil.which('busybox') or '/bin/busybox').resolve()
    (root / 'bin').mkdir(parents=True)
    shutil.copy(busybox, root / 'bin' / 'busybox')
    for applet in ('sh', 'sleep', 'ip', 'ping'):
        (root / 'bin' / applet).symlink_to('busybox')
    for lib in re.findall(r'(/\S+) \(0x', sh(['ldd', str(busybox)]).stdout):
        (root / lib[1:]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lib, root / lib[1:])
    return root


def _import(root: Path, image: str) -> None:
    tar = subprocess.Popen(['tar', '-C', str(root), '-c', '.'], stdout=subprocess.PIPE)
    try:
        cp = subprocess.run(['docker', 'import', '-', image], stdin=tar.stdout, capture_output=True,
                            text=True, timeout=60)
    finally:          # our copy of the pipe closed: a tar nobody reads ends (SIGPIPE), not hangs
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait(timeout=30)
    assert cp.returncode == 0, f'docker import: {cp.stderr}'
