"""Networks across datapaths, run through simulated switches joined by VXLAN:
a frame that enters one datapath and leaves another."""
import ipaddress

import pytest

from controller.openflow.ofsim import Fabric, FakeSwitch, deliveries
from controller.pipeline import compile_datapath
from controller.pipeline.classifier import TUNNEL_DROP_PRIORITY
from controller.pipeline.drops import Drop
from controller.topology import Datapath, Route, RouteLink, Topology
from tests.unit.factories import net, sim, vif

BROADCAST = 'ff:ff:ff:ff:ff:ff'
TUNNEL = 10
IPS = {'host1': '198.18.1.1', 'host2': '198.18.1.2', 'host3': '198.18.2.3'}
PORTS = {
    'host1': {'p-r1': 1, 'p-b1': 2, 'vxlan0': TUNNEL},
    'host2': {'p-r2': 1, 'p-b2': 2, 'vxlan0': TUNNEL},
    'host3': {'p-g3': 1, 'vxlan0': TUNNEL},
}
MACS = {'r1': '52:54:00:01:00:01', 'r2': '52:54:00:01:00:02', 'b1': '52:54:00:02:00:01',
        'b2': '52:54:00:02:00:02', 'g3': '52:54:00:03:00:03', 'gw-red': '52:54:00:01:00:fe',
        'gw-green': '52:54:00:03:00:fe'}


def three_hosts():
    """red and blue share 10.0.1.0/24 across host1 and host2; green on host3
    is routed to red."""
    interfaces = [
        vif('r1', 'red', MACS['r1'], '10.0.1.1', datapath='host1'),
        vif('r2', 'red', MACS['r2'], '10.0.1.2', datapath='host2'),
        vif('b1', 'blue', MACS['b1'], '10.0.1.1', datapath='host1'),
        vif('b2', 'blue', MACS['b2'], '10.0.1.2', datapath='host2'),
        vif('g3', 'green', MACS['g3'], '10.0.2.3', datapath='host3'),
        sim('gw-red', 'red', MACS['gw-red'], '10.0.1.254'),
        sim('gw-green', 'green', MACS['gw-green'], '10.0.2.254'),
    ]
    link = RouteLink('rl', (Route('gw-red', ipaddress.IPv4Network('10.0.1.0/24')),
                            Route('gw-green', ipaddress.IPv4Network('10.0.2.0/24'))))
    return Topology(
        source='t.yml',
        datapaths={n: Datapath(n, 0x100 + i, ipaddress.IPv4Address(IPS[n]))
                   for i, n in enumerate(IPS, 1)},
        networks={n.name: n for n in (net('red', '10.0.1.0/24', 11), net('blue', '10.0.1.0/24', 12),
                                      net('green', '10.0.2.0/24', 13))},
        interfaces={i.name: i for i in interfaces}, route_links={'rl': link})


def fabric(topology=None, ports=PORTS):
    topology = topology or three_hosts()
    fab = Fabric()
    for name in IPS:
        fab.add(name, FakeSwitch.from_state(compile_datapath(topology, name, ports[name])),
                TUNNEL, IPS[name])
    return fab


def ip_frame(in_port, src, dst_mac, ip_src, ip_dst, **fields):
    return dict(in_port=in_port, eth_src=MACS[src], eth_dst=dst_mac, eth_type=0x0800,
                ipv4_src=ip_src, ipv4_dst=ip_dst, ip_proto=6, nw_ttl=64, **fields)


def test_a_frame_to_a_vif_on_another_datapath_crosses_the_tunnel_and_leaves_on_its_port():
    out = fabric().run('host1', ip_frame(1, 'r1', MACS['r2'], '10.0.1.1', '10.0.1.2'))
    assert deliveries(out) == [('host2', 1)]


def test_the_tunnel_carries_the_networks_vni_to_the_datapaths_tunnel_ip():
    switch = FakeSwitch.from_state(compile_datapath(three_hosts(), 'host1', PORTS['host1']))
    [(port, pkt)] = switch.run(ip_frame(1, 'r1', MACS['r2'], '10.0.1.1', '10.0.1.2'))
    assert (port, pkt['tunnel_id'], pkt['tun_ipv4_dst']) == (TUNNEL, 11, '198.18.1.2')


def test_overlapping_networks_stay_isolated_across_datapaths():
    fab = fabric()
    assert fab.run('host1', ip_frame(1, 'r1', MACS['b2'], '10.0.1.1', '10.0.1.2')) == []
    assert deliveries(fab.run('host1', ip_frame(2, 'b1', MACS['b2'], '10.0.1.1', '10.0.1.2'))) == \
        [('host2', 2)]


def test_a_broadcast_reaches_each_remote_datapath_of_its_network_once_and_no_other():
    switch = FakeSwitch.from_state(compile_datapath(three_hosts(), 'host1', PORTS['host1']))
    copies = [pkt['tun_ipv4_dst'] for port, pkt in
              switch.run(ip_frame(1, 'r1', BROADCAST, '10.0.1.1', '10.0.1.255')) if port == TUNNEL]
    assert copies == ['198.18.1.2']                     # host3 has no port in red
    out = fabric().run('host1', ip_frame(1, 'r1', BROADCAST, '10.0.1.1', '10.0.1.255'))
    assert deliveries(out) == [('host2', 1)]


