"""Pure parts of mininet/vnet_mininet.py: what the demo expects and how it probes.

`mininet/` is deliberately not a package (it would shadow the real mininet),
so the module is imported by path.  Nothing here needs root, Open vSwitch or
Mininet itself.
"""
import importlib.util
import ipaddress
import sys
from pathlib import Path

import pytest

from controller.topology import Datapath, Interface, Network, Topology, load_topology

REPO = Path(__file__).resolve().parents[2]


def _load_module():
    name = 'vnet_mininet_under_test'
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / 'mininet' / 'vnet_mininet.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


vm = _load_module()


def net(name, cidr, vni):
    return Network(name=name, ipv4=ipaddress.IPv4Network(cidr), vni=vni)


def vif(name, network, mac, ip=None, datapath='br0', port=None):
    return Interface(name=name, network=network, mac=mac,
                     ipv4=ipaddress.IPv4Address(ip) if ip else None,
                     mode='vif', datapath=datapath, port=port or f'p-{name}')


def sim(name, network, mac, ip, services=('router',)):
    return Interface(name=name, network=network, mac=mac, ipv4=ipaddress.IPv4Address(ip),
                     mode='simulated', services=tuple(services))


def topology(networks, interfaces, datapaths=(('br0', 1),)):
    return Topology(source='test.yml',
                    datapaths={n: Datapath(n, d) for n, d in datapaths},
                    networks={n.name: n for n in networks},
                    interfaces={i.name: i for i in interfaces})


@pytest.fixture
def overlapping():
    """net1 and net3 share 172.16.1.0/24 (and every address); net2 is elsewhere."""
    return topology(
        [net('net1', '172.16.1.0/24', 101), net('net2', '172.16.2.0/24', 102),
         net('net3', '172.16.1.0/24', 103)],
        [vif('vm1', 'net1', '52:54:00:00:00:01', '172.16.1.1'),
         vif('vm2', 'net1', '52:54:00:00:00:02', '172.16.1.2'),
         vif('vm3', 'net3', '52:54:00:00:00:03', '172.16.1.1'),
         vif('vm4', 'net3', '52:54:00:00:00:04', '172.16.1.2'),
         vif('vm5', 'net2', '52:54:00:00:00:05', '172.16.2.1', datapath='br1'),
         vif('vm6', 'net2', '52:54:00:00:00:06', '172.16.2.2', datapath='br1'),
         sim('gw1', 'net1', '52:54:00:00:01:fe', '172.16.1.254'),
         sim('gw3', 'net3', '52:54:00:00:03:fe', '172.16.1.254'),
         sim('dhcp1', 'net1', '52:54:00:00:01:fd', '172.16.1.253', services=('dhcp',))],
        datapaths=(('br0', 1), ('br1', 2)))


# --- expected_reachability ---------------------------------------------------

def test_same_network_reaches_both_ways(overlapping):
    assert vm.expected_reachability(overlapping, 'vm1', 'vm2')
    assert vm.expected_reachability(overlapping, 'vm2', 'vm1')
    assert vm.expected_reachability(overlapping, 'vm5', 'vm6')


def test_overlapping_networks_are_isolated(overlapping):
    # same prefix, even the same address: still different networks
    assert not vm.expected_reachability(overlapping, 'vm1', 'vm3')
    assert not vm.expected_reachability(overlapping, 'vm1', 'vm4')
    assert not vm.expected_reachability(overlapping, 'vm4', 'vm2')


def test_other_prefix_is_unreachable_without_route_links(overlapping):
    assert not vm.expected_reachability(overlapping, 'vm1', 'vm5')
    assert not vm.expected_reachability(overlapping, 'vm6', 'vm3')


def test_self_is_reachable(overlapping):
    assert vm.expected_reachability(overlapping, 'vm3', 'vm3')


def test_network_not_datapath_decides():
    t = topology([net('n', '10.0.0.0/24', 1)],
                 [vif('a', 'n', '52:54:00:00:00:0a', '10.0.0.1', datapath='br0'),
                  vif('b', 'n', '52:54:00:00:00:0b', '10.0.0.2', datapath='br1')],
                 datapaths=(('br0', 1), ('br1', 2)))
    assert vm.expected_reachability(t, 'a', 'b')


