"""Pure parts of the Mininet demo (lab.demo): what it expects and how it probes.

Nothing here needs root, Open vSwitch or a running Mininet.
"""
import ipaddress
from pathlib import Path

import pytest

from controller.topology import Datapath, Interface, Network, Route, RouteLink, Topology, load_topology
from lab.demo.plan import (
    buildability_problems,
    expected_reachability,
    gateway_checks,
    gateway_towards,
    host_names,
    nodes,
    plan_arp,
    plan_probes,
    routed_owner,
    router_interface,
    router_ping_checks,
    static_routes,
    traceroute_plan,
    vifs,
)
from lab.demo.probe import flow_text, flows_cover
from lab.demo.report import (
    GatewayResult,
    PairResult,
    Report,
    RouterPingResult,
    TracerouteResult,
    parse_icmp_in_echos,
    parse_traceroute,
)
from lab.ovs import parse_flow_line
from lab.traffic import arping_replies

REPO = Path(__file__).resolve().parents[2]




def net(name, cidr, vni, mode='virtual'):
    return Network(name=name, ipv4=ipaddress.IPv4Network(cidr), vni=vni, mode=mode)


def vif(name, network, mac, ip=None, datapath='br0', port=None):
    return Interface(name=name, network=network, mac=mac,
                     ipv4=ipaddress.IPv4Address(ip) if ip else None,
                     mode='vif', datapath=datapath, port=port or f'p-{name}')


def sim(name, network, mac, ip, services=('router',)):
    return Interface(name=name, network=network, mac=mac, ipv4=ipaddress.IPv4Address(ip),
                     mode='simulated', services=tuple(services))


def host(name, network, mac, ip, datapath='br0', port=None):
    return Interface(name=name, network=network, mac=mac, ipv4=ipaddress.IPv4Address(ip),
                     mode='host', datapath=datapath, port=port or f'p-{name}')


def link(name, *routes):
    """routes: (interface, prefix[, gateway]) -- prefix as validation would default it."""
    return RouteLink(name, tuple(Route(r[0], ipaddress.IPv4Network(r[1]),
                                       ipaddress.IPv4Address(r[2]) if len(r) > 2 else None)
                                 for r in routes))


def topology(networks, interfaces, datapaths=(('br0', 1),), route_links=()):
    return Topology(source='test.yml',
                    datapaths={n: Datapath(n, d) for n, d in datapaths},
                    networks={n.name: n for n in networks},
                    interfaces={i.name: i for i in interfaces},
                    route_links={rl.name: rl for rl in route_links})


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


@pytest.fixture
def routed():
    """Route links.  rl1 joins net1 and net2 (seed 003); net3 reuses net1's
    prefix on no link; net4 has a router on no link; net5 has no router.
    rl2 joins the physical LAN `public` (host interface `lan`, a default
    route beyond the LAN's gateway), net6 and net2 -- but through gw2b,
    which is not net2's first router (gw2 is what its hosts use)."""
    return topology(
        [net('net1', '172.16.1.0/24', 101), net('net2', '172.16.2.0/24', 102),
         net('net3', '172.16.1.0/24', 103), net('net4', '10.4.0.0/24', 104),
         net('net5', '10.5.0.0/24', 105), net('public', '10.0.10.0/24', 106, mode='physical'),
         net('net6', '192.168.99.0/24', 107)],
        [vif('vm1', 'net1', '52:54:00:00:00:01', '172.16.1.1'),
         vif('vm2', 'net1', '52:54:00:00:00:02', '172.16.1.2'),
         vif('vm3', 'net3', '52:54:00:00:00:03', '172.16.1.1'),
         vif('vm4', 'net3', '52:54:00:00:00:04', '172.16.1.2'),
         vif('vm5', 'net2', '52:54:00:00:00:05', '172.16.2.1'),
         vif('vm7', 'net4', '52:54:00:00:00:07', '10.4.0.1'),
         vif('vm8', 'net5', '52:54:00:00:00:08', '10.5.0.1'),
         vif('vm9', 'net6', '52:54:00:00:00:09', '192.168.99.11'),
         host('lan', 'public', '08:00:27:cd:ed:36', '10.0.10.11', port='uplink'),
         sim('gw1', 'net1', '52:54:00:00:01:fe', '172.16.1.254'),
         sim('gw2', 'net2', '52:54:00:00:02:fe', '172.16.2.254'),
         sim('gw2b', 'net2', '52:54:00:00:02:fd', '172.16.2.253'),
         sim('gw3', 'net3', '52:54:00:00:03:fe', '172.16.1.254'),
         sim('gw4', 'net4', '52:54:00:00:04:fe', '10.4.0.254'),
         sim('pub-gw', 'public', '52:54:00:00:0a:01', '10.0.10.1'),
         sim('gw6', 'net6', '52:54:00:00:06:fe', '192.168.99.254')],
        route_links=[link('rl1', ('gw1', '172.16.1.0/24'), ('gw2', '172.16.2.0/24')),
                     link('rl2', ('pub-gw', '0.0.0.0/0', '10.0.10.254'),
                          ('gw6', '192.168.99.0/24'), ('gw2b', '172.16.2.0/24'))])


