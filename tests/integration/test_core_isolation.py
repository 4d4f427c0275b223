"""Core: virtual networks on real OVS, isolated even with overlapping addresses."""

from lab import iperf3_tcp
from tests.integration.scenarios import overlapping_networks, wait_reachable


def start(lab, scenario, hosts=('vm1', 'vm2', 'vm3', 'vm4')):
    ctl = scenario.start(hosts)
    return scenario.bridges['br0'], ctl


def test_hosts_of_the_same_network_reach_each_other_and_overlapping_networks_stay_apart(lab):
    s = overlapping_networks(lab)
    br, ctl = start(lab, s)
    vm1, vm2, vm3, vm4 = (s.hosts[n] for n in ('vm1', 'vm2', 'vm3', 'vm4'))
    wait_reachable(vm1, '172.16.1.2')
    wait_reachable(vm3, '172.16.1.2')
    # Both networks use 172.16.1.2: each host must have reached its own neighbour.
    assert '52:54:00:0d:84:02' in vm1.neighbours()
    assert '52:54:00:0d:84:04' in vm3.neighbours()
    assert '52:54:00:0d:84:04' not in vm1.neighbours()
    # Unicast straight at the other network's MAC is dropped too.
    vm1.run('ip neigh replace 172.16.1.2 lladdr 52:54:00:0d:84:04 dev eth0 nud permanent')
    assert not vm1.ping('172.16.1.2', count=2, timeout=1)
    ctl.assert_running()
    assert 'packet-in' not in ctl.log_text()


def test_a_host_that_adds_an_address_of_another_network_reaches_nothing_there(lab):
    s = overlapping_networks(lab)
    s.doc['networks']['net2'] = {'ipv4': '172.16.2.0/24'}
    s.doc['interfaces']['vm5'] = dict(s.doc['interfaces']['vm3'], network='net2',
                                       mac='52:54:00:0d:84:05', ipv4='172.16.2.5',
                                       port=lab.ifname('p5'))
    br, _ = start(lab, s, hosts=('vm1', 'vm2', 'vm5'))
    vm1, vm5 = s.hosts['vm1'], s.hosts['vm5']
    wait_reachable(vm1, '172.16.1.2')
    vm1.add_address('172.16.2.9/24')
    assert not vm1.ping('172.16.2.5', count=2, timeout=1)
    assert not vm5.ping('172.16.2.9', count=2, timeout=1)


def test_each_gateway_answers_arp_with_its_own_networks_mac_while_the_controller_is_stopped(lab):
    s = overlapping_networks(lab)
    br, ctl = start(lab, s)
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
    ctl.pause()
    try:
        assert s.hosts['vm1'].arping('172.16.1.254') == '52:54:00:74:01:fe'
        assert s.hosts['vm2'].arping('172.16.1.254') == '52:54:00:74:01:fe'
        assert s.hosts['vm3'].arping('172.16.1.254') == '52:54:00:74:03:fe'
        assert s.hosts['vm4'].arping('172.16.1.254') == '52:54:00:74:03:fe'
    finally:
        ctl.resume()


def test_tcp_flows_through_the_pipeline(lab):
    s = overlapping_networks(lab)
    start(lab, s, hosts=('vm1', 'vm2'))
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
    rate = iperf3_tcp(s.hosts['vm1'], s.hosts['vm2'], '172.16.1.2', seconds=2)
    assert rate > 0.1, f'iperf3 through the pipeline gave only {rate:.3f} Gbit/s'


def test_known_traffic_causes_no_packet_in_and_every_flow_carries_our_cookie(lab):
    s = overlapping_networks(lab)
    br, ctl = start(lab, s)
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
    for flow in br.dump_flows(cookie=None):
        assert flow['cookie'] >> 48 == 0x766e, flow
        assert 'CONTROLLER' not in flow['actions'].upper(), flow
    assert 'packet-in' not in ctl.log_text()
