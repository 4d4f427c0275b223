"""vnetctl setup DATAPATH: the ovs-vsctl commands for a datapath's bridge, or apply them."""
from __future__ import annotations

import argparse
import shlex
from typing import Optional, TextIO, Tuple

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
controller target; with the datapath's tunnel_ip, its flow-based VXLAN port;
its service port BRIDGE-svc (an internal port: the controller answers DHCP and
DNS through it when it runs on this machine; --no-service-port leaves it out).
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
    parser.add_argument('--no-service-port', dest='service_port', action='store_false',
                        help='no service port: DHCP and DNS by packet-ins (a controller on '
                             'another machine cannot use the port)')
    parser.add_argument('--apply', action='store_true', help='run the commands (only what differs)')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    try:
        topology = load_topology(topology_path(args))
        spec = ovscmd.bridge_spec(topology, args.datapath, args.bridge, args.datapath_type,
                                  args.controller, args.service_port)
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
    tunnel, tunnel_bridge = _interface(spec.tunnel_port, ('name', 'type', 'options'))
    service, service_bridge = _interface(spec.service_port_name, ('name', 'type'))
    return Current(bridge=found[0] if found else None,
                   controllers=system.controllers(spec.bridge) if found else (),
                   tunnel=tunnel, tunnel_bridge=tunnel_bridge,
                   service=service, service_bridge=service_bridge)


def _interface(name: Optional[str], columns: Tuple[str, ...]):
    """(Interface row, the bridge whose port it is) of `name`; Nones for no such port."""
    if not name:
        return None, None
    bridge = system.port_bridge(name)
    if bridge is None:
        return None, None
    ifaces = system.find('Interface', columns, f'name={name}')
    return (ifaces[0] if ifaces else None), bridge


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
