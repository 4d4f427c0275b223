"""lab.topogen: the one generator of big topologies, read back through the validator."""
import ipaddress
from collections import Counter, defaultdict

import pytest

from controller.topology.validate import validate_text
from lab.topogen import Spec, datapaths, network_datapaths, topology_text, vifs


def load(spec):
    return validate_text(topology_text(spec), 'generated.yml')


def test_every_network_gets_its_vifs_a_gateway_and_a_dhcp_server():
    topology = load(Spec(5, per_network=2))

    assert sorted(topology.networks) == ['n0', 'n1', 'n2']
    assert topology.networks['n2'].ipv4 == ipaddress.ip_network('10.0.2.0/24')
    members = defaultdict(list)
    for iface in topology.interfaces.values():
        members[iface.network].append((iface.name, iface.mode, iface.services, str(iface.ipv4)))
    assert members['n0'] == [('vm0', 'vif', (), '10.0.0.1'), ('vm1', 'vif', (), '10.0.0.2'),
                             ('n0-gw', 'simulated', ('router',), '10.0.0.254'),
                             ('n0-dhcp', 'simulated', ('dhcp',), '10.0.0.253')]
    assert [name for name, *_ in members['n2']] == ['vm4', 'n2-gw', 'n2-dhcp']


def test_ports_and_dpids_follow_the_spec():
    topology = load(Spec(3, dpid=0x5ca1e0000000, port=lambda k: f'veth{k * 10}'))

    assert topology.datapaths['br0'].dpid == 0x5ca1e0000000
    assert [i.port for i in topology.interfaces.values() if i.mode == 'vif'] == \
        ['veth0', 'veth10', 'veth20']


def test_vif_numbers_beyond_one_byte_keep_distinct_macs_and_addresses():
    generated = list(vifs(Spec(70000, per_network=250)))

    assert generated[65793].mac == '52:54:00:01:01:01'
    assert generated[65793].ipv4 == '10.1.7.44'          # network 263 = 1 * 256 + 7
    assert len({v.mac for v in generated}) == len({v.ipv4 for v in generated}) == 70000


def test_one_datapath_has_no_tunnel_address():
    assert datapaths(Spec(10)) == [('br0', 1, None)]
    assert 'tunnel_ip' not in topology_text(Spec(10))


def test_networks_spanning_datapaths_get_every_datapath_a_tunnel_address():
    topology = load(Spec(40, per_network=10, datapaths=300, span=2))

    addresses = [str(dp.tunnel_ip) for dp in topology.datapaths.values()]
    assert addresses[:2] == ['198.18.0.1', '198.18.0.2']
    assert addresses[250] == '198.18.1.1'
    assert len(set(addresses)) == 300


def test_tunnel_addresses_can_be_asked_for_without_spanning():
    assert datapaths(Spec(10, datapaths=2, tunnel_ips=True))[1].tunnel_ip == '198.18.0.2'
    assert datapaths(Spec(10, datapaths=2, span=2, tunnel_ips=False))[1].tunnel_ip is None


def test_a_network_spans_as_many_datapaths_as_asked_and_deals_its_vifs_over_them_evenly():
    topology = load(Spec(400, per_network=100, datapaths=5, span=3))

    for net in topology.networks:
        per_datapath = Counter(i.datapath for i in topology.interfaces.values()
                               if i.network == net and i.mode == 'vif')
        assert len(per_datapath) == 3
        assert max(per_datapath.values()) - min(per_datapath.values()) <= 1
    assert network_datapaths(Spec(400, datapaths=5, span=3), 1) == ['br3', 'br4', 'br0']


def test_a_hundred_datapaths_each_hold_a_piece_of_one_network_when_networks_times_span_is_a_hundred():
    spec = Spec(2500, per_network=100, datapaths=100, span=4)
    topology = load(spec)

    networks_on = defaultdict(set)
    for iface in topology.interfaces.values():
        if iface.mode == 'vif':
            networks_on[iface.datapath].add(iface.network)
    assert sorted(networks_on) == sorted(f'br{d}' for d in range(100))
    assert all(len(nets) == 1 for nets in networks_on.values())


def test_the_extra_vif_joins_the_first_network_at_its_next_address_and_changes_nothing_else():
    base = topology_text(Spec(250, per_network=100)).splitlines()
    edited = topology_text(Spec(250, per_network=100, extra_vif=True)).splitlines()

    block = ['  vm250:', '    network: n0', '    mac: 52:54:00:00:00:fa', '    ipv4: 10.0.0.101',
             '    datapath: br0', '    port: p250']
    at = base.index('  n0-gw:')                    # after the last vif
    assert edited[1:] == base[1:at] + block + base[at:]
    assert edited[0].endswith(', plus one (the edit)')
    assert load(Spec(250, per_network=100, extra_vif=True)).interfaces['vm250'].network == 'n0'


def test_a_vif_block_lists_network_mac_address_datapath_and_port_in_that_order():
    lines = topology_text(Spec(1)).splitlines()
    at = lines.index('  vm0:')

    assert [line.split(':')[0].strip() for line in lines[at + 1:at + 6]] == \
        ['network', 'mac', 'ipv4', 'datapath', 'port']


@pytest.mark.parametrize('kwargs, message', [
    ({'vifs': 0}, 'vifs: 1 ..'),
    ({'vifs': 10, 'per_network': 251}, 'per_network: 1 .. 250'),
    ({'vifs': 10, 'datapaths': 2, 'span': 3}, 'span: 1 .. datapaths (2)'),
    ({'vifs': 10, 'dpid': 0}, 'dpid 0x0'),
    ({'vifs': 70000, 'per_network': 1}, '70000 networks; at most 65536'),
])
def test_a_spec_the_address_plan_cannot_hold_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        Spec(**kwargs)
