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
from typing import Dict, List, Mapping, Optional, Tuple

from controller.cli.ovscmd import BridgeSpec, service_port_args
from controller.topology import Topology
from lab.demo.common import MININET_PROG, BuildError, Cleanup, Say, wait_until
from lab.demo.nodes import MininetNode, add_routes, runner
from lab.demo.plan import host_names, nodes
from lab.netns import NS_IFNAME, link_exists, prepare_ns_end, quiet_bridge_end
from lab.proc import NetlabError, check_environment, sh
from mininet.net import Mininet
from mininet.node import Host, OVSSwitch, RemoteController

__all__ = ['PROG', 'DEFAULT_CONTROLLER_PORT', 'LOCK_PATH', 'DEMO_TOOLS', 'BuildError', 'Cleanup', 'Say',
           'Lock', 'preflight', 'wait_until', 'wait_names_free', 'build_network', 'configure_hosts',
           'add_service_ports']

PROG = MININET_PROG
DEFAULT_CONTROLLER_PORT = 6633   # where the bridges look for the controller
LOCK_PATH = '/run/lock/ryu-vnet-mininet.lock'
DEMO_TOOLS = ('ovs-vsctl', 'ovs-ofctl', 'ip', 'ethtool', 'arping', 'ping', 'traceroute', 'mnexec', 'ss')


def preflight() -> None:
    """BuildError unless this machine can build the network."""
    problems = check_environment(DEMO_TOOLS)
    if problems:
        raise BuildError('; '.join(problems))


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
                  fail_mode: str = 'secure') -> Tuple[Mininet, Dict[str, MininetNode]]:
    """Create (not start) the Mininet network.  Returns (net, {interface: node}):
    each Mininet host as a ``lab.demo.nodes.Node`` (``node.host`` is the host)."""
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
    return net, {name: MininetNode(host) for name, host in hosts.items()}


def add_service_ports(topology: Topology) -> None:
    """Each switch's service port, as `vnetctl setup` adds it: the controller
    (on this machine) answers DHCP and DNS there (controller.pipeline.service_port)."""
    for dp in topology.datapaths.values():
        sh(['ovs-vsctl', *service_port_args(BridgeSpec(dp.name, dp.dpid, 'netdev', ''))])


def configure_hosts(topology: Topology, hosts: Mapping[str, MininetNode]) -> None:
    """After net.start(): offload and IPv6 as in every lab host, a sanity
    check of MACs, and routes."""
    for name, node in hosts.items():
        iface = topology.interfaces[name]
        try:
            prepare_ns_end(runner(node))
            mac = node.run(['cat', f'/sys/class/net/{NS_IFNAME}/address']).stdout.strip().lower()
        except NetlabError as err:
            raise BuildError(str(err)) from None
        if mac != iface.mac:
            raise BuildError(f'{name}: {NS_IFNAME} has MAC {mac}, expected {iface.mac}')
        add_routes(topology, iface, node)
        quiet_bridge_end(str(iface.port))
