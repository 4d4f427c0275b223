"""Services in the datapath: ping to simulated interfaces, source checks on vifs."""
from tests.integration.scenarios import gateway, overlapping_networks, wait_reachable


def start(lab, scenario, hosts=('vm1', 'vm2')):
    ctl = scenario.start(hosts)
    br = scenario.bridges['br0']
    wait_reachable(scenario.hosts[hosts[0]], scenario.doc['interfaces'][hosts[1]]['ipv4'])
    return br, ctl


def test_the_gateway_and_the_dhcp_interface_answer_ping_with_the_controller_stopped(lab):
    s = overlapping_networks(lab)
    s.doc['interfaces']['net1-dhcp'] = gateway('net1', '52:54:00:74:01:fd', '172.16.1.253',
                                               services=('dhcp',))
    br, ctl = start(lab, s, hosts=('vm1', 'vm2', 'vm3'))
    ctl.pause()
    try:
        for ip in ('172.16.1.254', '172.16.1.253'):
            out = s.hosts['vm1'].run(f'ping -c 2 -i 0.2 -W 1 {ip}', check=False)
            assert out.returncode == 0, out.stdout + out.stderr
            assert '2 received' in out.stdout
        # net3 has a gateway at .254 (its own) but no .253
        assert s.hosts['vm3'].ping('172.16.1.254', count=1, timeout=1)
        assert not s.hosts['vm3'].ping('172.16.1.253', count=1, timeout=1)
    finally:
        ctl.resume()


def test_a_spoofed_source_mac_is_dropped_while_the_real_one_works(lab):
    s = overlapping_networks(lab)
    br, _ = start(lab, s)
    vm1 = s.hosts['vm1']
    vm1.run('ip link set eth0 address 52:54:00:0d:84:99')
    vm1.run('ip neigh flush dev eth0')
    assert not vm1.ping('172.16.1.2', count=2, timeout=1)
    vm1.run('ip link set eth0 address 52:54:00:0d:84:01')
    wait_reachable(vm1, '172.16.1.2', timeout=5)


def test_a_spoofed_source_address_is_dropped_while_the_real_one_works(lab):
    s = overlapping_networks(lab)
    br, _ = start(lab, s)
    vm1 = s.hosts['vm1']
    vm1.add_address('172.16.1.77/24')
    spoofed = vm1.run('ping -c 2 -W 1 -I 172.16.1.77 172.16.1.2', check=False)
    assert spoofed.returncode != 0
    assert vm1.ping('172.16.1.2', count=2, timeout=1)
    # An ARP request claiming a foreign sender address gets no answer, and the
    # target never learns it; the same request with the real address does.
    lie = vm1.run('arping -C 1 -c 2 -w 2 -S 172.16.1.77 -i eth0 172.16.1.2', check=False)
    assert 'bytes from' not in lie.stdout
    assert '172.16.1.77' not in s.hosts['vm2'].neighbours()
    truth = vm1.run('arping -C 1 -c 2 -w 2 -S 172.16.1.1 -i eth0 172.16.1.2', check=False)
    assert 'bytes from 52:54:00:0d:84:02' in truth.stdout, truth.stdout + truth.stderr
