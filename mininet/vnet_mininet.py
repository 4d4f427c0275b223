#!/usr/bin/env python3
"""Build a Mininet network from a ryu-vnet topology file.

    .venv/bin/python mininet/vnet_mininet.py [--cli] TOPOLOGY       # Mininet CLI
    .venv/bin/python mininet/vnet_mininet.py --demo TOPOLOGY        # `make demo`
    .venv/bin/python mininet/vnet_mininet.py --check TOPOLOGY       # same, terse

What gets built and what is checked: see ``lab/demo/__init__.py``.
``--demo`` / ``--check`` also start the controller (``ryu-manager``) on the
chosen port, wait for its flows and run the checks; the exit status is 0
iff everything is as expected.  Everything this script creates (bridges,
namespaces, veths, the controller process, temporary files) is removed when
it ends, also on Ctrl-C, SIGTERM and errors.

This directory is deliberately not a package (no ``__init__.py``) so that it
never shadows the real ``mininet`` package.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # A directory without __init__.py never wins over the real mininet
    # package, so putting the repository first is safe.
    sys.path.insert(0, str(REPO_ROOT))

from controller.topology import Topology  # noqa: E402
from lab.controller import Controller  # noqa: E402
from lab.demo.build import (  # noqa: E402
    DEFAULT_CONTROLLER_PORT,
    PROG,
    BuildError,
    Cleanup,
    Lock,
    Say,
    add_service_ports,
    build_network,
    configure_hosts,
    preflight,
    wait_names_free,
)
from lab.demo.common import load, run_cleanly, sayer  # noqa: E402
from lab.demo.plan import build_notes, buildability_problems, host_names, nodes  # noqa: E402
from lab.demo.probe import run_probes, wait_flows_ready  # noqa: E402
from lab.demo.report import mismatch_lines, render_report  # noqa: E402
from lab.proc import tcp_listening  # noqa: E402
from mininet.cli import CLI  # noqa: E402
from mininet.log import setLogLevel  # noqa: E402

CONTROLLER_START_TIMEOUT = 20.0   # seconds until it must listen
LOG_TAIL = 40                     # controller log lines shown when something fails


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog='vnet_mininet.py',
        description='Build a Mininet network (Open vSwitch userspace bridges, one namespace per vif '
                    'or host interface) from a ryu-vnet topology file.')
    ap.add_argument('topology', metavar='TOPOLOGY', help='topology file (YAML)')
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument('--demo', action='store_true',
                      help='start the controller, build the network, print the ping matrix, the '
                           'gateway ARP, router ping and traceroute checks; exit 0 iff all is as expected')
    mode.add_argument('--check', action='store_true',
                      help='like --demo with minimal output (for tests)')
    ap.add_argument('--cli', action='store_true',
                    help='drop into the Mininet CLI (the default without --demo/--check; '
                         'after the checks with them)')
    ap.add_argument('--controller-port', type=int, default=DEFAULT_CONTROLLER_PORT, metavar='PORT',
                    help='controller TCP port on 127.0.0.1 (default %(default)s)')
    ap.add_argument('--with-controller', action='store_true',
                    help='in CLI mode, also start the controller (--demo/--check always do)')
    ap.add_argument('--flow-timeout', type=float, default=15.0, metavar='SECONDS',
                    help='how long to wait for the controller\'s flows (default %(default)s)')
    ap.add_argument('--busy-timeout', type=float, default=60.0, metavar='SECONDS',
                    help='how long to wait for another run using the same bridge/port names '
                         '(default %(default)s)')
    ap.add_argument('-v', '--verbose', action='store_true', help='show Mininet\'s own progress')
    return ap.parse_args(argv)


def unbuildable(path: str, topology: Topology) -> bool:
    """Say why the topology cannot become a Mininet network, if it cannot."""
    problems = buildability_problems(topology)
    if problems:
        print(f'{PROG}: {path} cannot be built with Mininet:', file=sys.stderr)
        for p in problems:
            print(f'{path}: {p}', file=sys.stderr)
        return True
    if not nodes(topology):
        print(f'{PROG}: {path} has no vif or host interfaces: nothing to build', file=sys.stderr)
        return True
    return False


def claim_names(topology: Topology, timeout: float, cleanup: Cleanup, say: Say) -> None:
    """Wait until no other run holds the lock and the topology's bridge and
    port names are free; hold the lock until the end."""
    lock = Lock()
    lock.acquire(timeout, say)
    cleanup.add('release lock', lock.release)
    wait_names_free(topology, timeout, say)
    for note in build_notes(topology):
        say(f'{PROG}: note: {note}')


def start_network(topology: Topology, controller_port: int, cleanup: Cleanup, say: Say):
    """The Mininet network, started, its hosts configured: (net, hosts)."""
    net, hosts = build_network(topology, controller_port)
    cleanup.add('stop the Mininet network', net.stop)
    say(f'*** Starting {len(topology.datapaths)} switch(es), {len(hosts)} host(s)')
    net.start()
    add_service_ports(topology)
    configure_hosts(topology, hosts)
    return net, hosts


def start_controller(args: argparse.Namespace, cleanup: Cleanup, say: Say) -> Controller:
    """The controller on 127.0.0.1:--controller-port, logging to a temporary file."""
    port = args.controller_port
    if tcp_listening(port):
        raise BuildError(f'something already listens on TCP port {port}; '
                         f'choose another with --controller-port')
    tmpdir = Path(tempfile.mkdtemp(prefix='vnet-mininet-'))
    cleanup.add('remove temporary files', shutil.rmtree, str(tmpdir), True)
    controller = Controller(os.path.abspath(args.topology), port=port,
                            log_path=tmpdir / 'controller.log')
    cleanup.add('stop the controller', controller.stop)
    say(f'*** Starting the controller on 127.0.0.1:{port} (log: {controller.log_path})')
    try:
        controller.start(timeout=CONTROLLER_START_TIMEOUT)
    except AssertionError:     # it exited, or did not listen in time
        how = (f'did not listen on 127.0.0.1:{port} within {CONTROLLER_START_TIMEOUT:.0f}s'
               if controller.running() else
               f'exited with status {controller.proc.returncode if controller.proc else "?"} '
               f'before listening on 127.0.0.1:{port}')
        raise BuildError(f'the controller {how}') from None
    return controller


def check(args: argparse.Namespace, topology: Topology, hosts, controller: Optional[Controller],
          say: Say) -> int:
    """Wait for the flows, probe, print the results; the exit status."""
    say(f'*** Waiting for the controller\'s flows (at most {args.flow_timeout:.0f}s)')
    wait_flows_ready(topology, args.flow_timeout, say)
    say('*** Probing every pair of hosts, every gateway and every router interface')
    started = time.monotonic()
    report = run_probes(topology, hosts)
    if not args.check:
        print(f'\n{render_report(topology, report, host_names(topology), time.monotonic() - started)}\n')
    for line in mismatch_lines(topology, report):
        print(line)
    print(report.verdict('demo' if args.demo else 'check'), flush=True)
    if not report.ok and controller is not None:
        print(f'--- controller log (last lines of {controller.log_path}) ---')
        print(controller.log_tail(LOG_TAIL))
        print('--- end of controller log ---', flush=True)
    return 0 if report.ok else 1


def cli(net, args: argparse.Namespace, topology: Topology, controller: Optional[Controller]) -> None:
    target = f'127.0.0.1:{args.controller_port}'
    print(f'*** Bridges {", ".join(sorted(topology.datapaths))} expect the controller at {target}'
          + ('' if controller else ' (start it yourself: .venv/bin/ryu-manager '
             f'--ofp-tcp-listen-port {args.controller_port} --topology {args.topology} '
             'controller.app)'))
    CLI(net)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    checking = args.demo or args.check
    say = sayer(quiet=args.check)
    topology = load(args.topology, PROG, 1)
    if unbuildable(args.topology, topology):
        return 1
    setLogLevel('info' if args.verbose or not checking else 'warning')
    cleanup = Cleanup()
    started: List[Controller] = []

    def body() -> int:
        preflight()
        claim_names(topology, args.busy_timeout, cleanup, say)
        controller = None
        if checking or args.with_controller:
            controller = start_controller(args, cleanup, say)
            started.append(controller)
        net, hosts = start_network(topology, args.controller_port, cleanup, say)
        status = check(args, topology, hosts, controller, say) if checking else 0
        if args.cli or not checking:
            cli(net, args, topology, controller)
        return status

    def failed() -> None:
        for controller in started:
            if controller.log_path.exists():
                print(f'--- controller log (last lines) ---\n{controller.log_tail(LOG_TAIL)}\n--- end ---',
                      file=sys.stderr)

    return run_cleanly(PROG, cleanup, body, failed)


if __name__ == '__main__':
    sys.exit(main())