# --- expected_reachability ---------------------------------------------------

def test_same_network_reaches_both_ways(overlapping):
    assert expected_reachability(overlapping, 'vm1', 'vm2')
    assert expected_reachability(overlapping, 'vm2', 'vm1')
    assert expected_reachability(overlapping, 'vm5', 'vm6')


def test_overlapping_networks_are_isolated(overlapping):
    # same prefix, even the same address: still different networks
    assert not expected_reachability(overlapping, 'vm1', 'vm3')
    assert not expected_reachability(overlapping, 'vm1', 'vm4')
    assert not expected_reachability(overlapping, 'vm4', 'vm2')


def test_other_prefix_is_unreachable_without_route_links(overlapping):
    assert not expected_reachability(overlapping, 'vm1', 'vm5')
    assert not expected_reachability(overlapping, 'vm6', 'vm3')


def test_self_is_reachable(overlapping):
    assert expected_reachability(overlapping, 'vm3', 'vm3')


def test_network_not_datapath_decides():
    t = topology([net('n', '10.0.0.0/24', 1)],
                 [vif('a', 'n', '52:54:00:00:00:0a', '10.0.0.1', datapath='br0'),
                  vif('b', 'n', '52:54:00:00:00:0b', '10.0.0.2', datapath='br1')],
                 datapaths=(('br0', 1), ('br1', 2)))
    assert expected_reachability(t, 'a', 'b')


def test_accepts_interface_objects(overlapping):
    ifs = overlapping.interfaces
    assert expected_reachability(overlapping, ifs['vm1'], ifs['vm2'])
    assert not expected_reachability(overlapping, ifs['vm1'], 'vm3')


def test_expectation_is_symmetric(overlapping):
    names = [i.name for i in vifs(overlapping)]
    for a in names:
        for b in names:
            assert expected_reachability(overlapping, a, b) == expected_reachability(overlapping, b, a)


@pytest.mark.parametrize('path, reachable_pairs', [
    ('topologies/default.yml', {('vm1', 'vm2'), ('vm3', 'vm4')}),
    ('topologies/seed003.yml', {('ns1', 'ns2'), ('ns3', 'ns4'), ('ns5', 'ns6'),     # same network
                                ('ns1', 'ns5'), ('ns1', 'ns6'), ('ns2', 'ns5'), ('ns2', 'ns6')}),
    ('topologies/seed000.yml', {('c1', 'c2'), ('c1', 'host'), ('c2', 'host')}),
])
def test_example_topologies(path, reachable_pairs):
    t = load_topology(str(REPO / path))
    names = [i.name for i in nodes(t)]
    got = {(a, b) for a in names for b in names if a < b and expected_reachability(t, a, b)}
    assert got == reachable_pairs


# --- what gets built ---------------------------------------------------------

