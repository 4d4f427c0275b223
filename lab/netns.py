"""Hosts: network namespaces joined to an OVS bridge by a veth pair.

The bridge end of the veth is the OVS port and is named exactly as the
topology's ``port`` (so the controller finds it); the namespace end is
``eth0`` (``NS_IFNAME``).

Two steps every host needs on the userspace datapath, shared with the
Mininet demo (``lab.demo.build``) through ``prepare_ns_end`` and
``quiet_bridge_end``:

* TX checksum offload must be off on the namespace end of each veth, or
  TCP and UDP silently fail (ICMP works either way, so ping alone does not
  show it).
* IPv6 is disabled in host namespaces and on the bridge-side veth by
  default, so router solicitations and MLD reports do not add noise to flow
  counters; the bridge-side veth never answers ARP itself either.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar, Union

from lab.ovs import Bridge, check_ifname
from lab.proc import death_signal_preexec, sh
from lab.traffic import arping_argv, arping_replies, ping_argv

T = TypeVar('T')

if TYPE_CHECKING:
    from lab.core import Lab

NS_IFNAME = 'eth0'     # the interface name inside each host namespace
_HOST_NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*')

#: Runs one argv inside a namespace: ``run(argv, check)``, where ``check``
#: says the step must succeed.  What it returns is ignored.
Runner = Callable[[list[str], bool], Any]


def list_netns() -> list[str]:
    cp = sh(['ip', 'netns', 'list'], check=False)
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def link_exists(name: str) -> bool:
    return Path('/sys/class/net', name).exists()


def is_veth(name: str) -> bool:
    cp = sh(['ethtool', '-i', name], check=False)
    return 'driver: veth' in cp.stdout


def prepare_ns_end(run: Runner, ifname: str = NS_IFNAME, ipv6: bool = False) -> None:
    """Inside a host: TX checksum offload off on ``ifname`` and, unless
    ``ipv6``, IPv6 off (best effort: only noise depends on it)."""
    if not ipv6:
        run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1',
             'net.ipv6.conf.default.disable_ipv6=1'], False)
    run(['ethtool', '-K', ifname, 'tx', 'off'], True)


def quiet_bridge_end(port: str) -> None:
    """The bridge-side veth: no IPv6 chatter, never answer ARP itself."""
    sh(['sysctl', '-qw', f'net.ipv6.conf.{port}.disable_ipv6=1',
        f'net.ipv4.conf.{port}.arp_ignore=8'], check=False)


class Host:
    """A network namespace with one interface (``eth0``) on an OVS bridge."""

    def __init__(self, lab: 'Lab', name: str, ns: str, bridge: Bridge, port: str,
                 mac: str, ip_cidr: Optional[str], gateway: Optional[str]):
        self.lab = lab
        self.name = name
        self.ns = ns
        self.bridge = bridge
        self.port = port
        self.mac = mac
        self.cidr = ip_cidr
        self.ip = ip_cidr.split('/')[0] if ip_cidr else None
        self.gateway = gateway
        self.ifname = NS_IFNAME

    def __repr__(self):
        return f'<Host {self.name} ns={self.ns} port={self.port} ip={self.cidr}>'

    def _argv(self, cmd: Union[str, Sequence[str]]) -> list[str]:
        inner = ['sh', '-c', cmd] if isinstance(cmd, str) else [str(c) for c in cmd]
        return ['ip', 'netns', 'exec', self.ns, *inner]

    def run(self, cmd: Union[str, Sequence[str]], check: bool = True,
            timeout: float = 30, input: Optional[str] = None
            ) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside the namespace (a string goes through ``sh -c``)
        and return the CompletedProcess (text stdout/stderr)."""
        return sh(self._argv(cmd), check=check, timeout=timeout, input=input)

    def popen(self, cmd: Union[str, Sequence[str]], **kw) -> subprocess.Popen:
        """Start ``cmd`` in the namespace in the background.

        The process is killed (by PID) when the lab closes, and gets SIGTERM
        if the test process dies. Keyword arguments go to subprocess.Popen
        (default: stdout/stderr to DEVNULL, text mode).
        """
        for stream in ('stdout', 'stderr', 'stdin'):
            kw.setdefault(stream, subprocess.DEVNULL)
        kw.setdefault('text', True)
        p = subprocess.Popen(self._argv(cmd), preexec_fn=death_signal_preexec(), **kw)
        self.lab.track_process(p)
        return p

    def ping(self, ip: str, count: int = 1, timeout: float = 2,
             interval: float = 0.2) -> bool:
        """True if ``ip`` answers ICMP echo (any of ``count`` probes;
        ``timeout`` seconds for the whole run)."""
        argv = ping_argv(ip, count, deadline=timeout, interval=interval)
        return self.run(argv, check=False, timeout=timeout + 10).returncode == 0

    def arping(self, ip: str, timeout: float = 2) -> Optional[str]:
        """ARP for ``ip`` out of eth0 (one request a second, at most
        ``timeout`` s); return the MAC of the first reply (lower case) or None."""
        argv = arping_argv(ip, self.ifname, deadline=timeout, first_reply=True)
        cp = self.run(argv, check=False, timeout=timeout + 10)
        macs = arping_replies(cp.stdout)
        return macs[0] if macs and cp.returncode == 0 else None

    def add_address(self, cidr: str) -> None:
        """Add another IPv4 address (``'10.0.0.5/24'``) to eth0."""
        self.run(['ip', 'addr', 'add', cidr, 'dev', self.ifname])

    def neighbours(self) -> str:
        """``ip neigh`` output inside the namespace (for failure messages)."""
        return self.run(['ip', 'neigh', 'show'], check=False).stdout

    def unplug(self) -> None:
        """Remove the port from the bridge (the veth stays; see plug())."""
        sh(['ovs-vsctl', '--if-exists', 'del-port', self.bridge.name, self.port])

    def plug(self, ofport: Optional[int] = None) -> None:
        """Add the port to the bridge (again); optionally ask for an ofport."""
        args = ['ovs-vsctl', '--may-exist', 'add-port', self.bridge.name, self.port]
        if ofport is not None:
            args += ['--', 'set', 'Interface', self.port, f'ofport_request={ofport}']
        sh(args)

    def is_plugged(self) -> bool:
        return self.port in self.bridge.ports()


