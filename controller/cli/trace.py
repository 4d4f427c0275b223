"""vnetctl trace TOPOLOGY --from IFACE --to ADDRESS|IFACE: where a frame goes, and why."""
from __future__ import annotations

import argparse
import os
from typing import Dict, List, TextIO

from controller.cli.problems import print_problems
from controller.explain.live import LiveError, LiveTracer, Ovs
from controller.explain.packet import ICMP, NoRoute, ProbeError, Request, build
from controller.explain.source import load_located
from controller.explain.verdict import Trace
from controller.explain.walk import Walker
from controller.topology import TopologyError

EXAMPLE = '''examples:
  vnetctl trace topologies/seed003.yml --from ns1 --to 172.16.2.1             # ping, routed
  vnetctl trace topologies/seed003.yml --from ns1 --to ns2 --proto tcp --dport 80
  vnetctl trace topologies/seed003.yml --from ns1 --to 172.16.1.254 --arp     # the gateway answers
  vnetctl trace topologies/weave3.yml --from red1 --dhcp                       # to the controller
  vnetctl trace my.yml --from vm1 --dns                     # a query to the network's dns interface
  vnetctl trace topologies/default.yml --from vm1 --to vm2 --live              # ask the switch
  vnetctl trace weave3.yml --from red1 --to red3 --live --ovs host3=/run/ovs-h3 # host3's OVS

Offline, each datapath the frame crosses is compiled (its ports numbered in
name order; only the networks the frame can be in) and run through the table
simulator; --live asks the bridge with the datapath's dpid (ovs-appctl
ofproto/trace) and maps each flow's cookie back to the compiled flow.

exit status: 0 delivered, answered by the datapath or sent to the controller;
1 dropped (or the source has no route to send it); 2 usage, invalid topology,
or the switch could not be asked'''


def register(commands) -> None:
    parser = commands.add_parser(
        'trace', help='where a packet goes, table by table, and why', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Trace the frame an interface would send through the compiled pipeline of '
                    'every datapath it crosses: each table\'s decision, the topology object behind '
                    'it (key path and line), and one verdict.')
    parser.add_argument('topology', metavar='TOPOLOGY')
    parser.add_argument('--from', dest='source', required=True, metavar='IFACE',
                        help='the sending interface (vif or host)')
    parser.add_argument('--to', metavar='IPV4|IFACE', help='destination address or interface')
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument('--proto', choices=('icmp', 'tcp', 'udp'), default=None,
                      help='IPv4 protocol (default icmp: an echo request, as ping)')
    kind.add_argument('--arp', action='store_true', help='an ARP request for --to')
    kind.add_argument('--dhcp', action='store_true', help='a DHCP discover (no --to)')
    kind.add_argument('--dns', action='store_true',
                      help="a DNS query to the network's dns interface (no --to)")
    parser.add_argument('--dport', type=int, metavar='N', help='TCP/UDP destination port (default 80)')
    parser.add_argument('--live', action='store_true',
                        help='trace on the running switch (ovs-appctl ofproto/trace)')
    add_ovs_option(parser, 'with --live: ')
    parser.set_defaults(run=run)


def add_ovs_option(parser, when: str = '') -> None:
    parser.add_argument('--ovs', action='append', default=[], metavar='DATAPATH=RUNDIR',
                        help=f"{when}DATAPATH's bridge is on the Open vSwitch whose run "
                             'directory is RUNDIR (default: this machine\'s); repeatable')


def ovs_of(values: List[str], topology) -> Dict[str, Ovs]:
    """--ovs DATAPATH=RUNDIR options as a map (ProbeError names a bad one)."""
    found = {}
    for value in values:
        datapath, sep, rundir = value.partition('=')
        if not sep or not rundir:
            raise ProbeError(f'--ovs {value}: expected DATAPATH=RUNDIR')
        if datapath not in topology.datapaths:
            raise ProbeError(f'--ovs {value}: no datapath {datapath} in {topology.source}')
        if not os.path.isdir(rundir):
            raise ProbeError(f'--ovs {value}: {rundir} is not a directory')
        found[datapath] = Ovs(rundir)
    return found


def request_of(args) -> Request:
    if args.dport is not None and args.proto not in ('tcp', 'udp'):
        raise ProbeError('--dport needs --proto tcp or --proto udp')
    if args.dport is not None and not 0 < args.dport < 65536:
        raise ProbeError(f'--dport: {args.dport} is not a port number (1-65535)')
    kind = 'arp' if args.arp else 'dhcp' if args.dhcp else 'dns' if args.dns else (args.proto or ICMP)
    return Request(args.source, args.to, kind, args.dport)


def run(args, out: TextIO) -> int:
    try:
        located = load_located(args.topology)
        probe = build(located.topology, request_of(args))
        where = ovs_of(args.ovs, located.topology)
        tracer = LiveTracer(located, where) if args.live else Walker.for_probe(located, probe)
        trace = tracer.trace(probe)
    except TopologyError as exc:
        print_problems(exc, out)
        return 2
    except (ProbeError, LiveError) as exc:
        print(f'vnetctl trace: {exc}', file=out)
        return 2
    except NoRoute as exc:
        print(f'not sent: {exc}', file=out)
        return 1
    render(trace, out)
    return trace.verdict.status


def render(trace: Trace, out: TextIO) -> None:
    probe = trace.probe
    print(f'{probe.summary}', file=out)
    for note in probe.notes:
        print(f'  note: {note}', file=out)
    print(f'  enters {probe.datapath} on port {probe.port} (traced by the {trace.source})', file=out)
    width = max([len(s.datapath) for s in trace.steps] + [0])
    for step in trace.steps:
        text = step.text.split(' ', 1)[1] if step.text.startswith('table=') else step.text
        print(f'{step.datapath:<{width}} {step.table:>2} {step.stage:<13} {text}', file=out)
        for origin in step.origins:
            print(f'{"":<{width}}    <- {origin}', file=out)
    print(f'verdict: {trace.verdict.text}', file=out)