def test_vifs_and_host_interfaces_become_hosts(overlapping, routed):
    assert [i.name for i in nodes(overlapping)] == ['vm1', 'vm2', 'vm3', 'vm4', 'vm5', 'vm6']
    assert 'lan' in [i.name for i in nodes(routed)]            # host mode
    assert 'gw1' not in [i.name for i in nodes(routed)]        # simulated: no node
    assert 'lan' not in [i.name for i in vifs(routed)]


def test_host_names_keep_interface_names_unless_they_clash():
    t = topology([net('n', '10.0.0.0/24', 1)],
                 [vif('br0', 'n', '52:54:00:00:00:0a', '10.0.0.1'),
                  vif('a', 'n', '52:54:00:00:00:0b', '10.0.0.2')])
    names = host_names(t)
    assert names['a'] == 'a'
    assert names['br0'] != 'br0' and names['br0'].startswith('br0')


def test_router_interface_is_the_default_gateway(overlapping):
    assert router_interface(overlapping, 'net1').name == 'gw1'
    assert router_interface(overlapping, 'net2') is None


def test_linux_name_limits_are_reported():
    t = topology([net('n', '10.0.0.0/24', 1)],
                 [vif('a', 'n', '52:54:00:00:00:0a', '10.0.0.1', port='a-very-long-port-name'),
                  vif('b', 'n', '52:54:00:00:00:0b', '10.0.0.2', datapath='bridge-name-too-long',
                      port='pb')],
                 datapaths=(('bridge-name-too-long', 1),))
    problems = buildability_problems(t)
    assert any(p.startswith('interfaces.a.port:') for p in problems)
    assert any(p.startswith('datapaths.bridge-name-too-long:') for p in problems)


def test_buildable_examples_have_no_problems():
    for path in ('topologies/default.yml', 'topologies/seed003.yml', 'topologies/seed000.yml'):
        t = load_topology(str(REPO / path))
        assert buildability_problems(t) == []
        assert len(t.datapaths) == 1          # no tunnels between bridges in the demo


# --- probe planning ------------------------------------------------------------

def test_ping_rounds_never_pin_two_macs_for_one_address(overlapping):
    rounds, skipped = plan_probes(overlapping)
    for members in rounds:
        pinned = {}
        for probe in members:
            for host, ip, mac in probe.pins:
                assert pinned.setdefault((host, ip), mac) == mac
    planned = {(p.src, p.dst) for members in rounds for p in members}
    names = [i.name for i in vifs(overlapping)]
    every = {(a, b) for a in names for b in names if a != b}
    assert planned | set(skipped) == every
    assert not planned & set(skipped)


def test_peer_with_own_address_is_not_pinged(overlapping):
    _, skipped = plan_probes(overlapping)
    assert skipped[('vm1', 'vm3')] == 'same address'
    assert skipped[('vm4', 'vm2')] == 'same address'


def test_onlink_pings_are_pinned_to_the_peer_mac(overlapping):
    rounds, _ = plan_probes(overlapping)
    probes = {(p.src, p.dst): p for members in rounds for p in members}
    assert ('vm1', '172.16.1.2', '52:54:00:00:00:04') in probes[('vm1', 'vm4')].pins
    assert ('vm4', '172.16.1.1', '52:54:00:00:00:01') in probes[('vm1', 'vm4')].pins
    assert probes[('vm1', 'vm5')].pins == ()          # off-link: through the default route


def test_arp_probes_cover_onlink_peers_once_per_address(overlapping):
    plan = plan_arp(overlapping)
    assert sorted(plan[('vm1', '172.16.1.2')]) == ['vm2', 'vm4']
    assert plan[('vm1', '172.16.1.1')] == ['vm3']       # its own address, other network
    assert ('vm1', '172.16.2.1') not in plan


def test_gateway_checks_pair_each_simulated_interface_with_its_network(overlapping):
    checks = gateway_checks(overlapping)
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
    assert arping_replies(out) == ('52:54:00:0d:84:02', '52:54:00:0d:84:04')
    assert arping_replies('Timeout\n') == ()