def test_accepts_interface_objects(overlapping):
    ifs = overlapping.interfaces
    assert vm.expected_reachability(overlapping, ifs['vm1'], ifs['vm2'])
    assert not vm.expected_reachability(overlapping, ifs['vm1'], 'vm3')


def test_expectation_is_symmetric(overlapping):
    names = [i.name for i in vm.vifs(overlapping)]
    for a in names:
        for b in names:
            assert vm.expected_reachability(overlapping, a, b) == vm.expected_reachability(overlapping, b, a)


@pytest.mark.parametrize('path, reachable_pairs', [
    ('topologies/default.yml', {('vm1', 'vm2'), ('vm3', 'vm4')}),
    ('topologies/seed003.yml', {('ns1', 'ns2'), ('ns3', 'ns4'), ('ns5', 'ns6')}),
])
def test_example_topologies(path, reachable_pairs):
    t = load_topology(str(REPO / path))
    names = [i.name for i in vm.vifs(t)]
    got = {(a, b) for a in names for b in names if a < b and vm.expected_reachability(t, a, b)}
    assert got == reachable_pairs


# --- what gets built ---------------------------------------------------------

def test_only_vifs_become_hosts(overlapping):
    assert [i.name for i in vm.vifs(overlapping)] == ['vm1', 'vm2', 'vm3', 'vm4', 'vm5', 'vm6']


def test_host_names_keep_interface_names_unless_they_clash():
    t = topology([net('n', '10.0.0.0/24', 1)],
                 [vif('br0', 'n', '52:54:00:00:00:0a', '10.0.0.1'),
                  vif('a', 'n', '52:54:00:00:00:0b', '10.0.0.2')])
    names = vm.host_names(t)
    assert names['a'] == 'a'
    assert names['br0'] != 'br0' and names['br0'].startswith('br0')


def test_router_interface_is_the_default_gateway(overlapping):
    assert vm.router_interface(overlapping, 'net1').name == 'gw1'
    assert vm.router_interface(overlapping, 'net2') is None


def test_linux_name_limits_are_reported():
    t = topology([net('n', '10.0.0.0/24', 1)],
                 [vif('a', 'n', '52:54:00:00:00:0a', '10.0.0.1', port='a-very-long-port-name'),
                  vif('b', 'n', '52:54:00:00:00:0b', '10.0.0.2', datapath='bridge-name-too-long',
                      port='pb')],
                 datapaths=(('bridge-name-too-long', 1),))
    problems = vm.buildability_problems(t)
    assert any(p.startswith('interfaces.a.port:') for p in problems)
    assert any(p.startswith('datapaths.bridge-name-too-long:') for p in problems)


def test_buildable_examples_have_no_problems():
    for path in ('topologies/default.yml', 'topologies/seed003.yml'):
        assert vm.buildability_problems(load_topology(str(REPO / path))) == []


# --- probe planning ------------------------------------------------------------

def test_ping_rounds_never_pin_two_macs_for_one_address(overlapping):
    rounds, skipped = vm.plan_probes(overlapping)
    for members in rounds:
        pinned = {}
        for probe in members:
            for host, ip, mac in probe.pins:
                assert pinned.setdefault((host, ip), mac) == mac
    planned = {(p.src, p.dst) for members in rounds for p in members}
    names = [i.name for i in vm.vifs(overlapping)]
    every = {(a, b) for a in names for b in names if a != b}
    assert planned | set(skipped) == every
    assert not planned & set(skipped)


def test_peer_with_own_address_is_not_pinged(overlapping):
    _, skipped = vm.plan_probes(overlapping)
    assert skipped[('vm1', 'vm3')] == 'same address'
    assert skipped[('vm4', 'vm2')] == 'same address'


def test_onlink_pings_are_pinned_to_the_peer_mac(overlapping):
    rounds, _ = vm.plan_probes(overlapping)
    probes = {(p.src, p.dst): p for members in rounds for p in members}
    assert ('vm1', '172.16.1.2', '52:54:00:00:00:04') in probes[('vm1', 'vm4')].pins
    assert ('vm4', '172.16.1.1', '52:54:00:00:00:01') in probes[('vm1', 'vm4')].pins
    assert probes[('vm1', 'vm5')].pins == ()          # off-link: through the default route


