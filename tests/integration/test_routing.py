"""Routing through route links on real OVS: seed 003 and seed 000."""
import re

from lab import iperf3_tcp
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable


def seed003(lab):
    """net1 and net2 routed through their .254 gateways; net3 = net1's prefix, unlinked."""
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x3}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'},
                  'net3': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'ns1': vif(lab, 'net1', '52:54:00:00:01:01', '172.16.1.1', 'br0', 'n1'),
            'ns2': vif(lab, 'net2', '52:54:00:00:02:01', '172.16.2.1', 'br0', 'n2'),
            'ns3': vif(lab, 'net3', '52:54:00:00:03:01', '172.16.1.1', 'br0', 'n3'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net2-gw': gateway('net2', '52:54:00:74:02:fe', '172.16.2.254'),
            'net3-gw': gateway('net3', '52:54:00:74:03:fe', '172.16.1.254'),
        },
        route_links={'rl1': {'routes': [{'interface': 'net1-gw'}, {'interface': 'net2-gw'}]}})


def seed000(lab):
    """A physical LAN 10.0.10.0/24 (the host behind an uplink) and containers on
    192.168.99.0/24, joined by a route link; the LAN's default gateway 10.0.10.254
    is a machine the topology does not list."""
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x4}},
        networks={'public': {'ipv4': '10.0.10.0/24', 'mode': 'physical'},
                  'internal': {'ipv4': '192.168.99.0/24'}},
        interfaces={
            'host': {'network': 'public', 'mode': 'host', 'mac': '52:54:00:0a:00:0b',
                     'ipv4': '10.0.10.11', 'datapath': 'br0', 'port': lab.ifname('up')},
            'c1': vif(lab, 'internal', '52:54:00:63:00:01', '192.168.99.1', 'br0', 'c1'),
            'c2': vif(lab, 'internal', '52:54:00:63:00:02', '192.168.99.2', 'br0', 'c2'),
            'public-gw': gateway('public', '52:54:00:74:0a:01', '10.0.10.1'),
            'internal-gw': gateway('internal', '52:54:00:74:63:fe', '192.168.99.254'),
        },
        route_links={'rl-public': {'routes': [
            {'interface': 'public-gw', 'ipv4': '0.0.0.0/0', 'gateway': '10.0.10.254'},
            {'interface': 'internal-gw'}]}})


def start(lab, s, gateways):
    ctl = s.start(list(gateways), gateways)
    return s.bridges['br0'], ctl


def test_hosts_on_linked_networks_reach_each_other_one_hop_away(lab):
    s = seed003(lab)
    start(lab, s, {'ns1': '172.16.1.254', 'ns2': '172.16.2.254', 'ns3': '172.16.1.254'})
    ns1, ns2, ns3 = s.hosts['ns1'], s.hosts['ns2'], s.hosts['ns3']
    wait_reachable(ns1, '172.16.2.1')
    out = ns1.run('ping -c 2 -i 0.2 -W 1 172.16.2.1').stdout
    assert re.search(r'ttl=63', out), out             # one router on the way
    assert ns2.ping('172.16.1.1', count=2, timeout=1)
    # net3 has the same addresses as net1 but is on no route link
    assert not ns3.ping('172.16.2.1', count=2, timeout=1)
    assert not ns2.run('ping -c 1 -W 1 172.16.1.254', check=False).returncode  # router answers
    assert ns3.ping('172.16.1.254', count=1, timeout=1)                         # its own gw


def test_traceroute_shows_the_gateway_as_the_first_hop(lab):
    s = seed003(lab)
    start(lab, s, {'ns1': '172.16.1.254', 'ns2': '172.16.2.254'})
    wait_reachable(s.hosts['ns1'], '172.16.2.1')
    out = s.hosts['ns1'].run('traceroute -n -q 1 -w 1 -m 4 172.16.2.1').stdout
    hops = [line.split()[1] for line in out.splitlines()[1:] if line.strip()]
    assert hops[:2] == ['172.16.1.254', '172.16.2.1'], out


def test_routing_keeps_working_with_the_controller_stopped_and_carries_tcp(lab):
    s = seed003(lab)
    br, ctl = start(lab, s, {'ns1': '172.16.1.254', 'ns2': '172.16.2.254'})
    wait_reachable(s.hosts['ns1'], '172.16.2.1')
    ctl.pause()
    try:
        assert s.hosts['ns1'].ping('172.16.2.1', count=3, timeout=1)
        assert s.hosts['ns2'].ping('172.16.1.254', count=1, timeout=1)
        rate = iperf3_tcp(s.hosts['ns1'], s.hosts['ns2'], '172.16.2.1', seconds=2)
        assert rate > 0.1, f'iperf3 across the router gave {rate:.3f} Gbit/s'
    finally:
        ctl.resume()


def test_containers_and_the_physical_host_reach_each_other_through_the_router(lab):
    s = seed000(lab)
    start(lab, s, {'c1': '192.168.99.254', 'c2': '192.168.99.254', 'host': None})
    host, c1 = s.hosts['host'], s.hosts['c1']
    host.run('ip route add 192.168.99.0/24 via 10.0.10.1')      # the host's static route
    wait_reachable(c1, '10.0.10.11')
    wait_reachable(host, '192.168.99.2')
    assert host.arping('10.0.10.1') == '52:54:00:74:0a:01'


def test_unlisted_lan_machines_and_the_default_gateway_are_reached_after_arp(lab):
    s = seed000(lab)
    br, ctl = start(lab, s, {'c1': '192.168.99.254', 'host': None})
    host, c1 = s.hosts['host'], s.hosts['c1']
    host.run('ip route add 192.168.99.0/24 via 10.0.10.1')
    host.add_address('10.0.10.77/24')                  # a LAN machine not in the topology
    host.add_address('10.0.10.254/24')                 # the LAN's default gateway
    host.run('ip addr add 198.51.100.7/32 dev lo')     # a destination beyond that gateway
    wait_reachable(c1, '10.0.10.77')
    wait_reachable(c1, '198.51.100.7')
    log = ctl.log_text()
    assert 'learned 10.0.10.77 is-at 52:54:00:0a:00:0b' in log
    assert 'learned 10.0.10.254 is-at 52:54:00:0a:00:0b' in log
    learned = [f for f in br.dump_flows(cookie='0x766f000000000000/0xffff000000000000')]
    assert len(learned) == 2 and all(f.get('idle_timeout') == 300 for f in learned), learned
    # Once learned, the controller is not needed
    ctl.pause()
    try:
        assert c1.ping('198.51.100.7', count=2, timeout=1)
    finally:
        ctl.resume()