def test_flow_readiness_needs_in_port_and_macs(overlapping):
    ofports = {'vm1': 1, 'vm2': 2, 'vm3': 3, 'vm4': 4}
    assert flows_cover(overlapping, 'br0', ofports, []) != []
    flow = parse_flow_line(
        ' cookie=0x766e000000000001, duration=2.1s, table=0, n_packets=3, n_bytes=180, '
        'priority=100,in_port=1 actions=goto_table:20\n')
    assert flow_text(flow) == 'table=0, priority=100,in_port=1 actions=goto_table:20'   # no counters
    full = [f'priority=100,in_port={p} actions=goto_table:20' for p in ofports.values()]
    full += [f'priority=100,metadata=0x65,dl_dst={i.mac} actions=output:1'
             for i in overlapping.interfaces.values()]
    assert flows_cover(overlapping, 'br0', ofports, full) == []
    assert flows_cover(overlapping, 'br0', ofports, full[1:]) == ['vm1: no flow for in_port=1']


def test_pair_result_needs_every_probe_to_match():
    ok = PairResult('a', 'b', expected=False, icmp=False, arp=False)
    leak = PairResult('a', 'b', expected=False, icmp=False, arp=True)
    arp_only = PairResult('a', 'b', expected=False, arp=False)
    untested = PairResult('a', 'b', expected=True)
    assert ok.ok and ok.observed is False
    assert not leak.ok and leak.observed is None
    assert arp_only.ok
    assert not untested.probed and not untested.ok


def test_verdict_counts_pairs_and_gateways():
    report = Report()
    report.pairs[('a', 'b')] = PairResult('a', 'b', True, icmp=True, arp=True)
    report.pairs[('b', 'a')] = PairResult('b', 'a', True, icmp=False, arp=True)
    report.pairs[('a', 'c')] = PairResult('a', 'c', False)            # untested: not counted
    report.gateways.append(GatewayResult('gw', 'a', '52:54:00:00:00:fe', ('52:54:00:00:00:fe',)))
    report.gateways.append(GatewayResult('gw', 'b', '52:54:00:00:00:fe',
                                            ('52:54:00:00:00:fe', '52:54:00:00:01:fe')))
    assert not report.ok
    assert report.verdict('demo').startswith(
        'demo: 1/2 pairs as expected, 1/2 gateway ARP checks answered with the gateway\'s MAC')


# --- route links ------------------------------------------------------------

def test_networks_joined_by_a_route_link_reach_each_other(routed):
    for a, b in (('vm1', 'vm5'), ('vm2', 'vm5'), ('vm9', 'lan')):
        assert expected_reachability(routed, a, b)
        assert expected_reachability(routed, b, a)


def test_overlapping_network_on_no_link_stays_unreachable(routed):
    # vm5's packets to 172.16.1.1 are routed into net1 (to vm1), never to net3
    assert routed_owner(routed, 'vm5', '172.16.1.1').name == 'vm1'
    for a, b in (('vm3', 'vm5'), ('vm4', 'vm5'), ('vm3', 'vm1'), ('vm3', 'vm9')):
        assert not expected_reachability(routed, a, b)
        assert not expected_reachability(routed, b, a)


def test_network_on_no_link_or_without_router_is_unreachable(routed):
    for lonely in ('vm7', 'vm8'):
        for other in ('vm1', 'vm5', 'vm9', 'lan'):
            assert not expected_reachability(routed, lonely, other)
            assert not expected_reachability(routed, other, lonely)
    assert static_routes(routed, 'vm8') == []                 # net5 has no router
    assert routed_owner(routed, 'vm7', '172.16.1.1') is None  # gw4 is on no link


