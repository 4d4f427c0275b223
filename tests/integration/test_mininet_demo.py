"""`make demo` as a test: mininet/vnet_mininet.py --check on the example topologies.

Each run starts the controller (ryu-manager) on a free port of its own,
builds the Mininet network on Open vSwitch (userspace datapath), pings every
pair of hosts (routed pairs through their gateways), ARPs every gateway,
pings every router interface from each network of its route link, runs one
routed pair's traceroute and removes everything again.  Needs root and a
running Open vSwitch (`make setup`); never skipped.
"""
import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from controller.topology import load_topology
from lab import free_tcp_port
from lab.demo.build import DEFAULT_CONTROLLER_PORT, LOCK_PATH
from lab.demo.plan import expected_reachability, gateway_checks, nodes, router_ping_checks

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'mininet' / 'vnet_mininet.py'
VERDICT_RE = re.compile(r'^check: (\d+)/(\d+) pairs as expected, (\d+)/(\d+) gateway ARP checks'
                        r'.*?, (\d+)/(\d+) router ping checks answered, (\d+)/(\d+) traceroute checks'
                        r'.* -- (PASS|FAIL)$', re.M)


def run_script(*args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=str(REPO),
                          capture_output=True, text=True, timeout=timeout)


def _leftovers(topology):
    """Bridges/ports of this topology still present, checked under the script's lock
    (so a concurrent run of the script cannot be mistaken for our debris)."""
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        found = [dp for dp in topology.datapaths
                 if subprocess.run(['ovs-vsctl', 'br-exists', dp]).returncode == 0]
        found += [i.port for i in nodes(topology) if os.path.exists(f'/sys/class/net/{i.port}')]
        return found
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# (topology, routed pairs, router ping checks, traceroutes) -- the counts the demo must reach
EXAMPLES = {
    'default.yml': (0, 0, 0),     # two overlapping networks, no route link
    'seed003.yml': (8, 8, 1),     # net1 <-> net2 through rl1 (2 x 2 hosts, both ways); net3 unlinked
    'seed000.yml': (4, 6, 1),     # containers <-> the host through rl-pubint
}


@pytest.mark.parametrize('name', sorted(EXAMPLES))
def test_check_passes_on_example_topology(name):
    path = REPO / 'topologies' / name
    topology = load_topology(str(path))
    hosts = nodes(topology)
    n = len(hosts)
    gateways = len(gateway_checks(topology))
    routed, router_pings, traceroutes = EXAMPLES[name]
    assert sum(a.network != b.network and expected_reachability(topology, a, b)
               for a in hosts for b in hosts) == routed
    assert len(router_ping_checks(topology)) == router_pings

    port = free_tcp_port()
    assert port != DEFAULT_CONTROLLER_PORT
    cp = run_script('--check', '--controller-port', port, path)
    output = cp.stdout + cp.stderr
    assert cp.returncode == 0, output
    m = VERDICT_RE.search(cp.stdout)
    assert m, output
    good, total, ggood, gtotal, rgood, rtotal, tgood, ttotal = map(int, m.groups()[:8])
    assert m.group(9) == 'PASS', output
    assert good == total == n * (n - 1), output
    assert ggood == gtotal == gateways > 0, output
    assert rgood == rtotal == router_pings, output
    assert tgood == ttotal == traceroutes, output
    assert _leftovers(topology) == []


def test_invalid_topology_exits_1_naming_file_and_key(tmp_path):
    text = (REPO / 'topologies' / 'default.yml').read_text()
    assert 'ipv4: 172.16.1.2\n' in text
    broken = tmp_path / 'broken.yml'
    # vm2 (the first interface with .2) moves out of its network's prefix
    broken.write_text(text.replace('ipv4: 172.16.1.2\n', 'ipv4: 10.9.9.9\n', 1))
    cp = run_script('--check', '--controller-port', free_tcp_port(), broken, timeout=60)
    output = cp.stdout + cp.stderr
    assert cp.returncode == 1, output
    assert str(broken) in output
    assert 'interfaces.vm2.ipv4' in output
    assert 'pairs as expected' not in output      # nothing was built or probed
