"""The multi-host demo: a topology on emulated hosts joined by VXLAN, checked
as the Mininet demo checks one machine.

    .venv/bin/python -m lab.demo.hosts topologies/weave3.yml
    .venv/bin/python -m lab.demo.hosts --check TOPOLOGY      # terse (for tests)

For any topology whose datapaths all have a ``tunnel_ip`` (lab/demo/layout.py):

* one emulated host (lab/hosts.py: a namespace with its own Open vSwitch)
  per datapath, its br-int with the datapath's dpid and tunnel port, its
  underlay address exactly the tunnel_ip (one /24, one underlay subnet;
  several: a router between them);
* one VM per vif (and host) interface: a namespace whose eth0 has the
  interface's MAC, address/prefix and its network's MTU, and the routes the
  Mininet demo gives it (a default route via its network's router interface);
  the veth's host end is the interface's port on its datapath's br-int;
* the controller in the root namespace, listening on the lab's management
  network, which every br-int reaches.

Then: every datapath's flows, one gratuitous ARP per underlay address (OVS
learns its tunnel next hops), and the Mininet demo's checks (lab/demo/probe.py):
the ping matrix against the expected reachability, the gateway ARP checks, the
router ping checks and a traceroute.  Exit 0 iff all is as expected, 1 if not
(or the build failed), 2 if the topology cannot be built this way (nothing is
built then).  Everything is removed at the end, also on Ctrl-C, SIGTERM and
errors; after a crash, the next lab removes it (lab/core.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Dict, List, Mapping, Optional, Sequence

from controller.topology import Topology
from lab.controller import Controller
from lab.core import Lab
from lab.demo import layout
from lab.demo.common import BuildError, Cleanup, Say, load, run_cleanly, sayer
from lab.demo.nodes import add_routes
from lab.demo.plan import host_names, nodes
from lab.demo.probe import run_probes, wait_flows_ready
from lab.demo.report import mismatch_lines, render_report
from lab.hosts import EmulatedHost, MultiHost, Vm
from lab.ovs import VNET_COOKIE, parse_flow_line
from lab.proc import LAB_TOOLS, check_environment, free_tcp_port

PROG = 'lab.demo.hosts'
TOOLS = LAB_TOOLS + ('arping', 'traceroute', 'ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-appctl')
LOG_TAIL = 40                     # controller log lines shown when something fails


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog=f'python -m {PROG}',
        description='Build one emulated host (a namespace with its own Open vSwitch) per datapath of a '
                    'topology at its tunnel_ip, one VM per vif, start the controller, and run the Mininet '
                    "demo's checks across the VXLAN tunnels; exit 0 iff all is as expected, 2 if the "
                    'topology cannot be built this way.')
    ap.add_argument('topology', metavar='TOPOLOGY', help='topology file (YAML); every datapath needs a tunnel_ip')
    ap.add_argument('--check', action='store_true', help='minimal output: mismatches and the verdict')
    ap.add_argument('--flow-timeout', type=float, default=30.0, metavar='SECONDS',
                    help="how long to wait for the controller's flows (default %(default)s)")
    ap.add_argument('--hold', action='store_true',
                    help='after the checks, keep everything until Enter is pressed (to look around)')
    return ap.parse_args(argv)


class HostSwitches:
    """The datapaths' br-int bridges, each read through its host's own OVS
    (a ``lab.demo.probe.Switches``)."""

    def __init__(self, topology: Topology, by_datapath: Mapping[str, EmulatedHost]):
        self.topology, self.by_datapath = topology, by_datapath

    def flows(self, datapath: str) -> List[dict]:
        out = self.by_datapath[datapath].ofctl('dump-flows', 'br-int', '--no-names', f'cookie={VNET_COOKIE}')
        return [parse_flow_line(line) for line in out.splitlines() if line.startswith(' ') and 'actions=' in line]

    def ofports(self) -> Dict[str, int]:
        found = {}
        for iface in nodes(self.topology):
            h = self.by_datapath[str(iface.datapath)]
            out = h.vsctl('get', 'Interface', str(iface.port), 'ofport', check=False).strip()
            if out.isdigit() and int(out) > 0:
                found[iface.name] = int(out)
        return found


class Demo:
    """One run: the lab, its emulated hosts, VMs and controller."""

    def __init__(self, path: str, topology: Topology, cleanup: Cleanup, say: Say):
        self.path, self.topology, self.say = path, topology, say
        self.lab = Lab().start()
        cleanup.add('remove the lab (namespaces, veths, processes)', self.lab.close)
        self.hosts = MultiHost(self.lab, controller_port=free_tcp_port())
        cleanup.add("stop the emulated hosts' Open vSwitch", self.hosts.close)
        self.by_datapath: Dict[str, EmulatedHost] = {}
        self.vms: Dict[str, Vm] = {}
        self.controller: Optional[Controller] = None

    def start_controller(self) -> None:
        ip, port = self.hosts.controller_ip, self.hosts.controller_port
        self.say(f'*** Starting the controller on {ip}:{port} (the management network)')
        self.controller = self.lab.controller(os.path.abspath(self.path), port=port,
                                              extra_args=['--ofp-listen-host', ip])

    def build(self) -> None:
        t = self.topology
        names = layout.lab_names(sorted(t.datapaths), 15 - len(self.lab.ifname('m')), 'h')
        subnets = layout.underlay_subnets(t)
        self.say(f'*** Building {len(t.datapaths)} emulated host(s) on underlay {", ".join(map(str, subnets))}'
                 + (' (routed)' if len(subnets) > 1 else ''))
        for dp in sorted(t.datapaths.values(), key=lambda d: d.name):
            try:
                h = self.hosts.host(names[dp.name], dp.dpid, tunnel_ip=str(dp.tunnel_ip),
                                    tunnel_port=dp.tunnel_port)
            except ValueError as err:
                raise BuildError(f'datapath {dp.name}: {err}') from None
            self.by_datapath[dp.name] = h
        vm_names = layout.lab_names([i.name for i in nodes(t)], 40, 'vm')
        for iface in nodes(t):
            h, net = self.by_datapath[str(iface.datapath)], t.networks[iface.network]
            cidr = f'{iface.ipv4}/{net.ipv4.prefixlen}' if iface.ipv4 else None
            vm = h.vm(vm_names[iface.name], port=str(iface.port), mac=iface.mac, cidr=cidr, mtu=net.mtu)
            add_routes(t, iface, vm)
            self.vms[iface.name] = vm
        for name, h in sorted(self.by_datapath.items()):
            vms = ' '.join(i.name for i in nodes(t) if i.datapath == name)
            self.say(f'  {name}: dpid {h.dpid:#x}, tunnel_ip {h.tunnel_ip} (subnet {h.subnet}), '
                     f'netns {h.ns}; VMs: {vms or "none"}')

    def check(self, args: argparse.Namespace) -> int:
        """Flows, tunnels, probes and the report; the exit status."""
        t, say = self.topology, self.say
        say(f"*** Waiting for the controller's flows (at most {args.flow_timeout:.0f}s)")
        wait_flows_ready(t, args.flow_timeout, say, switches=HostSwitches(t, self.by_datapath),
                         across=True, prog=PROG)
        say('*** Priming the tunnels (one gratuitous ARP per underlay address)')
        try:
            self.hosts.prime_tunnels()
        except AssertionError as err:
            raise BuildError(f'the tunnels could not be primed: {err}') from None
        say('*** Probing every pair of VMs, every gateway and every router interface')
        started = time.monotonic()
        report = run_probes(t, self.vms)
        if not args.check:
            print(f'\n{render_report(t, report, host_names(t), time.monotonic() - started)}\n')
        for line in mismatch_lines(t, report):
            print(line)
        print(report.verdict('check' if args.check else 'demo'), flush=True)
        if not report.ok:
            self.show_log()
        return 0 if report.ok else 1

    def show_log(self, file=sys.stdout) -> None:
        c = self.controller
        if c is not None and c.log_path.exists():
            print(f'--- controller log (last lines of {c.log_path}) ---\n{c.log_tail(LOG_TAIL)}\n'
                  '--- end of controller log ---', file=file, flush=True)

    def hold(self) -> None:
        print(f'*** Holding (Enter cleans up). Namespaces: {self.lab.prefix}-*; a host\'s OVS: '
              f'ovs-ofctl -O OpenFlow13 dump-flows {next(iter(self.by_datapath.values())).ovs.mgmt("br-int")}',
              flush=True)
        try:
            input()
        except EOFError:
            pass


def refuse(path: str, problems: List[str]) -> int:
    print(f'{PROG}: {path} cannot be built as emulated hosts:', file=sys.stderr)
    for p in problems:
        print(f'{path}: {p}', file=sys.stderr)
    return 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    say = sayer(quiet=args.check)
    topology = load(args.topology, PROG, 2)
    problems = layout.problems(topology)
    if problems:
        return refuse(args.topology, problems)
    cleanup = Cleanup(PROG)
    demo: Optional[Demo] = None

    def run() -> int:
        nonlocal demo
        env = check_environment(TOOLS)
        if env:
            raise BuildError('; '.join(env))
        demo = Demo(args.topology, topology, cleanup, say)
        demo.start_controller()
        demo.build()
        status = demo.check(args)
        if args.hold:
            demo.hold()
        return status

    def failed() -> None:
        if demo is not None:
            demo.show_log(file=sys.stderr)

    return run_cleanly(PROG, cleanup, run, failed)


if __name__ == '__main__':
    sys.exit(main())