def test_only_the_first_router_by_name_is_the_hosts_gateway(routed):
    # rl2 routes net6/public -> net2 through gw2b, but net2's hosts answer via gw2 (rl1)
    assert routed_owner(routed, 'vm9', '172.16.2.1').name == 'vm5'
    assert gateway_towards(routed, 'vm5', '192.168.99.11').name == 'gw2'
    assert routed_owner(routed, 'vm5', '192.168.99.11') is None
    assert not expected_reachability(routed, 'vm9', 'vm5')
    assert not expected_reachability(routed, 'lan', 'vm5')


def test_destinations_beyond_a_route_gateway_have_no_owner(routed):
    assert routed_owner(routed, 'vm9', '198.51.100.7') is None
    assert routed_owner(routed, 'vm9', '10.0.10.11').name == 'lan'   # connected route wins


def test_expectation_with_route_links_is_symmetric(routed):
    names = [i.name for i in nodes(routed)]
    for a in names:
        for b in names:
            assert expected_reachability(routed, a, b) == expected_reachability(routed, b, a)


def test_onlink_addresses_are_not_routed():
    """A network whose prefix covers the other's: its hosts ARP instead of routing."""
    t = topology([net('big', '10.0.0.0/16', 1), net('small', '10.0.5.0/24', 2)],
                 [vif('a', 'big', '52:54:00:00:00:0a', '10.0.0.1'),
                  vif('b', 'small', '52:54:00:00:00:0b', '10.0.5.1'),
                  sim('gw-big', 'big', '52:54:00:00:01:fe', '10.0.255.254'),
                  sim('gw-small', 'small', '52:54:00:00:02:fe', '10.0.5.254')],
                 route_links=[link('rl', ('gw-big', '10.0.0.0/16'), ('gw-small', '10.0.5.0/24'))])
    assert gateway_towards(t, 'a', '10.0.5.1') is None
    assert not expected_reachability(t, 'a', 'b')


def test_routes_given_to_hosts(routed):
    default = ipaddress.IPv4Network('0.0.0.0/0')
    assert [(str(p), gw.name) for p, gw in static_routes(routed, 'vm5')] == [(str(default), 'gw2')]
    # the host interface: the other routes of its router's link, not its own default
    assert [(str(p), gw.name) for p, gw in static_routes(routed, 'lan')] == [
        ('172.16.2.0/24', 'pub-gw'), ('192.168.99.0/24', 'pub-gw')]


def test_seed000_host_gets_the_articles_static_route():
    t = load_topology(str(REPO / 'topologies/seed000.yml'))
    (host_iface,) = [i for i in nodes(t) if i.mode == 'host']
    routes = static_routes(t, host_iface)
    assert [(str(p), str(gw.ipv4)) for p, gw in routes] == [('192.168.99.0/24', '10.0.10.1')]
    assert gateway_towards(t, 'c1', host_iface.ipv4).name == 'internal-gw'


def test_routed_probes_use_the_gateway_and_count_when_the_address_is_elsewhere(routed):
    rounds, skipped = plan_probes(routed)
    probes = {(p.src, p.dst): p for members in rounds for p in members}
    names = [i.name for i in nodes(routed)]
    assert set(probes) | set(skipped) == {(a, b) for a in names for b in names if a != b}
    p = probes[('vm1', 'vm5')]
    assert p.pins == () and not p.counted
    assert set(p.needs) == {('vm1', '172.16.1.254', '52:54:00:00:01:fe'),
                            ('vm5', '172.16.2.254', '52:54:00:00:02:fe')}
    # vm5 -> 172.16.1.1 reaches vm1, not vm3: vm3's echo counter decides, alone
    assert probes[('vm5', 'vm3')].counted and not probes[('vm3', 'vm5')].counted
    assert probes[('vm5', 'vm1')].counted is False
    counted_rounds = [m for m in rounds if any(p.counted for p in m)]
    assert all(len(m) == 1 for m in counted_rounds)
    assert rounds[-len(counted_rounds):] == counted_rounds


