"""The dns keys of the topology: the model they make, and every rule with file, line and key path."""
import ipaddress

import pytest

from controller.topology import DNS, TopologyError, validate_text
from controller.topology.incremental import Revalidator

HERE = '# <-'
BASE = """\
datapaths:
  br0: {dpid: 1}
networks:
  net1:
    ipv4: 172.16.1.0/24
    domain_name: net1.internal
"""
VM1 = '  vm1: {network: net1, mac: "52:54:00:00:00:01", ipv4: 172.16.1.1, datapath: br0, port: p1}\n'
DNS1 = '  dns1: {network: net1, mode: simulated, mac: "52:54:00:00:00:53", ipv4: 172.16.1.53, services: [dns]}\n'


def text(network_extra='', interfaces=VM1 + DNS1, base=BASE):
    return base + network_extra + 'interfaces:\n' + interfaces


def only_problem(source, path, fragment):
    with pytest.raises(TopologyError) as caught:
        validate_text(source, 't.yml')
    found = caught.value.problems
    assert len(found) == 1, '\n'.join(map(str, found))
    line = next(n for n, line in enumerate(source.splitlines(), 1) if HERE in line)
    assert (found[0].path, found[0].line) == (path, line), str(found[0])
    assert fragment in found[0].message, str(found[0])


def test_a_network_with_a_dns_interface_records_and_upstreams_loads_into_the_model():
    topology = validate_text(text('    dns_upstream: [10.0.10.53, 10.0.10.54]\n'
                                  '    dns_records:\n      www: 172.16.1.80\n'
                                  '      API.v2: [172.16.1.81, 192.0.2.7]\n'), 't.yml')
    net = topology.networks['net1']
    assert net.dns_upstream == (ipaddress.IPv4Address('10.0.10.53'), ipaddress.IPv4Address('10.0.10.54'))
    assert net.dns_records == (('www', (ipaddress.IPv4Address('172.16.1.80'),)),
                               ('api.v2', (ipaddress.IPv4Address('172.16.1.81'),
                                           ipaddress.IPv4Address('192.0.2.7'))))
    assert topology.interfaces['dns1'].services == (DNS,)


def test_a_network_without_dns_keys_keeps_empty_defaults():
    net = validate_text(text(interfaces=VM1), 't.yml').networks['net1']
    assert (net.dns_upstream, net.dns_records) == ((), ())


def test_a_second_dns_interface_in_a_network_is_refused_naming_the_first():
    second = '  dns2: {network: net1, mode: simulated, mac: "52:54:00:00:00:54", ipv4: 172.16.1.54, services: [dns]}  # <-\n'
    only_problem(text(interfaces=VM1 + DNS1 + second), 'interfaces.dns2.services',
                 'network net1 already has a dns interface, dns1; at most one per network')


def test_a_dns_interface_needs_its_network_to_have_a_domain_name():
    base = BASE.replace('    domain_name: net1.internal\n', '').replace('  net1:\n', '  net1:  # <-\n')
    only_problem(text(base=base), 'networks.net1.domain_name',
                 'missing: interface dns1 gives network net1 the dns service')


@pytest.mark.parametrize('key, value', [('dns_upstream', '[10.0.10.53]'), ('dns_records', '{www: 172.16.1.80}')])
def test_dns_keys_without_a_dns_interface_are_refused(key, value):
    only_problem(text(f'    {key}: {value}  # <-\n', interfaces=VM1), f'networks.net1.{key}',
                 'network net1 has no dns interface to serve it')


def test_an_upstream_that_is_the_dns_interface_itself_is_refused():
    only_problem(text('    dns_upstream:\n      - 10.0.10.53\n      - 172.16.1.53  # <-\n'),
                 'networks.net1.dns_upstream[1]', 'is the dns interface dns1 itself')


def test_more_than_four_upstreams_are_refused():
    only_problem(text('    dns_upstream: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5]  # <-\n'),
                 'networks.net1.dns_upstream', '5 servers; at most 4')


@pytest.mark.parametrize('record, path, fragment', [
    ('www: 172.16.1.500', 'www', "'172.16.1.500' is not an IPv4 address"),
    ('bad..name: 172.16.1.80', 'bad..name', 'is not a record name'),
    ('-www: 172.16.1.80', '-www', 'is not a record name'),
    ('www: []', 'www', 'found an empty list'),
    ('www: [172.16.1.80, 172.16.1.80]', 'www', '172.16.1.80 is listed twice'),
    ('VM1: 172.16.1.80', 'VM1', 'vm1 is an interface of network net1'),
])
def test_a_bad_record_is_reported_on_its_own_line(record, path, fragment):
    only_problem(text(f'    dns_records:\n      x: 172.16.1.9\n      {record}  # <-\n'),
                 f'networks.net1.dns_records.{path}', fragment)


def test_two_records_differing_only_in_case_are_one_name():
    only_problem(text('    dns_records:\n      www: 172.16.1.80\n      WWW: 172.16.1.81  # <-\n'),
                 'networks.net1.dns_records.WWW', 'is record www already')


def test_records_must_be_a_mapping():
    only_problem(text('    dns_records: [www]  # <-\n'), 'networks.net1.dns_records',
                 'expected a mapping of names to IPv4 addresses')


def test_an_interface_edit_that_touches_dns_goes_through_full_validation():
    """The fast path checks one entry at a time; the dns rules span the network."""
    first = text()
    revalidator = Revalidator('t.yml')
    revalidator.load(first)
    second = '  dns2: {network: net1, mode: simulated, mac: "52:54:00:00:00:54", ipv4: 172.16.1.54, services: [dns]}\n'
    with pytest.raises(TopologyError) as caught:
        revalidator.load(first + second)
    assert 'already has a dns interface' in str(caught.value)
    vm2 = '  vm2: {network: net1, mac: "52:54:00:00:00:02", ipv4: 172.16.1.2, datapath: br0, port: p2}\n'
    fast = revalidator.fast_loads
    assert 'vm2' in revalidator.load(first + vm2).interfaces
    assert revalidator.fast_loads == fast + 1        # an ordinary vif edit keeps the fast path


def test_an_interface_named_like_a_record_added_by_an_edit_is_refused():
    records = text('    dns_records: {www: 172.16.1.80}\n')
    revalidator = Revalidator('t.yml')
    revalidator.load(records)
    www = '  www: {network: net1, mac: "52:54:00:00:00:02", ipv4: 172.16.1.2, datapath: br0, port: p2}\n'
    with pytest.raises(TopologyError) as caught:
        revalidator.load(records + www)
    assert 'www is an interface of network net1' in str(caught.value)