def test_a_broadcast_from_the_tunnel_is_delivered_here_only():
    switch = FakeSwitch.from_state(compile_datapath(three_hosts(), 'host2', PORTS['host2']))
    arriving = ip_frame(TUNNEL, 'r1', BROADCAST, '10.0.1.1', '10.0.1.255', tunnel_id=11,
                        tun_ipv4_src='198.18.1.1')
    assert [port for port, _ in switch.run(arriving)] == [1]


@pytest.mark.parametrize('vni, source', [
    (11, '198.51.100.7'),        # an underlay address that is no datapath
    (99, '198.18.1.1'),          # a VNI of no network
    (12, '198.18.2.3'),          # host3 has no interface in blue, nor one routed to it
])
def test_a_tunnel_frame_from_an_unknown_source_or_vni_is_dropped_by_its_own_counted_flow(vni, source):
    switch = FakeSwitch.from_state(compile_datapath(three_hosts(), 'host2', PORTS['host2']))
    arriving = ip_frame(TUNNEL, 'b1', MACS['b2'], '10.0.1.1', '10.0.1.2', tunnel_id=vni,
                        tun_ipv4_src=source)
    assert switch.run(arriving) == []
    dropped_by = switch.lookup(0, dict(arriving, metadata=0))
    assert (dropped_by.priority, dict(dropped_by.match)) == (TUNNEL_DROP_PRIORITY, {'in_port': TUNNEL})
    assert dropped_by.drop == Drop.BAD_TUNNEL_SOURCE


def test_routing_happens_where_the_packet_enters_and_decrements_the_ttl_once():
    out = fabric().run('host3', ip_frame(1, 'g3', MACS['gw-green'], '10.0.2.3', '10.0.1.2'))
    assert deliveries(out) == [('host2', 1)]
    [(_, _, pkt)] = out
    assert (pkt['eth_src'], pkt['eth_dst'], pkt['nw_ttl']) == (MACS['gw-red'], MACS['r2'], 63)


def test_the_reply_is_routed_back_by_the_datapath_it_enters():
    out = fabric().run('host2', ip_frame(1, 'r2', MACS['gw-red'], '10.0.1.2', '10.0.2.3'))
    assert deliveries(out) == [('host3', 1)]
    assert out[0][2]['tunnel_id'] == 13 and out[0][2]['nw_ttl'] == 63


def test_a_gateway_answers_arp_on_every_datapath_of_its_network_without_the_tunnel():
    for host, port, who in (('host1', 1, 'r1'), ('host2', 1, 'r2')):
        request = dict(in_port=port, eth_src=MACS[who], eth_dst=BROADCAST, eth_type=0x0806,
                       arp_op=1, arp_spa='10.0.1.%d' % int(host[-1]), arp_sha=MACS[who],
                       arp_tpa='10.0.1.254')
        [(out_port, reply)] = fabric().switches[host].run(request)
        assert (out_port, reply['arp_op'], reply['arp_sha']) == (port, 2, MACS['gw-red'])


def test_without_the_tunnel_port_on_the_bridge_nothing_is_sent_to_other_datapaths():
    ports = {'p-r1': 1, 'p-b1': 2}
    state = compile_datapath(three_hosts(), 'host1', ports)
    switch = FakeSwitch.from_state(state)
    assert switch.run(ip_frame(1, 'r1', MACS['r2'], '10.0.1.1', '10.0.1.2')) == []
    assert not any('tunnel_id' in dict(f.match) for f in state.flows.values())
    assert state.tunnel_port_missing


def test_a_datapath_on_its_own_gets_no_tunnel_flows():
    state = compile_datapath(three_hosts(), 'host3', {'p-g3': 1, 'vxlan0': TUNNEL})
    topology = three_hosts()
    alone = Topology('t.yml', {'host3': topology.datapaths['host3']},
                     {'green': topology.networks['green']},
                     {'g3': topology.interfaces['g3']})
    assert any('tunnel_id' in dict(f.match) for f in state.flows.values())
    alone_state = compile_datapath(alone, 'host3', {'p-g3': 1, 'vxlan0': TUNNEL})
    assert not any(TUNNEL in (dict(f.match).get('in_port'),) for f in alone_state.flows.values())
    assert not alone_state.tunnel_port_missing


def test_moving_an_interface_changes_only_the_flows_that_depend_on_it():
    import dataclasses
    before = three_hosts()
    moved = dict(before.interfaces)
    moved['r2'] = dataclasses.replace(moved['r2'], datapath='host3')
    after = dataclasses.replace(before, interfaces=moved)
    ports3 = {'p-g3': 1, 'p-r2': 2, 'vxlan0': TUNNEL}
    fab = fabric(after, dict(PORTS, host3=ports3))
    assert deliveries(fab.run('host1', ip_frame(1, 'r1', MACS['r2'], '10.0.1.1', '10.0.1.2'))) == \
        [('host3', 2)]
    # on host1 only the flow towards r2 and the red flood group change
    old = compile_datapath(before, 'host1', PORTS['host1'])
    new = compile_datapath(after, 'host1', PORTS['host1'])
    changed = set(old.flows) ^ set(new.flows)
    # r2's L2 flow (old and new destination), and red no longer accepted from host2
    assert len(changed) == 3
    assert old.groups[12] == new.groups[12] and old.groups[11] != new.groups[11]