def test_no_round_pins_a_gateway_address_elsewhere():
    """A vif of another network holding a gateway's address is pinned apart from
    routed probes that need that gateway."""
    t = topology([net('n1', '10.1.0.0/24', 1), net('n2', '10.2.0.0/24', 2),
                  net('n3', '10.1.0.0/24', 3)],
                 [vif('a', 'n1', '52:54:00:00:00:0a', '10.1.0.1'),
                  vif('b', 'n2', '52:54:00:00:00:0b', '10.2.0.1'),
                  vif('c', 'n3', '52:54:00:00:00:0c', '10.1.0.254'),   # = gw1's address
                  sim('gw1', 'n1', '52:54:00:00:01:fe', '10.1.0.254'),
                  sim('gw2', 'n2', '52:54:00:00:02:fe', '10.2.0.254')],
                 route_links=[link('rl', ('gw1', '10.1.0.0/24'), ('gw2', '10.2.0.0/24'))])
    rounds, _ = plan_probes(t)
    for members in rounds:
        entries = {}
        for probe in members:
            for h, ip, mac in probe.pins + probe.needs:
                assert entries.setdefault((h, ip), mac) == mac


def test_router_ping_checks_cover_every_network_of_the_link(routed):
    checks = set(router_ping_checks(routed))
    for router in ('gw1', 'gw2'):
        assert {h for r, h in checks if r == router} == {'vm1', 'vm2', 'vm5'}
    assert {h for r, h in checks if r == 'pub-gw'} == {'lan', 'vm9'}   # vm5 goes via gw2 (rl1)
    assert {h for r, h in checks if r == 'gw2b'} == {'lan', 'vm5', 'vm9'}
    assert not {r for r, h in checks} & {'gw3', 'gw4'}                # on no link


def test_traceroute_plan_picks_a_routed_pair_and_its_gateway(routed, overlapping):
    assert traceroute_plan(routed) == ('lan', 'vm9', 'pub-gw')
    assert traceroute_plan(overlapping) is None


def test_gateway_checks_include_host_interfaces(routed):
    assert ('pub-gw', 'lan') in gateway_checks(routed)


def test_parse_traceroute():
    out = ('traceroute to 172.16.2.1 (172.16.2.1), 3 hops max, 60 byte packets\n'
           ' 1  172.16.1.254  1.759 ms\n'
           ' 2  *\n'
           ' 3  172.16.2.1  0.529 ms\n')
    assert parse_traceroute(out) == ('172.16.1.254', None, '172.16.2.1')
    ok = TracerouteResult('a', 'b', '172.16.2.1', 'gw', '172.16.1.254',
                             parse_traceroute(out))
    assert ok.ok
    assert not TracerouteResult('a', 'b', '172.16.2.1', 'gw', '172.16.1.254', (None, '172.16.2.1')).ok
    assert not TracerouteResult('a', 'b', '172.16.2.1', 'gw', '172.16.1.254', ('172.16.1.254',)).ok


def test_parse_icmp_in_echos():
    snmp = ('Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs '
            'InSrcQuenchs InRedirects InEchos InEchoReps\n'
            'Icmp: 5 0 0 1 0 0 0 0 3 1\n'
            'IcmpMsg: InType0 InType3\n'
            'IcmpMsg: 1 1\n')
    assert parse_icmp_in_echos(snmp) == 3
    assert parse_icmp_in_echos('') is None


def test_verdict_counts_router_pings_and_traceroutes():
    report = Report()
    report.pairs[('a', 'b')] = PairResult('a', 'b', True, icmp=True)
    report.router_pings.append(RouterPingResult('gw', 'a', True))
    report.router_pings.append(RouterPingResult('gw', 'b', False))
    report.traceroutes.append(TracerouteResult('a', 'b', '10.0.0.2', 'gw', '10.0.0.254',
                                                  ('10.0.0.254', '10.0.0.2')))
    assert not report.ok
    assert ', 1/2 router ping checks answered, 1/1 traceroute checks with the gateway as hop 1 -- FAIL' \
        in report.verdict('check')
    report.router_pings.pop()
    assert report.ok and report.verdict('check').endswith('-- PASS')
