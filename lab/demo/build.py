"""Building the demo's Mininet network, and taking it down again.

One run at a time: the bridges and ports are named as in the topology (the
controller finds ports by name), so two runs would clash.  A lock file
serialises runs of the script, and names that exist already -- another
program's, or a crashed run's -- are waited for, never deleted: this
module only removes what it created.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from controller.topology import Topology
from lab.demo.plan import host_names, nodes, static_routes
from lab.netns import NS_IFNAME, Runner, link_exists, prepare_ns_end, quiet_bridge_end
from lab.proc import check_environment, sh, wait_for
from mininet.net import Mininet
from mininet.node import Host, OVSSwitch, RemoteController

PROG = 'vnet_mininet'
DEFAULT_CONTROLLER_PORT = 6633   # where the bridges look for the controller
LOCK_PATH = '/run/lock/ryu-vnet-mininet.lock'
DEMO_TOOLS = ('ovs-vsctl', 'ovs-ofctl', 'ip', 'ethtool', 'arping', 'ping', 'traceroute', 'mnexec', 'ss')

#: Prints a progress line (or nothing, with --check).
Say = Callable[[str], None]


class BuildError(RuntimeError):
    """The network cannot be built (as opposed to an invalid topology file)."""


def preflight() -> None:
    """BuildError unless this machine can build the network."""
    problems = check_environment(DEMO_TOOLS)
    if problems:
        raise BuildError('; '.join(problems))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float,
               waiting: str, say: Say) -> bool:
    """wait_for that tells the user once what it waits for; False on timeout."""
    told = False

    def check() -> bool:
        nonlocal told
        if predicate():
            return True
        if not told:
            say(waiting)
            told = True
        return False

    try:
        wait_for(check, timeout=timeout, interval=interval, what=waiting)
    except AssertionError:
        return False
    return True


class Cleanup:
    """Callbacks run in reverse order exactly once, with signals held off."""

    def __init__(self) -> None:
        self._callbacks: List[Tuple[str, Callable[..., Any], tuple]] = []

    def add(self, what: str, fn: Callable[..., Any], *args) -> None:
        self._callbacks.append((what, fn, args))

    def run(self) -> None:
        # a second Ctrl-C must not cut the cleanup short
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._callbacks:
                what, fn, args = self._callbacks.pop()
                try:
                    fn(*args)
                except Exception as exc:  # keep cleaning up
                    print(f'{PROG}: cleanup: {what} failed: {exc}', file=sys.stderr)
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class Lock:
    """Serialise runs of this script: they build bridges with fixed names."""

    def __init__(self, path: str = LOCK_PATH):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self, timeout: float, say: Say) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

        def locked() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not wait_until(locked, timeout, 0.5, f'{PROG}: waiting for another {PROG} run to finish ...', say):
            raise BuildError(f'another {PROG} run holds {self.path} (waited {timeout:.0f}s)')

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _name_clashes(topology: Topology) -> List[str]:
    """Bridges, ports and links this run would create that exist already."""
    clashes = []
    for dp in sorted(topology.datapaths):
        if sh(['ovs-vsctl', '--timeout=5', 'br-exists', dp], check=False).returncode == 0:
            clashes.append(f'OVS bridge {dp}')
        elif link_exists(dp):
            clashes.append(f'network interface {dp}')
    for iface in nodes(topology):
        port = str(iface.port)
        if sh(['ovs-vsctl', '--timeout=5', 'port-to-br', port], check=False).returncode == 0:
            clashes.append(f'OVS port {port}')
        elif link_exists(port):
            clashes.append(f'network interface {port}')
    return clashes


def wait_names_free(topology: Topology, timeout: float, say: Say) -> None:
    clashes = _name_clashes(topology)
    if not clashes:
        return
    waiting = f'{PROG}: waiting for {", ".join(clashes)} to go away ...'
    if not wait_until(lambda: not _name_clashes(topology), timeout, 1, waiting, say):
        raise BuildError('these already exist, and this script never deletes what it did not '
                         'create: ' + ', '.join(_name_clashes(topology)) +
                         ' (if they are left over from a crashed run, remove them with '
                         '`ovs-vsctl del-br NAME` / `ip link del NAME`)')


class _LocalController(RemoteController):
    def checkListening(self):
        # Mininet would telnet to the port, i.e. open an OpenFlow
        # connection; the caller checks the listening socket instead.
        pass


def build_network(topology: Topology, controller_port: int,
                  fail_mode: str = 'secure') -> Tuple[Mininet, Dict[str, Any]]:
    """Create (not start) the Mininet network.  Returns (net, {interface: host})."""
    net = Mininet(topo=None, build=False, controller=None, switch=OVSSwitch, host=Host,
                  autoSetMacs=False, autoStaticArp=False, waitConnected=False)
    net.addController('c0', controller=_LocalController, ip='127.0.0.1', port=controller_port)
    for dp in sorted(topology.datapaths.values(), key=lambda d: d.name):
        net.addSwitch(dp.name, cls=OVSSwitch, dpid='%016x' % dp.dpid, datapath='user',
                      failMode=fail_mode, protocols='OpenFlow13', batch=True)
    names = host_names(topology)
    hosts = {}
    for iface in nodes(topology):
        ip = None
        if iface.ipv4 is not None:
            ip = f'{iface.ipv4}/{topology.networks[iface.network].ipv4.prefixlen}'
        hosts[iface.name] = net.addHost(names[iface.name], mac=iface.mac, ip=ip)
    for iface in nodes(topology):
        net.addLink(hosts[iface.name], net.get(iface.datapath),
                    intfName1=NS_IFNAME, intfName2=iface.port)
    return net, hosts


def _runner(host) -> Runner:
    """Runs an argv in a Mininet host.  cmd() gives output, not an exit
    status, so ``check`` cannot be honoured; the demo's probes (ICMP, ARP)
    do not depend on these steps."""
    return lambda argv, check: host.cmd(shlex.join(argv))


def configure_hosts(topology: Topology, hosts: Mapping[str, Any]) -> None:
    """After net.start(): offload and IPv6 as in every lab host, a sanity
    check of MACs, and routes."""
    for name, host in hosts.items():
        iface = topology.interfaces[name]
        prepare_ns_end(_runner(host))
        mac = host.cmd(f'cat /sys/class/net/{NS_IFNAME}/address').strip().lower()
        if mac != iface.mac:
            raise BuildError(f'{name}: {NS_IFNAME} has MAC {mac}, expected {iface.mac}')
        for prefix, gw in static_routes(topology, iface):
            dest = 'default' if prefix.prefixlen == 0 else str(prefix)
            out = host.cmd(f'ip route replace {dest} via {gw.ipv4} dev {NS_IFNAME} 2>&1; echo rc=$?')
            if 'rc=0' not in out:
                raise BuildError(f'{name}: cannot add route {dest} via {gw.ipv4}: {out.strip()}')
        quiet_bridge_end(str(iface.port))
