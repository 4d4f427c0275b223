"""vnetctl attach INTERFACE (--netns NAME | --pid PID | --docker CONTAINER), and --all."""
from __future__ import annotations

import argparse
import os
import shutil
from typing import Optional, TextIO, Tuple

from controller.cli import plumb, system
from controller.cli.attach_plan import (
    ATTACH,
    DEFAULT_IFNAME,
    DHCP,
    DOCKER,
    IFNAME,
    INTERFACE,
    NETNS,
    PID,
    PID_START,
    AttachError,
    AttachSpec,
    Target,
    attach_spec,
    external_ids,
    pick_bridge,
    record,
)
from controller.cli.ovscmd import NETDEV
from controller.cli.problems import print_problems
from controller.cli.system import Failed, Netns
from controller.options import topology_path
from controller.topology import Topology, TopologyError, load_topology

EXAMPLE = f'''examples:
  vnetctl attach vm1 --netns ns1 --topology my.yml
  vnetctl attach vm2 --pid 4242                  # the network namespace of process 4242
  vnetctl attach vm3 --docker web --dhcp         # a container; address from the DHCP service
  vnetctl attach --all                           # again, everything attached before (after a reboot)

A veth: its bridge end is the interface's port on the bridge of its datapath
(found by dpid); the other end, {DEFAULT_IFNAME} (--ifname), gets the MAC, the
address with the network's prefix, the MTU and the routes of the topology
(--dhcp: from the DHCP service instead), TX checksum offload off on the
userspace datapath.  Ownership is recorded in the OVS Interface's
external_ids:{ATTACH}, which --all reads.  Running it again changes nothing.
--all skips (and reports) a namespace that no longer exists unless
--create-netns, a process that has gone, and a container not running.
exit status: 0 done (or nothing to do), 1 a problem (nothing changed for it), 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'attach', help='plug a namespace, process or container into its network',
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Give a network namespace, a process or a Docker container the NIC of '
                    'an interface of the topology, plugged into its bridge.')
    parser.add_argument('interface', nargs='?', metavar='INTERFACE', help='an interface of the topology')
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--netns', metavar='NAME', help='a named network namespace (ip netns)')
    where.add_argument('--pid', metavar='PID', type=int, help="a process's network namespace")
    where.add_argument('--docker', metavar='CONTAINER', help="a running container's")
    parser.add_argument('--all', action='store_true', help='re-create every recorded attachment')
    parser.add_argument('--create-netns', action='store_true',
                        help='with --all: create recorded namespaces that do not exist')
    parser.add_argument('--ifname', default=DEFAULT_IFNAME,
                        help=f'name inside the namespace (default {DEFAULT_IFNAME})')
    parser.add_argument('--dhcp', action='store_true', help='configure by DHCP (udhcpc) instead')
    parser.add_argument('--topology', metavar='FILE',
                        help='topology file (default: $VNET_TOPOLOGY, else topologies/default.yml)')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    usage = usage_problem(args)
    if usage:
        print(f'vnetctl attach: usage: {usage}', file=out)
        return 2
    try:
        topology = load_topology(topology_path(args))
        if args.all:
            return attach_all(topology, args.create_netns, out)
        kind, value = next((k, str(v)) for k, v in ((NETNS, args.netns), (PID, args.pid),
                                                     (DOCKER, args.docker)) if v is not None)
        spec = attach_spec(topology, args.interface, check_ifname(args.ifname), args.dhcp)
        attach(spec, Target(kind, value), out)
        return 0
    except TopologyError as exc:
        print_problems(exc, out)
    except (AttachError, Failed) as exc:
        print(f'vnetctl attach: {exc}', file=out)
    return 1


def usage_problem(args) -> Optional[str]:
    target = args.netns is not None or args.pid is not None or args.docker is not None
    if args.all:
        if args.interface or target or args.dhcp:
            return '--all takes no INTERFACE, target or --dhcp (they come from the records)'
        return None
    if not args.interface or not target:
        return 'give INTERFACE and one of --netns, --pid, --docker (or --all)'
    if args.create_netns:
        return '--create-netns goes with --all (a single attach needs its namespace to exist)'
    return None


def check_ifname(name: str) -> str:
    if not 1 <= len(name) <= 15 or not all(c.isalnum() or c in '_.-' for c in name):
        raise AttachError(f'--ifname {name!r}: 1-15 characters of letters, digits, _ . -')
    return name


def attach(spec: AttachSpec, target: Target, out: TextIO, create_netns: bool = False) -> None:
    """Everything checked first; then only what differs is changed."""
    if spec.dhcp and not shutil.which('udhcpc'):
        raise AttachError('--dhcp needs udhcpc (Debian package udhcpc), which is not installed')
    bridge = pick_bridge(spec, system.find('Bridge', ('name', 'datapath_id', 'other_config',
                                                      'datapath_type')))
    ns, pid_start = resolve(target, create_netns)
    done = plumb.converge(spec, ns, bridge['name'], bridge.get('datapath_type') == NETDEV,
                          record(spec, target, pid_start))
    for line in done:
        print(f'{spec.interface}: {line}', file=out)
    what = 'attached' if done else 'already attached, nothing changed:'
    address = 'DHCP' if spec.dhcp else (spec.cidr or 'no address')
    print(f'{spec.interface}: {what} {spec.ifname} ({spec.mac}, {address}) in {ns.label}, '
          f'port {spec.port} of bridge {bridge["name"]}', file=out)


def resolve(target: Target, create_netns: bool = False) -> Tuple[Netns, Optional[int]]:
    """The namespace of a target, and a process's start time; AttachError if it is not there."""
    if target.kind == NETNS:
        path = f'/run/netns/{target.value}'
        if not os.path.exists(path):
            if not create_netns:
                raise AttachError(f'namespace {target.value} does not exist '
                                  f'(create it with: ip netns add {target.value})')
            system.run(['ip', 'netns', 'add', target.value])
        return Netns(path, target.value, f'namespace {target.value}'), None
    if target.kind == DOCKER:
        pid = docker_pid(target.value)
        label = f'container {target.value}'
    else:
        pid, label = int(target.value), f'process {target.value}'
    start = process_netns(pid, label)
    # a container is known by its name (its PID changes when it restarts); a process by PID + start
    return Netns(f'/proc/{pid}/ns/net', str(pid), label), start if target.kind == PID else None


def docker_pid(container: str) -> int:
    cp = system.run(['docker', 'inspect', '-f', '{{.State.Pid}}', container], check=False)
    if cp.returncode != 0:
        said = (cp.stderr.strip() or 'docker inspect failed').splitlines()[0]
        raise AttachError(f'container {container}: {said}')
    pid = cp.stdout.strip()
    if not pid.isdigit() or int(pid) == 0:
        raise AttachError(f'container {container} is not running')
    return int(pid)


def process_netns(pid: int, label: str) -> int:
    """The start time of a live process with a network namespace of its own."""
    start = pid_start_time(pid)
    if start is None:
        raise AttachError(f'{label}: no such process (PID {pid})')
    try:
        own = os.stat(f'/proc/{pid}/ns/net').st_ino == os.stat('/proc/self/ns/net').st_ino
    except OSError as exc:
        raise AttachError(f'{label}: cannot read its network namespace ({exc.strerror})') from None
    if own:
        raise AttachError(f"{label} shares this machine's network namespace; start it in its "
                          'own (unshare -n ...)')
    return start


def pid_start_time(pid: int) -> Optional[int]:
    """Start time of a live process (clock ticks since boot); None if gone or a zombie."""
    try:
        stat = open(f'/proc/{pid}/stat').read()
    except OSError:
        return None
    fields = stat[stat.rindex(')') + 2:].split()
    return None if fields[0] in ('Z', 'X') else int(fields[19])


def attach_all(topology: Topology, create_netns: bool, out: TextIO) -> int:
    """Every recorded attachment again; a problem with one is reported and skipped."""
    found = [(row['name'], external_ids(row))
             for row in system.find('Interface', ('name', 'external_ids'))]
    found = sorted((port, ids) for port, ids in found if ATTACH in ids)
    if not found:
        print('no attachments recorded (external_ids:vnet-attach); nothing to do', file=out)
        return 0
    failed = 0
    for port, ids in found:
        try:
            target = Target.parse(ids[ATTACH])
            spec = attach_spec(topology, ids.get(INTERFACE, '?'), ids.get(IFNAME, DEFAULT_IFNAME),
                               ids.get(DHCP) == 'true')
            if spec.port != port:
                raise AttachError(f'{spec.interface} is on port {spec.port} now, recorded on {port}: '
                                  f'vnetctl detach {spec.interface}, then attach it')
            if target.kind == PID and (pid_start_time(int(target.value)) != _int(ids.get(PID_START))):
                raise AttachError(f'process {target.value} that {spec.interface} was attached to '
                                  'has gone')
            attach(spec, target, out, create_netns)
        except (AttachError, Failed) as exc:
            failed += 1
            print(f'vnetctl attach: port {port}: {exc}; skipped', file=out)
    return 1 if failed else 0


def _int(text: Optional[str]) -> Optional[int]:
    return int(text) if text and text.isdigit() else None
