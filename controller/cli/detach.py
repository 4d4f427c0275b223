"""vnetctl detach INTERFACE: undo `vnetctl attach` (the OVS port, the veth, the record)."""
from __future__ import annotations

import argparse
from typing import TextIO

from controller.cli import system
from controller.cli.attach_plan import ATTACH, INTERFACE, AttachError, external_ids, unknown_interface
from controller.cli.problems import print_problems
from controller.cli.system import Failed
from controller.options import topology_path
from controller.topology import TopologyError, load_topology

EXAMPLE = '''example:
  vnetctl detach vm1

Finds what `vnetctl attach` recorded for the interface (external_ids:vnet-interface),
removes the OVS port and the veth (its namespace end goes with it).  The
namespace, process or container itself is left alone.  Detaching twice is fine.
A port that vnetctl did not attach is left alone (exit 1).
exit status: 0 done (or nothing to do), 1 a problem (nothing changed), 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'detach', help='remove what vnetctl attach made for an interface',
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Remove the OVS port and the veth that vnetctl attach made for INTERFACE.')
    parser.add_argument('interface', metavar='INTERFACE')
    parser.add_argument('--topology', metavar='FILE',
                        help='topology file, used only when nothing is recorded for INTERFACE '
                             '(default: $VNET_TOPOLOGY, else topologies/default.yml)')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    try:
        ports = [row['name'] for row in system.find('Interface', ('name', 'external_ids'))
                 if external_ids(row).get(INTERFACE) == args.interface
                 and ATTACH in external_ids(row)]
        if not ports:
            return not_recorded(args, out)
        for port in sorted(ports):
            system.vsctl('--if-exists', 'del-port', port)
            link = system.link(port)
            if link and link.get('linkinfo', {}).get('info_kind') == 'veth':
                system.run(['ip', 'link', 'del', 'dev', port])
            print(f'{args.interface}: detached (removed port {port} and its veth)', file=out)
        return 0
    except TopologyError as exc:
        print_problems(exc, out)
    except (AttachError, Failed) as exc:
        print(f'vnetctl detach: {exc}', file=out)
    return 1


def not_recorded(args, out: TextIO) -> int:
    """Nothing of ours: fine if the interface is not plugged, else not ours to remove."""
    topology = load_topology(topology_path(args))
    iface = topology.interfaces.get(args.interface)
    if iface is None:
        raise AttachError(unknown_interface(topology, args.interface))
    if iface.port and (system.port_bridge(iface.port) or system.link(iface.port)):
        raise AttachError(f'{args.interface}: port {iface.port} was not attached by vnetctl '
                          f'(no external_ids:{ATTACH}); left alone')
    print(f'{args.interface}: not attached; nothing to do', file=out)
    return 0
