"""The shared lab: real Open vSwitch, network namespaces and processes for
tests, benchmarks and the demo (one implementation of each).

Everything here drives real Open vSwitch (userspace datapath) bridges and
Linux network namespaces, so it needs root and a running ``ovs-vswitchd``.
Traffic never leaves the machine: hosts are namespaces joined to OVS bridges
by veth pairs, and the controller listens on 127.0.0.1 only.

Typical use::

    from lab import Lab, iperf3_tcp

    with Lab() as lab:
        br = lab.bridge('br0', dpid=0x1, controller_port=port)
        h1 = lab.host('h1', br, lab.ifname('p1'), '52:54:00:00:00:01',
                      '172.16.1.1/24')
        h2 = lab.host('h2', br, lab.ifname('p2'), '52:54:00:00:00:02',
                      '172.16.1.2/24')
        ctl = lab.controller(topology_path, port=port)
        br.wait_connected()
        br.wait_for_flows(1)
        assert h1.ping('172.16.1.2')
        print(iperf3_tcp(h1, h2, '172.16.1.2'))
    # every bridge, namespace, veth and process the lab created is gone here

Modules, lowest first:

* ``lab.proc``: commands (``sh``), waiting (``wait_for``), processes by PID
  and start time, the environment check;
* ``lab.ovs``: bridges, ``ovs-ofctl``, flows read back, interface names;
* ``lab.traffic``: ping, arping and iperf3;
* ``lab.netns``: hosts (a namespace with a veth into a bridge);
* ``lab.controller``: the ``ryu-manager`` process;
* ``lab.core``: ``Lab``, naming and cleanup, also after crashes;
* ``lab.demo``: the Mininet demo (``mininet/vnet_mininet.py``).
"""
from lab.controller import REPO_ROOT, Controller
from lab.core import STATE_DIR, Lab, cleanup_stale, sweep_prefix
from lab.netns import NS_IFNAME, Host
from lab.ovs import IFNAMSIZ, VNET_COOKIE, Bridge, dump_flows, dump_groups, ofctl, parse_flow_line, wait_for_flows
from lab.proc import GiveUp, NetlabError, check_environment, free_tcp_port, sh, wait_for
from lab.traffic import iperf3_tcp

__all__ = [
    'REPO_ROOT', 'VNET_COOKIE', 'NetlabError', 'GiveUp', 'Lab', 'Bridge', 'Host',
    'Controller', 'wait_for', 'free_tcp_port', 'ofctl', 'dump_flows',
    'dump_groups', 'wait_for_flows', 'iperf3_tcp', 'parse_flow_line',
    'check_environment', 'sh', 'cleanup_stale', 'sweep_prefix',
    'STATE_DIR', 'IFNAMSIZ', 'NS_IFNAME',
]
