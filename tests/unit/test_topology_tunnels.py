"""Validation of networks across datapaths: tunnel endpoints, MTU, and what
users get wrong when a network spans hosts."""
import pytest

from controller.topology import TopologyError, validate_text

TWO_HOSTS = """\
datapaths:
  host1:
    dpid: 0x101
    tunnel_ip: 198.18.1.1
  host2:
    dpid: 0x102
    tunnel_ip: 198.18.1.2
networks:
  net1: {ipv4: 10.44.1.0/24, vni: 4401}
  net2: {ipv4: 10.44.2.0/24, vni: 4402}
interfaces:
  vm1: {network: net1, mac: 52:54:00:44:01:01, ipv4: 10.44.1.1, datapath: host1, port: p-vm1}
  vm2: {network: net1, mac: 52:54:00:44:01:02, ipv4: 10.44.1.2, datapath: host2, port: p-vm2}
"""


def problems(text):
    with pytest.raises(TopologyError) as caught:
        validate_text(text, 't.yml')
    return [str(p) for p in caught.value.problems]


def test_a_network_across_two_datapaths_with_tunnel_endpoints_is_valid():
    topology = validate_text(TWO_HOSTS, 't.yml')
    assert topology.span_of('net1') == {'host1', 'host2'}
    assert topology.datapaths['host1'].tunnel_port == 'vxlan0'
    assert topology.networks['net1'].mtu == 1450


def test_a_network_that_spans_datapaths_needs_a_tunnel_ip_on_each_and_the_error_says_which():
    text = TWO_HOSTS.replace('    tunnel_ip: 198.18.1.2\n', '')
    assert problems(text) == [
        't.yml:5: datapaths.host2.tunnel_ip: missing: network net1 spans datapaths host1, host2, '
        'which meet over VXLAN; give host2 its tunnel endpoint address (tunnel_ip: 198.18.0.1, say)']


def test_a_network_routed_to_another_datapath_needs_tunnel_endpoints_too():
    text = TWO_HOSTS.replace('    tunnel_ip: 198.18.1.1\n', '').replace(
        'datapath: host2, port: p-vm2}', 'datapath: host1, port: p-vm2}') + """\
  vm3: {network: net2, mac: 52:54:00:44:02:03, ipv4: 10.44.2.3, datapath: host2, port: p-vm3}
  gw1: {network: net1, mode: simulated, mac: 52:54:00:44:01:fe, ipv4: 10.44.1.254, services: [router]}
  gw2: {network: net2, mode: simulated, mac: 52:54:00:44:02:fe, ipv4: 10.44.2.254, services: [router]}
route_links:
  rl: {routes: [{interface: gw1}, {interface: gw2}]}
"""
    found = problems(text)
    assert len(found) == 1 and found[0].startswith('t.yml:2: datapaths.host1.tunnel_ip: missing: network')
    assert 'is routed to networks on datapaths host1, host2' in found[0]


def test_datapaths_on_their_own_need_no_tunnel_ip():
    text = TWO_HOSTS.replace('    tunnel_ip: 198.18.1.1\n', '').replace('    tunnel_ip: 198.18.1.2\n', '')
    text = text.replace('network: net1, mac: 52:54:00:44:01:02, ipv4: 10.44.1.2',
                        'network: net2, mac: 52:54:00:44:01:02, ipv4: 10.44.2.2')
    assert validate_text(text, 't.yml').span_of('net2') == {'host2'}


def test_two_datapaths_with_the_same_tunnel_ip_are_refused():
    text = TWO_HOSTS.replace('tunnel_ip: 198.18.1.2', 'tunnel_ip: 198.18.1.1')
    assert problems(text) == [
        't.yml:7: datapaths.host2.tunnel_ip: 198.18.1.1 is already the tunnel_ip of datapath host1; '
        'each datapath needs its own VXLAN endpoint address']


@pytest.mark.parametrize('mtu, fragment', [
    (575, 'out of range'), (9001, 'out of range'), ('big', 'expected an MTU in bytes')])
def test_an_mtu_out_of_range_is_refused(mtu, fragment):
    text = TWO_HOSTS.replace('{ipv4: 10.44.1.0/24, vni: 4401}', f'{{ipv4: 10.44.1.0/24, vni: 4401, mtu: {mtu}}}')
    found = problems(text)
    assert len(found) == 1 and 'networks.net1.mtu' in found[0] and fragment in found[0]


def test_a_tunnel_port_name_can_be_given():
    text = TWO_HOSTS.replace('    tunnel_ip: 198.18.1.1\n', '    tunnel_ip: 198.18.1.1\n    tunnel_port: vx1\n')
    assert validate_text(text, 't.yml').datapaths['host1'].tunnel_port == 'vx1'


def test_senders_to_a_network_are_the_datapaths_of_every_network_joined_to_it():
    text = TWO_HOSTS + """\
  vm3: {network: net2, mac: 52:54:00:44:02:03, ipv4: 10.44.2.3, datapath: host2, port: p-vm3}
  gw1: {network: net1, mode: simulated, mac: 52:54:00:44:01:fe, ipv4: 10.44.1.254, services: [router]}
  gw2: {network: net2, mode: simulated, mac: 52:54:00:44:02:fe, ipv4: 10.44.2.254, services: [router]}
route_links:
  rl: {routes: [{interface: gw1}, {interface: gw2}]}
"""
    topology = validate_text(text, 't.yml')
    assert topology.joined_to('net2') == {'net1', 'net2'}
    assert topology.senders_to('net2') == {'host1', 'host2'}
