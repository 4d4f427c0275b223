"""The compiled pipeline, executed by the table simulator: L2 and isolation."""
import pytest

from controller.openflow.ofsim import FakeSwitch, ports_of
from controller.pipeline import compile_datapath
from tests.unit.factories import ALL_PORTS, net, overlapping, topology, vif

BROADCAST = 'ff:ff:ff:ff:ff:ff'


def switch(topo=None, ports=ALL_PORTS, dp='br0'):
    return FakeSwitch.from_state(compile_datapath(topo or overlapping(), dp, ports))


SOURCE_IP = {'52:54:00:00:00:01': '172.16.1.1', '52:54:00:00:00:02': '172.16.1.2',
             '52:54:00:00:00:03': '172.16.1.1', '52:54:00:00:00:04': '172.16.1.2'}


def frame(in_port, src, dst, **fields):
    """An IPv4 frame from the interface behind `src` (its own source address)."""
    return dict(in_port=in_port, eth_src=src, eth_dst=dst, eth_type=0x0800,
                ipv4_src=SOURCE_IP.get(src, '10.9.9.9'), ipv4_dst='172.16.1.200',
                ip_proto=6, **fields)


def test_a_frame_to_a_vif_of_the_same_network_leaves_on_that_vifs_port():
    out = switch().run(frame(1, '52:54:00:00:00:01', '52:54:00:00:00:02'))
    assert ports_of(out) == [2]


def test_a_frame_to_a_vif_of_another_network_with_the_same_prefix_is_dropped():
    assert switch().run(frame(1, '52:54:00:00:00:01', '52:54:00:00:00:04')) == []


def test_broadcast_floods_only_to_the_other_ports_of_the_senders_network():
    sw = switch()
    assert ports_of(sw.run(frame(1, '52:54:00:00:00:01', BROADCAST))) == [2]
    assert ports_of(sw.run(frame(3, '52:54:00:00:00:03', BROADCAST))) == [4]


def test_multicast_is_flooded_like_broadcast_within_the_network():
    out = switch().run(frame(2, '52:54:00:00:00:02', '01:00:5e:00:00:fb'))
    assert ports_of(out) == [1]


def test_unknown_unicast_is_dropped():
    assert switch().run(frame(1, '52:54:00:00:00:01', '52:54:00:99:99:99')) == []


def test_frames_from_a_port_not_in_the_topology_are_dropped():
    sw = switch(ports=dict(ALL_PORTS, stranger=9))
    assert sw.run(frame(9, '52:54:00:00:00:09', BROADCAST)) == []
    assert sw.run(frame(9, '52:54:00:00:00:09', '52:54:00:00:00:01')) == []


def test_an_interface_whose_port_is_not_on_the_switch_gets_no_flows_and_no_flood_bucket():
    sw = switch(ports={'p-vm1': 1})
    assert sw.run(frame(1, '52:54:00:00:00:01', BROADCAST)) == []
    assert sw.run(frame(1, '52:54:00:00:00:01', '52:54:00:00:00:02')) == []


def test_each_datapath_gets_only_its_own_interfaces():
    topo = topology([net('n', '10.0.0.0/24', 7)],
                    [vif('a', 'n', '52:54:00:00:00:0a', '10.0.0.1', 'br0', 'pa'),
                     vif('b', 'n', '52:54:00:00:00:0b', '10.0.0.2', 'br1', 'pb')],
                    datapaths=(('br0', 1), ('br1', 2)))
    state = compile_datapath(topo, 'br1', {'pa': 1, 'pb': 2})
    in_ports = {dict(f.match).get('in_port') for f in state.flows.values()}
    assert in_ports == {None, 2}


def test_the_flood_group_of_a_network_is_its_vni_and_lists_its_local_ports():
    state = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    assert sorted(state.groups) == [101, 103]
    assert [b[0].port for b in state.groups[103].buckets] == [3, 4]


def test_compiling_twice_gives_identical_flows_and_cookies():
    a = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    b = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    assert a == b


@pytest.mark.parametrize('name', ['vm1', 'vm2', 'vm3', 'vm4'])
def test_every_flow_is_tagged_with_the_controller_cookie(name):
    from controller.pipeline.flows import COOKIE_MASK, COOKIE_TAG
    state = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    assert all(c & COOKIE_MASK == COOKIE_TAG for c in state.flows)
