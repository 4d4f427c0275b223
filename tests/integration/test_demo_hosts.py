"""The multi-host demo as a test: ``python -m lab.demo.hosts`` on weave's
three-host layout (topologies/weave3.yml).

It builds one emulated host (a namespace with its own Open vSwitch) per
datapath at the topology's tunnel_ip, host3 behind the underlay router, one
VM per vif, starts the controller in the root namespace, and runs the Mininet
demo's checks across the VXLAN tunnels: every ordered pair, every gateway's
ARP answer, every router interface's answer to ping, one routed traceroute
(crossing datapaths).  Needs root; never skipped.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from controller.topology import load_topology
from lab.demo.plan import expected_reachability, gateway_checks, nodes, router_ping_checks, traceroute_plan
from lab.demo.report import parse_verdict
from lab.netns import list_netns

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WEAVE3 = REPO / 'topologies' / 'weave3.yml'


def run_demo(topology: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m lab.demo.hosts TOPOLOGY`` from the repository root."""
    argv = [sys.executable, '-m', 'lab.demo.hosts', str(topology)]
    return subprocess.run(argv, cwd=str(REPO), capture_output=True, text=True, timeout=timeout)


def test_weave3_is_as_expected_across_emulated_hosts():
    topology = load_topology(str(WEAVE3))
    n = len(nodes(topology))
    # what the file promises: red and blue overlap and span hosts, green is routed to red
    assert {dp.name: str(dp.tunnel_ip) for dp in topology.datapaths.values()} == \
        {'host1': '198.18.1.1', 'host2': '198.18.1.2', 'host3': '198.18.2.3'}
    assert sum(a.network != b.network and expected_reachability(topology, a, b)
               for a in nodes(topology) for b in nodes(topology)) == 12     # red x green, both ways
    src, dst, _gw = traceroute_plan(topology)
    assert topology.interfaces[src].datapath != topology.interfaces[dst].datapath

    cp = run_demo(WEAVE3)
    output = cp.stdout + cp.stderr
    assert cp.returncode == 0, output
    verdict = parse_verdict(cp.stdout)
    assert verdict is not None and verdict.prefix == 'demo' and verdict.passed, output
    assert verdict.pairs == (n * (n - 1), 42), output
    assert verdict.gateways == (len(gateway_checks(topology)), 10), output
    assert verdict.router_pings == (len(router_ping_checks(topology)), 10), output
    assert verdict.traceroutes == (1, 1), output
    assert 'PING MATRIX' in cp.stdout and 'host3: dpid 0x103, tunnel_ip 198.18.2.3' in cp.stdout, output
    # everything it built is gone: its namespaces are <lab prefix>-h-<host> and <prefix>-v-<vm>
    prefix = re.search(r'netns (\w+)-h-host1\b', cp.stdout).group(1)
    assert not [ns for ns in list_netns() if ns.startswith(f'{prefix}-')]
    assert not Path(f'/run/netlab/{prefix}.json').exists()


def test_topology_without_tunnel_ips_is_refused_with_exit_2():
    cp = run_demo(REPO / 'topologies' / 'default.yml', timeout=60)
    output = cp.stdout + cp.stderr
    assert cp.returncode == 2, output
    assert 'datapaths.br0.tunnel_ip: missing' in cp.stderr, output
    assert 'one emulated host per datapath' in cp.stderr, output
    assert 'pairs as expected' not in output and '***' not in output     # nothing was built