def test_arp_probes_cover_onlink_peers_once_per_address(overlapping):
    plan = vm.plan_arp(overlapping)
    assert sorted(plan[('vm1', '172.16.1.2')]) == ['vm2', 'vm4']
    assert plan[('vm1', '172.16.1.1')] == ['vm3']       # its own address, other network
    assert ('vm1', '172.16.2.1') not in plan


def test_gateway_checks_pair_each_simulated_interface_with_its_network(overlapping):
    checks = vm.gateway_checks(overlapping)
    assert ('gw1', 'vm1') in checks and ('gw3', 'vm4') in checks
    assert ('gw1', 'vm3') not in checks
    assert ('dhcp1', 'vm2') in checks                   # every simulated address answers ARP
    assert len(checks) == 6


# --- reading results ----------------------------------------------------------

def test_parse_arping_lists_every_distinct_mac():
    out = ('ARPING 172.16.1.2\n'
           '60 bytes from 52:54:00:0D:84:02 (172.16.1.2): index=0 time=1.1 msec\n'
           '60 bytes from 52:54:00:0d:84:04 (172.16.1.2): index=1 time=1.3 msec\n'
           '60 bytes from 52:54:00:0d:84:02 (172.16.1.2): index=2 time=1.5 msec\n')
    assert vm.parse_arping(out) == ('52:54:00:0d:84:02', '52:54:00:0d:84:04')
    assert vm.parse_arping('Timeout\n') == ()


def test_flow_readiness_needs_in_port_and_macs(overlapping):
    ofports = {'vm1': 1, 'vm2': 2, 'vm3': 3, 'vm4': 4}
    assert vm.flows_cover(overlapping, 'br0', ofports, []) != []
    flows = vm.parse_dump_flows(
        ' cookie=0x766e000000000001, duration=2.1s, table=0, n_packets=3, n_bytes=180, '
        'priority=100,in_port=1 actions=goto_table:20\n')
    assert flows == ['cookie=0x766e000000000001, table=0, priority=100,in_port=1 actions=goto_table:20']
    full = [f'priority=100,in_port={p} actions=goto_table:20' for p in ofports.values()]
    full += [f'priority=100,metadata=0x65,dl_dst={i.mac} actions=output:1'
             for i in overlapping.interfaces.values()]
    assert vm.flows_cover(overlapping, 'br0', ofports, full) == []
    assert vm.flows_cover(overlapping, 'br0', ofports, full[1:]) == ['vm1: no flow for in_port=1']


def test_pair_result_needs_every_probe_to_match():
    ok = vm.PairResult('a', 'b', expected=False, icmp=False, arp=False)
    leak = vm.PairResult('a', 'b', expected=False, icmp=False, arp=True)
    arp_only = vm.PairResult('a', 'b', expected=False, arp=False)
    untested = vm.PairResult('a', 'b', expected=True)
    assert ok.ok and ok.observed is False
    assert not leak.ok and leak.observed is None
    assert arp_only.ok
    assert not untested.probed and not untested.ok


def test_verdict_counts_pairs_and_gateways():
    report = vm.Report()
    report.pairs[('a', 'b')] = vm.PairResult('a', 'b', True, icmp=True, arp=True)
    report.pairs[('b', 'a')] = vm.PairResult('b', 'a', True, icmp=False, arp=True)
    report.pairs[('a', 'c')] = vm.PairResult('a', 'c', False)            # untested: not counted
    report.gateways.append(vm.GatewayResult('gw', 'a', '52:54:00:00:00:fe', ('52:54:00:00:00:fe',)))
    report.gateways.append(vm.GatewayResult('gw', 'b', '52:54:00:00:00:fe',
                                            ('52:54:00:00:00:fe', '52:54:00:00:01:fe')))
    assert not report.ok
    assert report.verdict('demo').startswith(
        'demo: 1/2 pairs as expected, 1/2 gateway ARP checks answered with the gateway\'s MAC')
