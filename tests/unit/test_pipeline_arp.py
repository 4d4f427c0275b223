"""ARP requests for simulated interfaces are answered by the datapath itself."""
from controller.openflow.ofsim import FakeSwitch, ports_of
from controller.pipeline import compile_datapath
from tests.unit.factories import ALL_PORTS, overlapping

BROADCAST = 'ff:ff:ff:ff:ff:ff'


def arp_request(in_port, sha, spa, tpa):
    return dict(in_port=in_port, eth_src=sha, eth_dst=BROADCAST, eth_type=0x0806,
                arp_op=1, arp_sha=sha, arp_spa=spa, arp_tha='00:00:00:00:00:00', arp_tpa=tpa)


def switch():
    return FakeSwitch.from_state(compile_datapath(overlapping(), 'br0', ALL_PORTS))


def test_an_arp_request_for_the_gateway_is_answered_out_of_the_port_it_came_from():
    out = switch().run(arp_request(1, '52:54:00:00:00:01', '172.16.1.1', '172.16.1.254'))
    assert ports_of(out) == [1]
    reply = out[0][1]
    assert reply['arp_op'] == 2
    assert reply['eth_src'] == reply['arp_sha'] == '52:54:00:00:01:fe'
    assert reply['arp_spa'] == '172.16.1.254'
    assert reply['eth_dst'] == reply['arp_tha'] == '52:54:00:00:00:01'
    assert reply['arp_tpa'] == '172.16.1.1'


def test_the_same_gateway_address_in_an_overlapping_network_answers_with_that_networks_mac():
    out = switch().run(arp_request(3, '52:54:00:00:00:03', '172.16.1.1', '172.16.1.254'))
    assert ports_of(out) == [3]
    assert out[0][1]['arp_sha'] == '52:54:00:00:03:fe'


def test_an_arp_request_for_a_vif_is_flooded_in_its_network_not_answered():
    out = switch().run(arp_request(1, '52:54:00:00:00:01', '172.16.1.1', '172.16.1.2'))
    assert ports_of(out) == [2]
    assert out[0][1]['arp_op'] == 1


def test_arp_replies_are_not_answered_again():
    req = arp_request(1, '52:54:00:00:00:01', '172.16.1.1', '172.16.1.254')
    req['arp_op'] = 2
    assert ports_of(switch().run(req)) == [2]    # a broadcast reply floods like any frame


def test_no_arp_responder_is_installed_for_networks_without_a_port_here():
    state = compile_datapath(overlapping(), 'br0', {'p-vm1': 1})
    tpas = [dict(f.match).get('arp_tpa') for f in state.flows.values()]
    assert tpas.count('172.16.1.254') == 1
