"""vnetctl setup DATAPATH: the ovs-vsctl commands for a datapath's bridge, or apply them."""
from __future__ import annotations

import argparse
import shlex
from typing import TextIO

from controller.cli import ovscmd, system
from controller.cli.ovscmd import DEFAULT_CONTROLLER, NETDEV, SYSTEM, BridgeSpec, Current, SetupError
from controller.cli.problems import print_problems
from controller.cli.system import Failed
from controller.options import topology_path
from controller.topology import TopologyError, load_topology

EXAMPLE = f'''examples:
  vnetctl setup br0 --topology my.yml            # print the commands
  vnetctl setup br0 --topology my.yml --apply    # run what differs, say what changed
  vnetctl setup host1 --bridge br-int --controller tcp:192.0.2.10:6633 --apply

The bridge: datapath_type ({NETDEV} unless the OVS kernel module is loaded),
fail_mode=secure, OpenFlow13, the topology's dpid, in-band control off, the
controller target; with the datapath's tunnel_ip, its flow-based VXLAN port.
exit status: 0 done (or nothing to do), 1 a problem (nothing changed), 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'setup', help="print or apply the ovs-vsctl commands for a datapath's bridge",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The exact ovs-vsctl commands that make a datapath's bridge from the "
                    'topology; --apply runs them idempotently, setting only what differs.')
    parser.add_argument('datapath', metavar='DATAPATH', help='a datapath of the topology')
    parser.add_argument('--topology', metavar='FILE',
                        help='topology file (default: $VNET_TOPOLOGY, else topologies/default.yml)')
    parser.add_argument('--bridge', metavar='NAME', help='bridge name (default: DATAPATH)')
    parser.add_argument('--controller', metavar='TARGET', default=DEFAULT_CONTROLLER,
                        help=f'OpenFlow controller target (default {DEFAULT_CONTROLLER})')
    parser.add_argument('--datapath-type', choices=(NETDEV, SYSTEM),
                        help=f'default: {SYSTEM} with the OVS kernel module loaded, else {NETDEV}')
    parser.add_argument('--apply', action='store_true', help='run the commands (only what differs)')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    try:
        topology = load_topology(topology_path(args))
        spec = ovscmd.bridge_spec(topology, args.datapath, args.bridge, args.datapath_type,
                                  args.controller)
        if not args.apply:
            print(ovscmd.shell_lines(ovscmd.setup_argv(spec)), file=out)
            return 0
        return apply(spec, out)
    except TopologyError as exc:
        print_problems(exc, out)
    except (SetupError, Failed) as exc:
        print(f'vnetctl setup: {exc}', file=out)
    return 1


def current(spec: BridgeSpec) -> Current:
    found = system.find('Bridge', ('name', 'datapath_type', 'fail_mode', 'protocols',
                                   'other_config'), f'name={spec.bridge}')
    if not found:
        return Current(bridge=None, tunnel_bridge=_tunnel_bridge(spec))
    tunnel = None
    if spec.tunnel_port:
        ifaces = system.find('Interface', ('name', 'type', 'options'), f'name={spec.tunnel_port}')
        tunnel = ifaces[0] if ifaces else None
    return Current(bridge=found[0], controllers=system.controllers(spec.bridge),
                   tunnel=tunnel, tunnel_bridge=_tunnel_bridge(spec))


def _tunnel_bridge(spec: BridgeSpec):
    return system.port_bridge(spec.tunnel_port) if spec.tunnel_port else None


def apply(spec: BridgeSpec, out: TextIO) -> int:
    todo = ovscmd.changes(spec, current(spec))
    if not todo:
        print(f'{spec.bridge}: already set up (dpid {spec.dpid:#x}, {spec.controller}); '
              'nothing changed', file=out)
        return 0
    argv = [ovscmd.VSCTL, f'--timeout={system.TIMEOUT}']
    for _, clause in todo:
        argv += clause
    system.run(argv)           # one transaction: all of it or nothing
    for what, _ in todo:
        print(f'{spec.bridge}: {what}', file=out)
    print(f'ran: {shlex.join(argv)}', file=out)
    return 0
