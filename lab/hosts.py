"""Several emulated hosts on one machine, joined by a VXLAN underlay.

The layout of DESIGN.md "Several hosts on one machine"::

    hosts = MultiHost(lab, controller_port=P)        # P: None = no controller
    h1 = hosts.host('h1', dpid=0x101)                # underlay subnet 'a': 198.18.1.1
    h3 = hosts.host('h3', dpid=0x103, subnet='b')    # behind the router namespace
    h4 = hosts.host('h4', dpid=0x104, tunnel_ip='198.18.7.4')   # its /24 is its subnet
    vm = h1.vm('vm1', port='p-vm1', mac='52:54:00:00:01:01', cidr='10.44.1.1/24')
    hosts.prime_tunnels()                            # after set-up: see there
    h1.ofctl('dump-flows', 'br-int')

* underlay: Linux bridges ``ul-a`` (198.18.1.0/24), ``ul-b`` (198.18.2.0/24)
  and one per other /24 of a host's ``tunnel_ip`` (``ul-c`` ...) in namespace
  ``<prefix>-ul``, a veth to each host's ``ul0``.  A second subnet brings the
  router namespace ``<prefix>-rt`` (ip_forward=1, .254 on every subnet);
  every host routes via .254 of its subnet, so the router may come later.
* host ``<prefix>-h-<name>``: a private OVS (lab/ovsinstance.py); ``br-phy``
  holds ul0 and the underlay address (``tunnel_ip``); ``br-int`` has one port,
  the flow-based VXLAN port (``tunnel_port``, default vxlan0), and the
  controller target.
* management (with a controller_port): the controller runs in the root
  namespace, whose 127.0.0.1 a host cannot reach.  Root bridge ``<prefix>mgmt``
  holds ``controller_ip`` (.1 of a free 198.19.N.0/24), with a veth to each
  host's ``mgmt0``; the controller listens there or on 0.0.0.0.
* VM ``<prefix>-v-<name>``: a veth whose host end is the br-int port.

Flows by hand (no controller) and underlay captures: lab/vxlan_flows.py (re-exported).
All is tracked by the Lab: close() and the next Lab after a crash remove it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
import select
import string
import subprocess
import zlib
from typing import TYPE_CHECKING, Optional, Sequence, Union

from controller.cli.ovscmd import NETDEV, BridgeSpec, bridge_create_args, service_port_args, tunnel_create_args
from lab.netns import Host, prepare_ns_end
from lab.ovs import check_ifname
from lab.ovsinstance import OvsInstance
from lab.proc import NetlabError, death_signal_preexec, sh, wait_for
from lab.traffic import arping_flavour
from lab.vxlan_flows import Capture
from lab.vxlan_flows import install_static_vxlan as install_static_vxlan  # re-exported
from lab.vxlan_flows import static_vxlan_flows as static_vxlan_flows  # re-exported

if TYPE_CHECKING:
    from lab.core import Lab

SUBNETS = {'a': ipaddress.IPv4Network('198.18.1.0/24'), 'b': ipaddress.IPv4Network('198.18.2.0/24')}
SUBNET_PREFIXLEN = 24         # a host given its tunnel_ip joins the subnet of its /24
ROUTER_HOST = 254             # the router's host number on every underlay subnet
VM_MTU = 1450                 # 1500 - VXLAN's 50: with 1500, TCP across hosts black-holes
VXLAN_PORT = 'vxlan0'
Cmd = Union[str, Sequence[str]]


def _ns_argv(ns: str, cmd: Cmd) -> list[str]:
    inner = ['sh', '-c', cmd] if isinstance(cmd, str) else [str(c) for c in cmd]
    return ['ip', 'netns', 'exec', ns, *inner]


def _new_netns(lab: Lab, ns: str) -> None:
    """A tracked namespace with lo up and no IPv6 (no RS/MLD noise on the wire)."""
    lab.track_netns(ns)                 # recorded first: a crash right after is swept
    sh(['ip', 'netns', 'add', ns])
    sh(_ns_argv(ns, 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 '
                    'net.ipv6.conf.default.disable_ipv6=1 && ip link set lo up'))


def _check_name(name: str, limit: int) -> str:
    if not re.fullmatch(r'[a-z][a-z0-9]*', name) or len(name) > limit:
        raise ValueError(f'name {name!r}: lower-case letters/digits, at most {limit}')
    return name


def pick_mgmt_subnet(prefix: str) -> ipaddress.IPv4Network:
    """A /24 of 198.19/16 (RFC 2544) that overlaps no address or route of the
    root namespace; the first try derives from the lab prefix, so parallel
    labs rarely even try the same one."""
    text = sh(['ip', '-4', 'route', 'show', 'table', 'all']).stdout + \
        sh(['ip', '-4', '-o', 'addr']).stdout
    used = [ipaddress.IPv4Network(m, strict=False)
            for m in re.findall(r'\b\d+\.\d+\.\d+\.\d+(?:/\d+)?\b', text)]
    used = [n for n in used if not n.is_loopback and n.prefixlen > 0]
    start = zlib.crc32(prefix.encode())
    for k in range(256):
        net = ipaddress.IPv4Network(f'198.19.{(start + k) % 256}.0/24')
        if not any(net.overlaps(u) for u in used):
            return net
    raise NetlabError('no free /24 in 198.19.0.0/16 for the management network')


class Vm(Host):
    """A namespace with ``eth0``, whose peer is a port of its host's br-int.

    A lab Host (run, popen, ping, arping and iperf3_tcp work) whose plug and
    unplug go to the host's private OVS; ``bridge`` is None."""

    def __init__(self, host: EmulatedHost, name: str, port: str, mac: str,
                 cidr: Optional[str], gateway: Optional[str]):
        lab: Lab = host.lab
        super().__init__(lab, name, f'{lab.prefix}-v-{name}', None,  # type: ignore[arg-type]
                         port, mac, cidr, gateway)
        self.host = host

    def plug(self, ofport: Optional[int] = None) -> None:
        extra = ['--', 'set', 'Interface', self.port, f'ofport_request={ofport}'] if ofport else []
        self.host.vsctl('--may-exist', 'add-port', 'br-int', self.port, *extra)

    def unplug(self) -> None:
        self.host.vsctl('--if-exists', 'del-port', 'br-int', self.port)

    def is_plugged(self) -> bool:
        return self.port in self.host.vsctl('list-ports', 'br-int').split()