def check_host_names(name: str, port: str) -> None:
    """ValueError unless ``name`` can name a host and ``port`` an interface."""
    check_ifname(port)
    if not _HOST_NAME_RE.fullmatch(name):
        raise ValueError(f'bad host name {name!r}')


def build_host(h: Host, ipv6: bool = False, mtu: Optional[int] = None) -> None:
    """Create ``h``'s namespace and veth pair and configure both ends (not
    plugged into the bridge: ``h.plug()``).  The caller has recorded them
    for cleanup already."""
    sh(['ip', 'netns', 'add', h.ns])
    sh(['ip', 'link', 'add', h.port, 'type', 'veth', 'peer', 'name', NS_IFNAME,
        'netns', h.ns])
    prepare_ns_end(lambda argv, check: h.run(argv, check=check), ipv6=ipv6)
    quiet_bridge_end(h.port)
    h.run(['ip', 'link', 'set', NS_IFNAME, 'address', h.mac])
    if mtu:
        h.run(['ip', 'link', 'set', NS_IFNAME, 'mtu', str(mtu)])
        sh(['ip', 'link', 'set', h.port, 'mtu', str(mtu)])
    h.run(['ip', 'link', 'set', 'lo', 'up'])
    if h.cidr:
        h.run(['ip', 'addr', 'add', h.cidr, 'dev', NS_IFNAME])
    h.run(['ip', 'link', 'set', NS_IFNAME, 'up'])
    sh(['ip', 'link', 'set', h.port, 'up'])
    if h.gateway:
        h.run(['ip', 'route', 'add', 'default', 'via', h.gateway, 'dev', NS_IFNAME])


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns: str, fn: Callable[[], T]) -> T:
    """``fn()``'s result, run by a thread that entered network namespace
    ``ns`` (setns moves only the calling thread; the caller's stays where it
    is).  Sockets ``fn`` opens keep that namespace."""
    out: dict = {}

    def work() -> None:
        try:
            fd = os.open(f'/run/netns/{ns}', os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f'setns into {ns}: {os.strerror(err)}')
            finally:
                os.close(fd)
            out['result'] = fn()
        except BaseException as exc:           # re-raised in the caller
            out['error'] = exc

    thread = threading.Thread(target=work, name=f'setns-{ns}')
    thread.start()
    thread.join()
    if 'error' in out:
        raise out['error']
    return out['result']
