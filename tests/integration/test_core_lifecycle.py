"""Core: order never matters, several bridges, only our flows are touched."""
import subprocess

from lab import REPO_ROOT, free_tcp_port, wait_for
from tests.integration.scenarios import Scenario, gateway, overlapping_networks, vif, wait_reachable


def test_a_port_plugged_in_after_the_controller_started_gets_its_flows(lab):
    s = overlapping_networks(lab)
    port = free_tcp_port()
    s.write()
    br = s.make_bridge('br0', port)
    vm1, vm2 = s.make_host('vm1'), s.make_host('vm2')
    vm2.unplug()
    lab.controller(s.path, port=port)
    br.wait_connected()
    assert not vm1.ping('172.16.1.2', count=2, timeout=1)
    vm2.plug()
    wait_reachable(vm1, '172.16.1.2')
    ofport = br.ofport(vm2.port)
    vm2.unplug()
    wait_for(lambda: not any(f'in_port={ofport}' in f['match'] or f'output:{ofport}' in f['actions']
                             for f in br.dump_flows()),
             timeout=5, what='flows of the unplugged port to go')
    assert not vm1.ping('172.16.1.2', count=1, timeout=1)


def test_the_topology_may_be_loaded_before_the_bridge_exists(lab):
    s = overlapping_networks(lab)
    port = free_tcp_port()
    s.write()
    lab.controller(s.path, port=port)          # no bridge yet
    br = s.make_bridge('br0', port)
    s.make_host('vm1'), s.make_host('vm2')
    br.wait_connected()
    wait_reachable(s.hosts['vm1'], '172.16.1.2')


def test_two_bridges_are_each_programmed_with_their_own_interfaces(lab):
    s = Scenario(
        lab,
        datapaths={'br0': {'dpid': 0xa}, 'br1': {'dpid': 0xb}},
        networks={'net1': {'ipv4': '10.1.0.0/24'}, 'net2': {'ipv4': '10.2.0.0/24'}},
        interfaces={
            'a1': vif(lab, 'net1', '52:54:00:00:0a:01', '10.1.0.1', 'br0', 'a1'),
            'a2': vif(lab, 'net1', '52:54:00:00:0a:02', '10.1.0.2', 'br0', 'a2'),
            'b1': vif(lab, 'net2', '52:54:00:00:0b:01', '10.2.0.1', 'br1', 'b1'),
            'b2': vif(lab, 'net2', '52:54:00:00:0b:02', '10.2.0.2', 'br1', 'b2'),
            'gw1': gateway('net1', '52:54:00:00:0a:fe', '10.1.0.254'),
            'gw2': gateway('net2', '52:54:00:00:0b:fe', '10.2.0.254'),
        })
    port = free_tcp_port()
    s.write()
    br0, br1 = s.make_bridge('br0', port), s.make_bridge('br1', port)
    for name in ('a1', 'a2', 'b1', 'b2'):
        s.make_host(name)
    lab.controller(s.path, port=port)
    br0.wait_connected(), br1.wait_connected()
    wait_reachable(s.hosts['a1'], '10.1.0.2')
    wait_reachable(s.hosts['b2'], '10.2.0.1')
    assert s.hosts['a1'].arping('10.1.0.254') == '52:54:00:00:0a:fe'
    assert s.hosts['b1'].arping('10.2.0.254') == '52:54:00:00:0b:fe'
    assert not any('10.2.0.254' in f['match'] for f in br0.dump_flows())
    assert not any('10.1.0.254' in f['match'] for f in br1.dump_flows())


def test_flows_of_other_owners_on_the_bridge_are_left_alone(lab):
    s = overlapping_networks(lab)
    port = free_tcp_port()
    s.write()
    br = s.make_bridge('br0', port)
    br.ofctl('add-flow', 'table=200,cookie=0x1234,priority=5,ip,nw_dst=192.0.2.1,actions=drop')
    vm1, vm2 = s.make_host('vm1'), s.make_host('vm2')
    lab.controller(s.path, port=port)
    br.wait_connected()
    wait_reachable(vm1, '172.16.1.2')
    vm2.unplug(), vm2.plug()
    wait_reachable(vm1, '172.16.1.2')
    foreign = [f for f in br.dump_flows(cookie=None) if f['cookie'] == 0x1234]
    assert len(foreign) == 1 and foreign[0]['table'] == 200


def test_the_controller_refuses_to_start_on_an_invalid_topology_and_says_where(lab):
    bad = lab.write('bad.yml', 'networks:\n  net1:\n    ipv4: 172.16.1.5/24\n')
    proc = subprocess.run([str(REPO_ROOT / '.venv/bin/ryu-manager'), '--ofp-tcp-listen-port',
                           str(free_tcp_port()), '--topology', str(bad), 'controller.app'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f'{bad}:3: networks.net1.ipv4' in proc.stderr
    assert 'host bits' in proc.stderr


def test_a_switch_that_drops_its_connection_is_noticed_and_adopted_again(lab):
    """os-ken's threads cannot be killed, so the app learns of a vanished
    switch from unanswered echo requests (on by default in ryu-manager)."""
    s = overlapping_networks(lab)
    port = free_tcp_port()
    s.write()
    br = s.make_bridge('br0', port)
    s.make_host('vm1'), s.make_host('vm2')
    ctl = lab.controller(s.path, port=port)
    wait_for(lambda: 'connected with' in ctl.log_text(), timeout=20, what='the connection')
    subprocess.run(['ovs-vsctl', 'del-controller', br.name], check=True)
    wait_for(lambda: 'disconnected' in ctl.log_text(), timeout=20, what='the disconnection in the log')
    subprocess.run(['ovs-vsctl', 'set-controller', br.name, f'tcp:127.0.0.1:{port}'], check=True)
    wait_for(lambda: ctl.log_text().count('connected with') == 2, timeout=20, what='the reconnection')
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