class EmulatedHost:
    """One emulated hypervisor: a namespace with its own OVS, br-phy and br-int."""

    def __init__(self, hosts: MultiHost, name: str, dpid: int, subnet: str,
                 tunnel_ip: ipaddress.IPv4Address, tunnel_port: str = VXLAN_PORT):
        self.hosts, self.name, self.dpid, self.subnet = hosts, name, dpid, subnet
        self.lab: Lab = hosts.lab
        self.ns = f'{self.lab.prefix}-h-{name}'
        net = hosts.nets[subnet]
        self.tunnel_ip: str = str(tunnel_ip)
        self.tunnel_cidr = f'{self.tunnel_ip}/{net.prefixlen}'
        self.tunnel_port: str = tunnel_port
        self.gateway = str(net.network_address + ROUTER_HOST)
        self.ovs = OvsInstance(self.lab.path(f'ovs-{name}'), netns=self.ns,
                               track=self.lab.track_process)
        self.vms: list[Vm] = []
        self.mgmt_ip: Optional[str] = None

    def run(self, cmd: Cmd, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run ``cmd`` in the host namespace (a string goes through ``sh -c``)."""
        return sh(_ns_argv(self.ns, cmd), check=check, timeout=timeout)

    def popen(self, cmd: Cmd, **kw) -> subprocess.Popen:
        """Start ``cmd`` in the namespace; killed by PID when the lab closes."""
        kw.setdefault('stdin', subprocess.DEVNULL)
        p = subprocess.Popen(_ns_argv(self.ns, cmd), text=True,
                             preexec_fn=death_signal_preexec(), **kw)
        self.lab.track_process(p)
        return p

    # this host's OVS (see OvsInstance): vsctl(ARGS), ofctl(COMMAND, BRIDGE, ARGS), appctl(ARGS)
    def vsctl(self, *args: object, check: bool = True) -> str:
        return self.ovs.vsctl(*args, check=check)

    def ofctl(self, command: str, bridge: str, *args: object, check: bool = True,
              input: Optional[str] = None) -> str:
        return self.ovs.ofctl(command, bridge, *args, check=check, input=input)

    def appctl(self, *args: object) -> str:
        return self.ovs.appctl(*args)

    def build(self, mgmt_ip: Optional[str], controller: Optional[str]) -> None:
        """OVS, both bridges and the addresses (ul0 and mgmt0 exist already)."""
        # else the kernel answers ARP for br-phy's address on ul0 too, with ul0's MAC
        self.run('sysctl -qw net.ipv4.conf.all.arp_ignore=1')
        self.mgmt_ip = mgmt_ip
        if mgmt_ip:
            self.run(f'ip addr add {mgmt_ip} dev mgmt0 && ip link set mgmt0 up')
        self.ovs.start()
        self.vsctl(*self._bridges_args(controller))
        self.run(f'ip addr add {self.tunnel_cidr} dev br-phy && ip link set ul0 up && '
                 'ip link set br-phy up')
        # OVS takes the tunnel's route from this kernel table (no ovs/route/add)
        self.run(['ip', 'route', 'add', 'default', 'via', self.gateway, 'dev', 'br-phy'])

    def _bridges_args(self, controller: Optional[str]) -> list[str]:
        # br-int as `vnetctl setup` makes it; the controller in the same transaction
        # as the bridge: attaching one later makes OVS delete every flow on br-int.
        # The service port only for agents in this host's namespace, where its device
        # is: a controller in the root namespace (like one on another machine) cannot
        # open it and answers through packet-ins.
        br_int = BridgeSpec('br-int', self.dpid, NETDEV, controller or '', self.tunnel_port,
                            self.tunnel_ip, service_port=self.hosts.local_agents)
        args = ['--', 'add-br', 'br-phy', '--', 'set', 'Bridge', 'br-phy', 'datapath_type=netdev',
                '--', 'add-port', 'br-phy', 'ul0',
                *bridge_create_args(br_int), *tunnel_create_args(br_int),
                *(service_port_args(br_int) if br_int.service_port else [])]
        if controller:
            args += ['--', 'set', 'Controller', 'br-int', 'connection-mode=out-of-band',
                     'max_backoff=1000']
        return args

    def vm(self, name: str, port: str, mac: str, cidr: Optional[str], gateway: Optional[str] = None,
           mtu: int = VM_MTU, ofport: Optional[int] = None, plugged: bool = True) -> Vm:
        """A VM namespace ``<prefix>-v-<name>``: eth0 with ``mac``, ``cidr`` (or none), ``mtu``,
        TX checksum offload off (else TCP/UDP fail on the userspace datapath),
        IPv6 off, a default route via ``gateway``; its peer, named ``port``,
        is plugged into br-int (``plugged=False``: later, with ``vm.plug()``)."""
        v = Vm(self, _check_name(name, 40), check_ifname(port), mac, cidr, gateway)
        _new_netns(self.lab, v.ns)
        self.run(['ip', 'link', 'add', port, 'mtu', str(mtu), 'type', 'veth',
                  'peer', 'name', 'eth0', 'mtu', str(mtu), 'netns', v.ns])
        self.run(['ip', 'link', 'set', port, 'up'])
        v.run(['ip', 'link', 'set', 'eth0', 'address', mac])
        prepare_ns_end(lambda argv, check: v.run(argv, check=check))
        if cidr:
            v.run(['ip', 'addr', 'add', cidr, 'dev', 'eth0'])
        v.run('ip link set eth0 up')
        if gateway:
            v.run(['ip', 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0'])
        if plugged:
            v.plug(ofport)
        self.vms.append(v)
        return v

    def tcpdump_underlay(self, filter: str = 'udp port 4789', count: int = 1,
                         timeout: float = 5) -> Capture:
        """Start ``tcpdump -v`` on ul0 (the host's wire) and return once it
        listens; ``capture.wait()`` gives its text, ``capture.vnis()`` the VNIs."""
        p = self.popen(['tcpdump', '-l', '-nn', '-v', '-i', 'ul0', '-c', str(count), filter],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stderr is not None
        ready, _, _ = select.select([p.stderr], [], [], timeout)
        line = p.stderr.readline() if ready else ''
        if 'listening on' not in line:
            p.kill()
            raise NetlabError(f'tcpdump in {self.ns} did not start: {line or "(no output)"}')
        return Capture(p)

    def arp_cache(self) -> str:
        """OVS's tunnel neighbour cache (``ovs-appctl tnl/neigh/show``)."""
        return self.appctl('tnl/neigh/show')


class MultiHost:
    """The underlay, the management network and the emulated hosts of one lab.

    ``controller_port``: br-int of every host gets ``tcp:<controller_ip>:PORT``;
    None builds no controller target (flows by hand: static_vxlan_flows)."""

    def __init__(self, lab: Lab, controller_port: Optional[int] = None, local_agents: bool = False):
        self.lab, self.controller_port = lab, controller_port
        # each host runs its own agent in its namespace (tcp:127.0.0.1:PORT there);
        # the management network still joins them to the root (etcd listens there)
        self.local_agents = local_agents
        self.hosts: dict[str, EmulatedHost] = {}
        self.ul_ns, self.rt_ns = f'{lab.prefix}-ul', f'{lab.prefix}-rt'
        self.subnets: list[str] = []      # in use, in order of first use
        self.nets = dict(SUBNETS)         # subnet name -> its /24 (named on first use)
        self.mgmt_bridge = lab.ifname('mgmt')
        self.mgmt_net: Optional[ipaddress.IPv4Network] = None

    @property
    def controller_ip(self) -> str:
        """The root-namespace address the hosts reach the controller at."""
        return str(self._mgmt_net().network_address + 1)

    @property
    def controller_target(self) -> Optional[str]:
        port = self.controller_port
        if port and self.local_agents:
            return f'tcp:127.0.0.1:{port}'
        return f'tcp:{self.controller_ip}:{port}' if port else None

    def host(self, name: str, dpid: int, subnet: Optional[str] = None,
             tunnel_ip: Optional[str] = None, tunnel_port: str = VXLAN_PORT) -> EmulatedHost:
        """A new emulated host, br-int's datapath id ``dpid``, its VXLAN port
        ``tunnel_port``.  Its underlay address: ``tunnel_ip`` (its /24 is its
        subnet; .0, .255 and .254, the router's, are refused), else the next
        free one of ``subnet`` ('a', the default, or 'b').  ``name``: up to 9
        lower-case letters/digits (part of a root-namespace interface name)."""
        _check_name(name, 15 - len(self.lab.ifname('m')))
        check_ifname(tunnel_port)
        if name in self.hosts or (subnet and tunnel_ip) or (subnet or 'a') not in SUBNETS:
            raise ValueError(f'host {name!r} exists, subnet {subnet!r} is not in {list(SUBNETS)}, '
                             'or both a subnet and a tunnel_ip are given')
        ip = self._check_tunnel_ip(ipaddress.IPv4Address(tunnel_ip)) if tunnel_ip else \
            next(a for a in SUBNETS[subnet or 'a'].hosts() if str(a) not in self._tunnel_ips)
        subnet = self._subnet_name(ipaddress.IPv4Network(f'{ip}/{SUBNET_PREFIXLEN}', strict=False))
        self._subnet(subnet)
        h = self.hosts[name] = EmulatedHost(self, name, dpid, subnet, ip, tunnel_port)
        _new_netns(self.lab, h.ns)
        self.underlay(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'ul0',
                       'netns', h.ns])
        self.underlay(['ip', 'link', 'set', name, 'master', f'ul-{subnet}', 'up'])
        h.build(self._mgmt_link(h, len(self.hosts)), self.controller_target)
        return h

    def underlay(self, cmd: Cmd) -> subprocess.CompletedProcess:
        """Run ``cmd`` in the underlay namespace (the wire between the hosts)."""
        return sh(_ns_argv(self.ul_ns, cmd))

    def _check_tunnel_ip(self, ip: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
        net = ipaddress.IPv4Network(f'{ip}/{SUBNET_PREFIXLEN}', strict=False)
        if ip in (net.network_address, net.broadcast_address, net.network_address + ROUTER_HOST) \
                or str(ip) in self._tunnel_ips:
            raise ValueError(f'tunnel_ip {ip}: taken by another host, or the network, broadcast '
                             f'or router (.{ROUTER_HOST}) address of {net}')
        return ip

    @property
    def _tunnel_ips(self) -> set[str]:
        return {h.tunnel_ip for h in self.hosts.values()}

    def _subnet_name(self, net: ipaddress.IPv4Network) -> str:
        """The name of underlay subnet ``net``: a, b, then c, d ... as they come."""
        for name, known in self.nets.items():
            if known == net:
                return name
        n = len(self.nets)
        name = string.ascii_lowercase[n] if n < 26 else f'n{n}'
        self.nets[name] = net
        return name

    def _subnet(self, subnet: str) -> None:
        """The underlay namespace, the subnet's bridge and, from the second
        subnet on, the router with a leg on every subnet."""
        if subnet in self.subnets:
            return
        if not self.subnets:
            _new_netns(self.lab, self.ul_ns)
        self.underlay(f'ip link add ul-{subnet} type bridge && ip link set ul-{subnet} up')
        self.subnets.append(subnet)
        if len(self.subnets) == 2:
            _new_netns(self.lab, self.rt_ns)
            sh(_ns_argv(self.rt_ns, 'sysctl -qw net.ipv4.ip_forward=1'))
            self._router_leg(self.subnets[0])
        if len(self.subnets) >= 2:
            self._router_leg(subnet)

    def _router_leg(self, s: str) -> None:
        """The router's interface r-<s> (.254) on subnet s's bridge."""
        net = self.nets[s]
        sh(['ip', '-n', self.rt_ns, 'link', 'add', f'r-{s}', 'type', 'veth',
            'peer', 'name', f'rt-{s}', 'netns', self.ul_ns])
        self.underlay(['ip', 'link', 'set', f'rt-{s}', 'master', f'ul-{s}', 'up'])
        sh(_ns_argv(self.rt_ns, f'ip addr add {net.network_address + ROUTER_HOST}/'
                                f'{net.prefixlen} dev r-{s} && ip link set r-{s} up'))

    def _mgmt_net(self) -> ipaddress.IPv4Network:
        """The management bridge in the root namespace, created on first use."""
        if self.mgmt_net is None:
            net, br = pick_mgmt_subnet(self.lab.prefix), self.mgmt_bridge
            self.lab.track_link(br)
            # its own MAC, else the lowest of its ports': a host that resolved us before a
            # lower one joined sends to a MAC no longer passed up (OpenFlow stalls ~30 s)
            mac = '02:' + ':'.join(f'{b:02x}' for b in secrets.token_bytes(5))
            sh(['ip', 'link', 'add', br, 'address', mac, 'type', 'bridge'])
            sh(['sysctl', '-qw', f'net.ipv6.conf.{br}.disable_ipv6=1'])
            sh(['ip', 'addr', 'add', f'{net.network_address + 1}/{net.prefixlen}', 'dev', br])
            sh(['ip', 'link', 'set', br, 'up'])
            self.mgmt_net = net
        return self.mgmt_net

    def _mgmt_link(self, h: EmulatedHost, n: int) -> Optional[str]:
        """A veth from the management bridge to the host's ``mgmt0``; its address."""
        if self.controller_port is None:
            return None
        net, root_end = self._mgmt_net(), self.lab.ifname('m' + h.name)
        self.lab.track_link(root_end)
        sh(['ip', 'link', 'add', root_end, 'type', 'veth', 'peer', 'name', 'mgmt0',
            'netns', h.ns])
        sh(['sysctl', '-qw', f'net.ipv6.conf.{root_end}.disable_ipv6=1'])
        sh(['ip', 'link', 'set', root_end, 'master', self.mgmt_bridge, 'up'])
        return f'{net.network_address + 10 + n}/{net.prefixlen}'

    def prime_tunnels(self) -> None:
        """Teach every OVS the MACs of its tunnel next hops before traffic.

        OVS resolves a tunnel's next hop by ARP and learns only from replies
        and gratuitous ARPs that reach br-phy; until then it drops the packets
        (the first pings to a new remote fail).  Every host, and the router on
        each leg, sends one gratuitous ARP, all at once (~0.15 s in total)."""
        senders = [(h.ns, 'br-phy', h.tunnel_ip) for h in self.hosts.values()]
        if len(self.subnets) > 1:
            senders += [(self.rt_ns, f'r-{s}', str(self.nets[s].network_address + ROUTER_HOST))
                        for s in self.subnets]
        procs = [subprocess.Popen(_ns_argv(ns, _gratuitous_arp(dev, ip)))
                 for ns, dev, ip in senders]
        for p in procs:
            p.wait(timeout=10)
        for h in self.hosts.values():     # vswitchd learns asynchronously
            wait_for(functools.partial(self.primed, h), timeout=5, interval=0.02,
                     what=f'{h.name} to learn its next hops', state=h.arp_cache)

    def primed(self, h: EmulatedHost) -> bool:
        """Does h's OVS know the MAC of every next hop it tunnels to?"""
        return all(ip in h.arp_cache() for ip in self.next_hops(h))

    def next_hops(self, h: EmulatedHost) -> list[str]:
        """The underlay addresses h's OVS resolves: its subnet's other hosts
        and, once there are two subnets, the router."""
        hops = [o.tunnel_ip for o in self.hosts.values() if o is not h and o.subnet == h.subnet]
        return hops + ([h.gateway] if len(self.subnets) > 1 else [])

    def close(self) -> None:
        """Stop every host's OVS now (the lab removes namespaces and veths)."""
        for h in self.hosts.values():
            h.ovs.stop()


def _gratuitous_arp(dev: str, ip: str) -> list[str]:
    """One gratuitous ARP for ``ip`` out of ``dev``, not waiting for a reply
    (none comes; arping then exits 1).  Habets' arping (Debian's) waits a
    whole second after its last packet unless told -w 0."""
    if arping_flavour() == 'habets':
        return ['arping', '-q', '-U', '-c', '1', '-w', '0', '-i', dev, '-S', ip, ip]
    return ['arping', '-q', '-U', '-c', '1', '-I', dev, ip]
