"""Topology file v1: every rule, reported with file, line, key path and a useful message.

Texts mark the line a problem must point at with `# <-`, so the expected line
is exact without counting lines by hand.
"""
import ipaddress
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller import cli as vnetctl
from controller.topology import (
    Datapath,
    Interface,
    Network,
    Route,
    RouteLink,
    Topology,
    load_topology,
    yamlsource,
)
from controller.topology.errors import Problem, TopologyError
from controller.topology.validate import assign_vnis, default_vni, validate_file, validate_text
from lab.topogen import Spec, topology_text

HERE = '# <-'

NETWORKS = """\
datapaths:
  br0:
    dpid: 0x1
networks:
  net1:
    ipv4: 172.16.1.0/24
  net2:
    ipv4: 172.16.2.0/24
  lan:
    ipv4: 10.0.10.0/24
    mode: physical
"""

ROUTERS = NETWORKS + """\
interfaces:
  net1-gw:
    network: net1
    mode: simulated
    mac: 52:54:00:74:00:01
    ipv4: 172.16.1.254
    services: [router]
  net2-gw:
    network: net2
    mode: simulated
    mac: 52:54:00:74:00:02
    ipv4: 172.16.2.254
    services: [router]
  lan-gw:
    network: lan
    mode: simulated
    mac: 52:54:00:74:00:03
    ipv4: 10.0.10.1
    services: [router]
  net1-dhcp:
    network: net1
    mode: simulated
    mac: 52:54:00:74:00:04
    ipv4: 172.16.1.253
    services: [dhcp]
"""

EXAMPLE = ROUTERS + """\
  vm1:
    network: net1
    mac: 52:54:00:0D:84:01
    ipv4: 172.16.1.1
    datapath: br0
    port: veth1
  vm2:
    network: net2
    mac: 52:54:00:12:34:56
    datapath: br0
    port: veth2
  uplink:
    network: lan
    mode: host
    mac: 52:54:00:74:00:05
    datapath: br0
    port: br0
route_links:
  rl1:
    routes:
      - interface: net1-gw
      - interface: net2-gw
      - interface: lan-gw
        ipv4: 0.0.0.0/0
        gateway: 10.0.10.254
"""


def problems(text):
    with pytest.raises(TopologyError) as caught:
        validate_text(text, 't.yml')
    return caught.value.problems


def marked_line(text):
    lines = [number for number, line in enumerate(text.splitlines(), 1) if HERE in line]
    assert len(lines) == 1, 'mark exactly one line with # <-'
    return lines[0]


def only_problem(text, path, fragment):
    """The one problem of `text`: at the marked line, with this path, saying `fragment`."""
    found = problems(text)
    assert len(found) == 1, '\n'.join(map(str, found))
    problem = found[0]
    assert (problem.path, problem.line) == (path, marked_line(text)), str(problem)
    assert fragment in problem.message, str(problem)
    return problem


def interface(body):
    return NETWORKS + 'interfaces:\n' + body


def route_links(body):
    return ROUTERS + 'route_links:\n' + body


# -- valid files --------------------------------------------------------------------

def test_a_valid_file_loads_into_the_expected_model():
    topology = validate_text(EXAMPLE, 't.yml')
    assert topology.source == 't.yml'
    assert topology.datapaths == {'br0': Datapath('br0', 1)}
    net1 = topology.networks['net1']
    assert (net1.ipv4, net1.mode, net1.lease_time) == (ipaddress.ip_network('172.16.1.0/24'), 'virtual', 86400)
    assert topology.networks['lan'].mode == 'physical'
    assert topology.interfaces['vm1'] == Interface(
        'vm1', 'net1', '52:54:00:0d:84:01', ipaddress.ip_address('172.16.1.1'), 'vif', 'br0', 'veth1')
    assert topology.interfaces['net1-gw'].services == ('router',)
    assert topology.interfaces['net1-gw'].datapath is None
    assert topology.interfaces['uplink'].mode == 'host'
    assert topology.route_links['rl1'] == RouteLink('rl1', (
        Route('net1-gw', ipaddress.ip_network('172.16.1.0/24')),
        Route('net2-gw', ipaddress.ip_network('172.16.2.0/24')),
        Route('lan-gw', ipaddress.ip_network('0.0.0.0/0'), ipaddress.ip_address('10.0.10.254'))))


def test_a_mac_that_yaml_1_1_would_read_as_a_number_stays_a_mac():
    assert validate_text(EXAMPLE, 't.yml').interfaces['vm2'].mac == '52:54:00:12:34:56'


def test_entries_keep_the_order_of_the_file():
    assert list(validate_text(EXAMPLE, 't.yml').interfaces)[:2] == ['net1-gw', 'net2-gw']


def test_every_optional_network_setting_reaches_the_model():
    network = validate_text(NETWORKS.replace('    mode: physical\n', """\
    mode: physical
    vni: 4242
    dns_servers: [10.0.10.53, 10.0.10.54]
    domain_name: example.internal.
    lease_time: 3600
"""), 't.yml').networks['lan']
    assert network == Network('lan', ipaddress.ip_network('10.0.10.0/24'), 'physical', 4242,
                              (ipaddress.ip_address('10.0.10.53'), ipaddress.ip_address('10.0.10.54')),
                              'example.internal', 3600)


def test_a_dpid_may_be_an_integer_or_a_hex_string_and_a_tunnel_ip_an_address():
    topology = validate_text('datapaths:\n  a: {dpid: 10}\n  b: {dpid: "0xFF", tunnel_ip: 192.0.2.1}\n'
                             '  c: {dpid: 0xffffffffffffffff}\n', 't.yml')
    assert [d.dpid for d in topology.datapaths.values()] == [10, 255, 2 ** 64 - 1]
    assert topology.datapaths['b'].tunnel_ip == ipaddress.ip_address('192.0.2.1')


@pytest.mark.parametrize('text', ['datapaths: {}\n', 'datapaths:\nnetworks:\ninterfaces:\nroute_links:\n'])
def test_explicitly_empty_sections_are_an_empty_topology(text):
    assert validate_text(text, 't.yml') == Topology('t.yml')


@pytest.mark.parametrize('text', ['', '\n\n', '# nothing yet\n', '---\n'])
def test_an_empty_file_is_refused_and_the_error_says_how_to_remove_everything(text):
    with pytest.raises(TopologyError) as caught:
        validate_text(text, 't.yml')
    assert str(caught.value).startswith('t.yml: the file is empty')
    assert 'datapaths: {}' in str(caught.value)


def test_two_networks_may_have_the_same_prefix():
    topology = validate_text(NETWORKS.replace('10.0.10.0/24', '172.16.1.0/24'), 't.yml')
    assert topology.networks['lan'].ipv4 == topology.networks['net1'].ipv4


def test_the_same_mac_and_address_may_appear_in_two_different_networks():
    text = NETWORKS.replace('10.0.10.0/24', '172.16.1.0/24') + """\
interfaces:
  a: {network: net1, mac: 52:54:00:00:00:01, ipv4: 172.16.1.1, datapath: br0, port: p1}
  b: {network: lan, mac: 52:54:00:00:00:01, ipv4: 172.16.1.1, datapath: br0, port: p2}
"""
    assert len(validate_text(text, 't.yml').interfaces) == 2


def test_load_topology_reads_a_file(tmp_path):
    path = tmp_path / 'x.yml'
    path.write_text(EXAMPLE)
    assert load_topology(str(path)) == validate_text(EXAMPLE, str(path))


# -- default VNIs -------------------------------------------------------------------

def test_every_network_gets_a_vni_derived_from_its_name():
    topology = validate_text(NETWORKS, 't.yml')
    assert {n.name: n.vni for n in topology.networks.values()} == {
        name: default_vni(name) for name in ('net1', 'net2', 'lan')}


def test_a_default_vni_does_not_change_when_another_network_is_added():
    before = validate_text(NETWORKS, 't.yml').networks
    after = validate_text(NETWORKS + '  net0:\n    ipv4: 10.9.0.0/16\n', 't.yml').networks
    assert [after[name].vni for name in before] == [before[name].vni for name in before]


def test_an_explicit_vni_is_kept_and_wins_over_a_colliding_default():
    taken = default_vni('net2')
    text = NETWORKS.replace('    ipv4: 172.16.1.0/24\n', f'    ipv4: 172.16.1.0/24\n    vni: {taken}\n')
    networks = validate_text(text, 't.yml').networks
    assert networks['net1'].vni == taken
    assert networks['net2'].vni == taken + 1


def test_colliding_defaults_are_resolved_in_name_order():
    vnis = assign_vnis({'x': default_vni('a')}, ['b', 'a'])
    assert vnis['a'] == default_vni('a') + 1 and vnis['b'] == default_vni('b')
    assert assign_vnis({'x': 2 ** 24 - 1}, []) == {}


def test_default_vnis_are_valid_vxlan_ids():
    assert all(1 <= default_vni(name) < 2 ** 24 for name in ('a', 'net1', 'x' * 64))


# -- general rules ------------------------------------------------------------------

def test_an_unknown_top_level_key_is_rejected_listing_the_allowed_keys():
    only_problem(NETWORKS + 'colours: {}  # <-\n', 'colours',
                 'unknown key; allowed keys here: datapaths, networks, interfaces, route_links')


def test_an_unknown_key_in_an_entry_is_rejected_with_a_suggestion():
    only_problem(NETWORKS + '    lease: 3600  # <-\n', 'networks.lan.lease',
                 'unknown key; did you mean lease_time? allowed keys here: ipv4, mode, vni')


def test_a_section_that_is_not_a_mapping_is_rejected():
    only_problem('networks:\n  - net1  # <-\n', 'networks',
                 'expected a mapping of names to networks; found a list')


def test_an_entry_that_is_not_a_mapping_is_rejected():
    only_problem('datapaths:\n  br0: 1  # <-\n', 'datapaths.br0',
                 'expected a mapping with the keys dpid, tunnel_ip, tunnel_port; found the integer 1')


def test_an_empty_entry_is_rejected_once_not_once_per_missing_key():
    only_problem('interfaces:\n  vm1:  # <-\n', 'interfaces.vm1', 'found nothing (null)')


@pytest.mark.parametrize('name, fragment', [
    ('"br 0"', "'br 0' is not a valid name"),
    ('-br0', "'-br0' is not a valid name"),
    ('"x' + 'y' * 64 + '"', 'is 65 characters long; at most 64 allowed'),
    ('1', 'names must be strings; found the integer 1; quote it ("1")'),
    ('true', 'names must be strings; found the boolean true'),
])
def test_a_badly_formed_name_is_rejected(name, fragment):
    shown = yaml.safe_load(name)
    shown = str(shown).lower() if isinstance(shown, bool) else str(shown)
    only_problem(f'datapaths:\n  {name}:  # <-\n    dpid: 1\n', f'datapaths.{shown}', fragment)


def test_a_name_of_64_characters_is_fine():
    assert validate_text(f'datapaths:\n  {"a" * 64}: {{dpid: 1}}\n', 't.yml').datapaths


def test_a_yaml_syntax_error_is_reported_with_its_line():
    found = problems('datapaths:\n  br0:\n    dpid: 1: 2\n')
    assert [str(p) for p in found] == ['t.yml:3: invalid YAML: mapping values are not allowed here']


def test_a_duplicate_key_is_reported_with_both_lines():
    only_problem(NETWORKS + '  net1:  # <-\n    ipv4: 10.1.0.0/16\n', 'networks.net1',
                 'duplicate key (first at line 5)')


def test_a_top_level_that_is_not_a_mapping_is_rejected():
    only_problem('- datapaths  # <-\n', '', 'the top level must be a mapping')


def test_several_problems_are_reported_at_once_in_line_order():
    text = """\
datapaths:
  br0:
    dpid: 0
networks:
  net1:
    ipv4: 172.16.1.5/24
interfaces:
  vm1:
    network: net1
    mac: ff:ff:ff:ff:ff:ff
    colour: blue
"""
    assert [(p.line, p.path) for p in problems(text)] == [
        (3, 'datapaths.br0.dpid'), (6, 'networks.net1.ipv4'), (8, 'interfaces.vm1.datapath'),
        (8, 'interfaces.vm1.port'), (10, 'interfaces.vm1.mac'), (11, 'interfaces.vm1.colour')]


def test_a_problem_reads_file_line_path_and_message():
    text = interface("""\
  vm1:
    network: net1
    mac: 52:54:00:0d:84:01
    ipv4: 172.16.2.5  # <-
    datapath: br0
    port: veth1
""")
    problem = only_problem(text, 'interfaces.vm1.ipv4', '')
    assert str(problem) == (f't.yml:{marked_line(text)}: interfaces.vm1.ipv4: '
                            '172.16.2.5 is outside network net1 (172.16.1.0/24)')


# -- datapaths ----------------------------------------------------------------------

def test_a_datapath_without_a_dpid_is_rejected_at_its_name():
    only_problem('datapaths:\n  br0:  # <-\n    tunnel_ip: 192.0.2.1\n', 'datapaths.br0.dpid',
                 'missing; expected an integer or a "0x..." hexadecimal string')


def test_a_datapath_with_an_empty_dpid_is_rejected():
    only_problem('datapaths:\n  br0:\n    dpid:  # <-\n', 'datapaths.br0.dpid', 'is empty; expected')


def test_a_dpid_string_that_is_not_hex_is_rejected_with_a_hint():
    only_problem('datapaths:\n  br0:\n    dpid: "0000000000000001"  # <-\n', 'datapaths.br0.dpid',
                 'is not a datapath id; write an integer (1) or a "0x..." hexadecimal string ("0x1"); '
                 'did you mean "0x0000000000000001"?')


@pytest.mark.parametrize('dpid', ['0', '-1', '0x10000000000000000', '"0x0"'])
def test_a_dpid_out_of_range_is_rejected(dpid):
    only_problem(f'datapaths:\n  br0:\n    dpid: {dpid}  # <-\n', 'datapaths.br0.dpid',
                 'is out of range; expected 1 to 2**64-1')


@pytest.mark.parametrize('dpid, found', [('1.5', 'the number 1.5'), ('true', 'the boolean true'),
                                         ('[1]', 'a list')])
def test_a_dpid_of_the_wrong_kind_is_rejected(dpid, found):
    only_problem(f'datapaths:\n  br0:\n    dpid: {dpid}  # <-\n', 'datapaths.br0.dpid', f'; found {found}')


def test_two_datapaths_with_the_same_dpid_are_rejected_at_the_second():
    only_problem('datapaths:\n  br0: {dpid: 0x1}\n  br1: {dpid: 1}  # <-\n', 'datapaths.br1.dpid',
                 'datapath id 0x1 is already used by datapath br0')


@pytest.mark.parametrize('value', ['192.0.2.300', '192.0.2.1/24', '3232235777', 'fe80::1'])
def test_a_tunnel_ip_that_is_not_an_ipv4_address_is_rejected(value):
    only_problem(f'datapaths:\n  br0:\n    dpid: 1\n    tunnel_ip: {value}  # <-\n',
                 'datapaths.br0.tunnel_ip', 'IPv4 address like 192.0.2.1')


# -- networks -----------------------------------------------------------------------

def test_a_network_without_ipv4_is_rejected():
    only_problem('networks:\n  net1:  # <-\n    mode: virtual\n', 'networks.net1.ipv4',
                 'missing; expected an IPv4 prefix like 172.16.1.0/24')


def test_a_network_prefix_with_host_bits_set_suggests_the_right_one():
    only_problem('networks:\n  net1:\n    ipv4: 172.16.1.5/24  # <-\n', 'networks.net1.ipv4',
                 '172.16.1.5/24 has host bits set; did you mean 172.16.1.0/24?')


def test_a_network_prefix_without_a_length_is_rejected():
    only_problem('networks:\n  net1:\n    ipv4: 172.16.1.0  # <-\n', 'networks.net1.ipv4',
                 "'172.16.1.0' has no prefix length")


@pytest.mark.parametrize('prefix', ['172.16.1.0/31', '172.16.1.1/32'])
def test_a_network_too_small_for_any_interface_is_rejected(prefix):
    only_problem(f'networks:\n  net1:\n    ipv4: {prefix}  # <-\n', 'networks.net1.ipv4',
                 'the prefix length must be at most /30')


def test_a_network_prefix_may_be_written_with_a_netmask():
    text = 'networks:\n  net1:\n    ipv4: 172.16.1.0/255.255.255.0\n'
    assert str(validate_text(text, 't.yml').networks['net1'].ipv4) == '172.16.1.0/24'


def test_an_unknown_network_mode_is_rejected():
    only_problem('networks:\n  net1:\n    ipv4: 10.0.0.0/8\n    mode: bridged  # <-\n', 'networks.net1.mode',
                 "expected one of virtual, physical; found the string 'bridged'")


@pytest.mark.parametrize('vni', ['0', '16777216', '"5"'])
def test_a_vni_outside_24_bits_or_not_an_integer_is_rejected(vni):
    only_problem(f'networks:\n  net1:\n    ipv4: 10.0.0.0/8\n    vni: {vni}  # <-\n', 'networks.net1.vni',
                 'a VXLAN network identifier from 1 to 16777215')


def test_two_networks_with_the_same_vni_are_rejected():
    only_problem('networks:\n  a: {ipv4: 10.0.0.0/8, vni: 7}\n  b: {ipv4: 10.0.0.0/8, vni: 7}  # <-\n',
                 'networks.b.vni', 'vni 7 is already used by network a')


def test_dns_servers_must_be_a_list():
    only_problem('networks:\n  a:\n    ipv4: 10.0.0.0/8\n    dns_servers: 10.0.0.53  # <-\n',
                 'networks.a.dns_servers', 'expected a list, each item an IPv4 address')


def test_a_bad_dns_server_is_reported_with_its_index_and_line():
    only_problem('networks:\n  a:\n    ipv4: 10.0.0.0/8\n    dns_servers:\n      - 10.0.0.53\n'
                 '      - dns.example  # <-\n', 'networks.a.dns_servers[1]',
                 "'dns.example' is not an IPv4 address")


@pytest.mark.parametrize('name', ['-bad.example', 'a..b', 'x' * 64 + '.example', 'under_score.example', '7'])
def test_a_domain_name_that_is_not_a_dns_name_is_rejected(name):
    only_problem(f'networks:\n  a:\n    ipv4: 10.0.0.0/8\n    domain_name: {name}  # <-\n',
                 'networks.a.domain_name', 'domain name')


@pytest.mark.parametrize('lease, fragment', [('59', '59 is out of range'), ('1.5', 'found the number 1.5'),
                                             ('4294967296', 'out of range')])
def test_a_lease_time_below_a_minute_or_not_an_integer_is_rejected(lease, fragment):
    only_problem(f'networks:\n  a:\n    ipv4: 10.0.0.0/8\n    lease_time: {lease}  # <-\n',
                 'networks.a.lease_time', fragment)


# -- interfaces ---------------------------------------------------------------------

def test_an_interface_without_a_network_is_rejected():
    only_problem(interface('  vm1:  # <-\n    mac: 52:54:00:00:00:01\n    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.network', 'missing; expected the name of a network')


def test_an_interface_on_an_undefined_network_is_rejected_with_a_suggestion():
    only_problem(interface('  vm1:\n    network: nett1  # <-\n    mac: 52:54:00:00:00:01\n'
                           '    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.network', 'network nett1 is not defined; did you mean net1?')


def test_an_undefined_network_lists_the_defined_ones_when_nothing_is_close():
    only_problem(interface('  vm1:\n    network: zzzzzz  # <-\n    mac: 52:54:00:00:00:01\n'
                           '    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.network', 'network zzzzzz is not defined; defined networks: lan, net1, net2')


def test_an_interface_without_a_mac_is_rejected():
    only_problem(interface('  vm1:  # <-\n    network: net1\n    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.mac', 'missing; expected a unicast MAC address like 52:54:00:12:34:56')


@pytest.mark.parametrize('mac, fragment', [
    ('52:54:00:00:01', 'is not a MAC address; expected six colon-separated hex octets'),
    ('52-54-00-00-00-01', 'is not a MAC address'),
    ('01:00:5e:00:00:01', '01:00:5e:00:00:01 is a multicast address (the low bit of the first octet is set)'),
    ('FF:FF:FF:FF:FF:FF', 'ff:ff:ff:ff:ff:ff is the broadcast address'),
    ('00:00:00:00:00:00', '00:00:00:00:00:00 is not a usable MAC address'),
    ('525400000001', 'expected a unicast MAC address like 52:54:00:12:34:56; found the integer 525400000001'),
])
def test_a_mac_that_is_not_a_unicast_address_is_rejected(mac, fragment):
    only_problem(interface(f'  vm1:\n    network: net1\n    mac: {mac}  # <-\n    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.mac', fragment)


def test_a_mac_in_upper_case_is_stored_in_lower_case():
    text = interface('  vm1: {network: net1, mac: 52:54:00:AB:CD:EF, datapath: br0, port: p1}\n')
    assert validate_text(text, 't.yml').interfaces['vm1'].mac == '52:54:00:ab:cd:ef'


def test_the_same_mac_twice_in_one_network_is_rejected_naming_the_first():
    only_problem(interface('  a: {network: net1, mac: 52:54:00:00:00:01, datapath: br0, port: p1}\n'
                           '  b:\n    network: net1\n    mac: 52:54:00:00:00:01  # <-\n'
                           '    datapath: br0\n    port: p2\n'),
                 'interfaces.b.mac', '52:54:00:00:00:01 is already the MAC of interface a in network net1')


def test_an_unknown_interface_mode_is_rejected():
    only_problem(interface('  vm1:\n    network: net1\n    mac: 52:54:00:00:00:01\n    mode: virtual  # <-\n'),
                 'interfaces.vm1.mode', "expected one of vif, simulated, host; found the string 'virtual'")


def test_a_simulated_interface_needs_an_address():
    only_problem(interface('  gw:  # <-\n    network: net1\n    mode: simulated\n    mac: 52:54:00:00:00:01\n'),
                 'interfaces.gw.ipv4', 'missing; expected an IPv4 address')


def test_an_interface_address_outside_its_network_is_rejected_with_its_line():
    only_problem(interface('  vm1:\n    network: net1\n    mac: 52:54:00:00:00:01\n'
                           '    ipv4: 172.16.2.5  # <-\n    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.ipv4', '172.16.2.5 is outside network net1 (172.16.1.0/24)')


@pytest.mark.parametrize('address, which', [('172.16.1.0', 'network'), ('172.16.1.255', 'broadcast')])
def test_the_network_and_broadcast_addresses_are_not_interface_addresses(address, which):
    only_problem(interface(f'  vm1:\n    network: net1\n    mac: 52:54:00:00:00:01\n'
                           f'    ipv4: {address}  # <-\n    datapath: br0\n    port: p1\n'),
                 'interfaces.vm1.ipv4', f'{address} is the {which} address of net1 (172.16.1.0/24)')


def test_the_same_address_twice_in_one_network_is_rejected():
    only_problem(interface('  a: {network: net1, mac: 52:54:00:00:00:01, ipv4: 172.16.1.9, datapath: br0, port: p1}\n'
                           '  b: {network: net1, mac: 52:54:00:00:00:02, ipv4: 172.16.1.9, datapath: br0, port: p2}  # <-\n'),
                 'interfaces.b.ipv4', '172.16.1.9 is already the address of interface a in network net1')


@pytest.mark.parametrize('missing', ['datapath', 'port'])
def test_a_vif_interface_needs_a_datapath_and_a_port(missing):
    body = {'datapath': '    datapath: br0\n', 'port': '    port: p1\n'}
    del body[missing]
    only_problem(interface('  vm1:  # <-\n    network: net1\n    mac: 52:54:00:00:00:01\n' + ''.join(body.values())),
                 f'interfaces.vm1.{missing}', 'missing; expected')


def test_a_host_interface_needs_a_datapath_and_a_port_too():
    found = problems(interface('  up:\n    network: lan\n    mode: host\n    mac: 52:54:00:00:00:01\n'))
    assert [p.path for p in found] == ['interfaces.up.datapath', 'interfaces.up.port']


def test_an_interface_on_an_undefined_datapath_is_rejected():
    only_problem(interface('  vm1:\n    network: net1\n    mac: 52:54:00:00:00:01\n'
                           '    datapath: br1  # <-\n    port: p1\n'),
                 'interfaces.vm1.datapath', 'datapath br1 is not defined; did you mean br0?')


@pytest.mark.parametrize('port, fragment', [
    ('1', 'expected an OVS port name, not a port number; found the integer 1 (quote it, "1", if that is the name)'),
    ('"' + 'p' * 65 + '"', 'expected a port name (a string of at most 64 characters)'),
    ('[p1]', 'found a list'),
])
def test_a_port_must_be_a_port_name(port, fragment):
    only_problem(interface(f'  vm1:\n    network: net1\n    mac: 52:54:00:00:00:01\n'
                           f'    datapath: br0\n    port: {port}  # <-\n'),
                 'interfaces.vm1.port', fragment)


def test_two_interfaces_on_the_same_port_of_a_datapath_are_rejected():
    only_problem(interface('  a: {network: net1, mac: 52:54:00:00:00:01, datapath: br0, port: veth1}\n'
                           '  b: {network: net2, mac: 52:54:00:00:00:02, datapath: br0, port: veth1}  # <-\n'),
                 'interfaces.b.port', 'port veth1 on datapath br0 is already interface a')


@pytest.mark.parametrize('key, value', [('datapath', 'br0'), ('port', 'p1')])
def test_a_simulated_interface_has_no_datapath_or_port(key, value):
    only_problem(interface(f'  gw:\n    network: net1\n    mode: simulated\n    mac: 52:54:00:00:00:01\n'
                           f'    ipv4: 172.16.1.254\n    {key}: {value}  # <-\n'),
                 f'interfaces.gw.{key}', f'a simulated interface has no {key}: the controller answers for it; '
                                         f'remove {key}')


def test_services_on_a_vif_interface_are_rejected():
    only_problem(interface('  vm1:\n    network: net1\n    mac: 52:54:00:00:00:01\n    datapath: br0\n'
                           '    port: p1\n    services: [dhcp]  # <-\n'),
                 'interfaces.vm1.services', 'services are for simulated interfaces only, and this one is vif')


@pytest.mark.parametrize('services, path, fragment', [
    ('[dhcp, nat]', 'services[1]', "expected one of dhcp, router, dns; found the string 'nat'"),
    ('[router, router]', 'services[1]', 'router is listed twice'),
    ('router', 'services', 'expected a list, each item one of dhcp, router'),
])
def test_services_are_a_list_of_distinct_known_services(services, path, fragment):
    only_problem(interface('  gw:\n    network: net1\n    mode: simulated\n    mac: 52:54:00:00:00:01\n'
                           f'    ipv4: 172.16.1.254\n    services: {services}  # <-\n'),
                 f'interfaces.gw.{path}', fragment)


def test_a_network_may_have_several_router_interfaces():
    topology = validate_text(ROUTERS + '  gw-b: {network: net1, mode: simulated, '
                             'mac: 52:54:00:00:00:7b, ipv4: 172.16.1.250, services: [router]}\n')
    assert topology.interfaces['gw-b'].services == ('router',)


@pytest.mark.parametrize('service', ['dhcp'])
def test_a_network_has_at_most_one_dhcp_interface_and_the_error_names_the_other(service):
    only_problem(interface(f'  a: {{network: net1, mode: simulated, mac: 52:54:00:00:00:01, ipv4: 172.16.1.1, '
                           f'services: [{service}]}}\n'
                           f'  b: {{network: net1, mode: simulated, mac: 52:54:00:00:00:02, ipv4: 172.16.1.2, '
                           f'services: [{service}]}}  # <-\n'),
                 'interfaces.b.services', f'network net1 already has a {service} interface, a; at most one per network')


def test_a_host_interface_on_a_virtual_network_is_rejected():
    only_problem(interface('  up:\n    network: net1\n    mode: host  # <-\n    mac: 52:54:00:00:00:01\n'
                           '    datapath: br0\n    port: br0\n'),
                 'interfaces.up.mode', 'host interfaces belong to physical networks, and network net1 is virtual')


# -- route links --------------------------------------------------------------------

def test_a_route_link_without_routes_is_rejected():
    only_problem(route_links('  rl1: {}  # <-\n'), 'route_links.rl1.routes',
                 'missing; expected a list of routes')


@pytest.mark.parametrize('routes', ['[]', '[{interface: net1-gw}]'])
def test_a_route_link_with_fewer_than_two_routes_is_rejected(routes):
    only_problem(route_links(f'  rl1:\n    routes: {routes}  # <-\n'), 'route_links.rl1.routes',
                 'needs at least two routes')


def test_a_route_that_is_not_a_mapping_is_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - net2-gw  # <-\n'),
                 'route_links.rl1.routes[1]', "expected a mapping with the keys interface, ipv4, gateway")


def test_a_route_to_an_undefined_interface_is_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: net1-gww  # <-\n'),
                 'route_links.rl1.routes[1].interface', 'interface net1-gww is not defined; did you mean net1-gw?')


def test_a_route_needs_a_simulated_router_interface():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: net1-dhcp  # <-\n'),
                 'route_links.rl1.routes[1].interface',
                 'interface net1-dhcp does not have the router service; add services: [router] to it')


def test_a_route_through_a_vif_interface_is_rejected():
    text = ROUTERS + '  vm1: {network: net2, mac: 52:54:00:00:00:01, datapath: br0, port: p1}\n' + \
        'route_links:\n  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: vm1  # <-\n'
    only_problem(text, 'route_links.rl1.routes[1].interface',
                 'interface vm1 is a vif interface; a route needs a simulated interface with the router service')


def test_the_same_interface_twice_in_a_route_link_is_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: net2-gw\n'
                             '      - interface: net1-gw  # <-\n        ipv4: 10.9.0.0/16\n'),
                 'route_links.rl1.routes[2].interface', 'interface net1-gw is already routes[0] of this route link')


def test_a_router_interface_in_two_route_links_is_rejected():
    only_problem(route_links('  rl1:\n    routes: [{interface: net1-gw}, {interface: net2-gw}]\n'
                             '  rl2:\n    routes:\n      - interface: lan-gw\n      - interface: net1-gw  # <-\n'),
                 'route_links.rl2.routes[1].interface', 'interface net1-gw is already in route link rl1')


def test_a_route_prefix_with_host_bits_set_is_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: net2-gw\n'
                             '        ipv4: 172.16.2.1/24  # <-\n'),
                 'route_links.rl1.routes[1].ipv4', 'did you mean 172.16.2.0/24?')


def test_a_route_prefix_beyond_the_interface_network_needs_a_gateway():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: lan-gw\n'
                             '        ipv4: 0.0.0.0/0  # <-\n'),
                 'route_links.rl1.routes[1].gateway',
                 'missing: 0.0.0.0/0 is beyond network lan (10.0.10.0/24) of interface lan-gw, '
                 'so the route needs a gateway inside 10.0.10.0/24')


def test_a_route_gateway_outside_the_interface_network_is_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: lan-gw\n'
                             '        ipv4: 0.0.0.0/0\n        gateway: 10.0.11.1  # <-\n'),
                 'route_links.rl1.routes[1].gateway',
                 '10.0.11.1 is outside network lan (10.0.10.0/24) of interface lan-gw')


def test_a_route_gateway_cannot_be_the_router_interface_itself():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: lan-gw\n'
                             '        ipv4: 0.0.0.0/0\n        gateway: 10.0.10.1  # <-\n'),
                 'route_links.rl1.routes[1].gateway', '10.0.10.1 is the address of interface lan-gw itself')


def test_a_prefix_inside_the_interface_network_needs_no_gateway():
    text = route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: lan-gw\n'
                       '        ipv4: 10.0.10.128/25\n')
    route = validate_text(text, 't.yml').route_links['rl1'].routes[1]
    assert route == Route('lan-gw', ipaddress.ip_network('10.0.10.128/25'))


def test_two_routes_to_the_same_prefix_in_a_route_link_are_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: net2-gw\n'
                             '        ipv4: 172.16.1.0/24  # <-\n        gateway: 172.16.2.1\n'),
                 'route_links.rl1.routes[1].ipv4', '172.16.1.0/24 is already routed to routes[0] (net1-gw)')


def test_a_route_link_mac_from_openvnet_is_refused_with_the_reason():
    only_problem(route_links('  rl1:\n    mac: 52:54:00:60:11:11  # <-\n'
                             '    routes: [{interface: net1-gw}, {interface: net2-gw}]\n'),
                 'route_links.rl1.mac', "router interfaces' own MACs; remove mac")


def test_an_unknown_key_in_a_route_is_rejected():
    only_problem(route_links('  rl1:\n    routes:\n      - interface: net1-gw\n      - interface: net2-gw\n'
                             '        via: 172.16.2.1  # <-\n'),
                 'route_links.rl1.routes[1].via', 'unknown key; allowed keys here: interface, ipv4, gateway')


# -- reading files ------------------------------------------------------------------

def test_an_unreadable_file_is_a_problem_naming_the_file(tmp_path):
    with pytest.raises(TopologyError) as caught:
        validate_file(str(tmp_path / 'missing.yml'))
    assert [str(p) for p in caught.value.problems] == [
        f'{tmp_path / "missing.yml"}: cannot read the file: No such file or directory']


def test_a_file_that_is_not_utf8_is_a_problem_with_its_line(tmp_path):
    path = tmp_path / 'latin1.yml'
    path.write_bytes(b'datapaths:\n  caf\xe9: {dpid: 1}\n')
    with pytest.raises(TopologyError) as caught:
        validate_file(str(path))
    assert caught.value.problems == [Problem(str(path), 2, '', 'not UTF-8 text (byte 0xe9)')]


def test_a_byte_order_mark_is_tolerated(tmp_path):
    path = tmp_path / 'bom.yml'
    path.write_bytes('\ufeffdatapaths:\n  br0: {dpid: 1}\n'.encode())
    assert validate_file(str(path)).datapaths['br0'].dpid == 1


# -- vnetctl ------------------------------------------------------------------------

def test_vnetctl_check_prints_a_summary_and_exits_0_for_valid_files(tmp_path, capsys):
    path = tmp_path / 'good.yml'
    path.write_text(EXAMPLE)
    assert vnetctl.main(['check', str(path)]) == 0
    assert capsys.readouterr().out == f'{path}: ok — 1 datapath, 3 networks, 7 interfaces, 1 route link\n'


def test_vnetctl_check_prints_every_problem_and_exits_1_if_any_file_is_bad(tmp_path, capsys):
    good, bad = tmp_path / 'good.yml', tmp_path / 'bad.yml'
    good.write_text('datapaths: {}\n')
    bad.write_text('datapaths:\n  br0: {dpid: 0}\n  br1: {}\n')
    assert vnetctl.main(['check', str(bad), str(good)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f'{bad}:2: datapaths.br0.dpid: datapath id 0 is out of range; expected 1 to 2**64-1',
        f'{bad}:3: datapaths.br1.dpid: missing; expected an integer or a "0x..." hexadecimal string, from 1 to 2**64-1',
        f'{good}: ok — 0 datapaths, 0 networks, 0 interfaces, 0 route links']


def test_vnetctl_without_a_command_or_files_is_a_usage_error(capsys):
    assert vnetctl.main([]) == 2
    assert vnetctl.main(['check']) == 2


def test_vnetctl_check_help_shows_an_example_and_exits_0(capsys):
    assert vnetctl.main(['check', '--help']) == 0
    assert 'example:' in capsys.readouterr().out


# -- nothing but TopologyError ------------------------------------------------------

@pytest.mark.parametrize('text', [
    'datapaths: [1, 2]\n', 'datapaths:\n  br0: [dpid]\n', 'networks:\n  n: {ipv4: [1]}\n',
    'interfaces:\n  i: {network: [n], mac: {a: 1}, mode: [vif], services: {dhcp: 1}}\n',
    'interfaces:\n  i: {network: n, mac: 52:54:00:00:00:01, mode: 3, datapath: 5, port: null}\n',
    'route_links:\n  r: {routes: {interface: x}}\n', 'route_links:\n  r: {routes: [1, null, [], {interface: 5}]}\n',
    'networks: {n: {ipv4: 10.0.0.0/8}}\ninterfaces: {i: {network: n, mac: 1, ipv4: 1.5}}\n',
    '? {a: 1}\n: 2\n', '1: 2\n', 'datapaths:\n  ? [1]\n  : 2\n', 'null: 1\n', '.inf: 1\n',
])
def test_values_of_the_wrong_kind_anywhere_give_only_topology_errors(text):
    with pytest.raises(TopologyError):
        validate_text(text, 't.yml')


def _outcome(text):
    try:
        return validate_text(text, 'h.yml')
    except TopologyError as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
        assert all(str(p).startswith('h.yml') for p in exc.problems)
        return exc


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 65, 2 ** 65), st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(['net1', 'net2', 'lan', 'br0', 'net1-gw', 'lan-gw', 'vm1', 'vif', 'simulated', 'host',
                     'physical', 'virtual', 'dhcp', 'router', '0x1', '172.16.1.1', '172.16.1.0/24',
                     '0.0.0.0/0', '10.0.10.254', '52:54:00:00:00:01', 'veth1']))
KEYS = st.sampled_from(['datapaths', 'networks', 'interfaces', 'route_links', 'dpid', 'tunnel_ip', 'ipv4',
                        'mode', 'vni', 'dns_servers', 'domain_name', 'lease_time', 'network', 'mac',
                        'datapath', 'port', 'services', 'routes', 'interface', 'gateway', 'net1', 'vm1'])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS | SCALARS.filter(lambda v: v == v), inner, max_size=4),
                      max_leaves=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, st.dictionaries(KEYS, VALUES, max_size=4) | VALUES, max_size=5))
def test_random_structures_give_a_topology_or_a_topology_error(structure):
    _outcome(yaml.safe_dump(structure, allow_unicode=True))


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 6))
def test_mutated_valid_files_give_a_topology_or_a_topology_error(rnd, mutations):
    lines = EXAMPLE.splitlines()
    for _ in range(mutations):
        index = rnd.randrange(len(lines))
        action = rnd.choice(['drop', 'copy', 'swap', 'char', 'value'])
        if action == 'drop':
            del lines[index]
        elif action == 'copy':
            lines.insert(rnd.randrange(len(lines)), lines[index])
        elif action == 'swap':
            other = rnd.randrange(len(lines))
            lines[index], lines[other] = lines[other], lines[index]
        elif action == 'char' and lines[index]:
            at = rnd.randrange(len(lines[index]))
            lines[index] = lines[index][:at] + rnd.choice(string.printable) + lines[index][at + 1:]
        elif ':' in lines[index]:
            key = lines[index].split(':')[0]
            lines[index] = f'{key}: {rnd.choice(["[]", "{}", "~", "0", "x", "-1", "[a, b]", "0x1", "10.0.10.9"])}'
        if not lines:
            lines = ['']
    _outcome('\n'.join(lines) + '\n')


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('abc:-[]{}!&*?|>#\'"., \n\t01x')), max_size=60))
def test_random_text_gives_a_topology_or_a_topology_error(text):
    _outcome(text)


def test_the_fuzzing_starts_from_a_valid_example():
    assert isinstance(_outcome(EXAMPLE), Topology)


# -- a generated topology at scale ------------------------------------------------------

def scale_topology(vifs, per_network=100):
    """The topology bench/scale generates (lab.topogen): networks of `per_network` vifs on
    br0, each network with a simulated gateway (router) and a simulated DHCP interface."""
    return topology_text(Spec(vifs, per_network, dpid=0x5ca1e0000000))


def test_a_generated_topology_of_2000_interfaces_loads_into_the_expected_model(tmp_path):
    path = tmp_path / 'scale.yml'
    path.write_text(scale_topology(2000))
    topology = validate_file(str(path))

    assert topology.source == str(path)
    assert topology.datapaths == {'br0': Datapath('br0', 0x5ca1e0000000)}
    names = [f'n{i}' for i in range(20)]
    vnis = assign_vnis({}, names)
    assert topology.networks == {
        name: Network(name, ipaddress.ip_network(f'10.0.{i}.0/24'), 'virtual', vnis[name])
        for i, name in enumerate(names)}
    assert len(set(vnis.values())) == 20
    expected = {}
    for k in range(2000):
        net, host = divmod(k, 100)
        expected[f'vm{k}'] = Interface(
            f'vm{k}', f'n{net}', f'52:54:00:00:{k >> 8:02x}:{k & 255:02x}',
            ipaddress.ip_address(f'10.0.{net}.{host + 1}'), 'vif', 'br0', f'p{k}')
    for i in range(20):
        expected[f'n{i}-gw'] = Interface(f'n{i}-gw', f'n{i}', f'52:54:01:00:00:{i:02x}',
                                         ipaddress.ip_address(f'10.0.{i}.254'), 'simulated',
                                         services=('router',))
        expected[f'n{i}-dhcp'] = Interface(f'n{i}-dhcp', f'n{i}', f'52:54:02:00:00:{i:02x}',
                                           ipaddress.ip_address(f'10.0.{i}.253'), 'simulated',
                                           services=('dhcp',))
    assert topology.interfaces == expected
    assert list(topology.interfaces) == list(expected)      # file order is kept
    assert topology.route_links == {}
    # The same text read by the pure-Python YAML loader gives the same model.
    saved, yamlsource._CParser = yamlsource._CParser, None
    try:
        assert validate_text(path.read_text(), str(path)) == topology
    finally:
        yamlsource._CParser = saved


def test_problems_deep_in_a_generated_topology_name_their_lines():
    lines = scale_topology(2000).splitlines()
    last_mac = lines.index('    mac: 52:54:00:00:07:cf')      # vm1999's
    lines[last_mac] = '    mac: 52:54:00:00:07:CB   # the MAC of vm1995'
    typo = lines.index('  vm1500:') + 3
    assert lines[typo] == '    ipv4: 10.0.15.1'
    lines[typo] = '    ipv4: 10.0.15.300'
    found = problems('\n'.join(lines) + '\n')
    assert [(p.line, p.path) for p in found] == [(typo + 1, 'interfaces.vm1500.ipv4'),
                                                 (last_mac + 1, 'interfaces.vm1999.mac')]
    assert "'10.0.15.300' is not an IPv4 address" in found[0].message
    assert '52:54:00:00:07:cb is already the MAC of interface vm1995 in network n19' in found[1].message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    from controller.topology import validate
    monkeypatch.setattr(validate, 'MAX_FILE_BYTES', 1000)
    path = tmp_path / 'big.yml'
    path.write_text('datapaths: {}\n' + '#' * 2000 + '\n')
    with pytest.raises(TopologyError, match='larger than 0 MiB, the limit'):
        load_topology(str(path))


def test_the_message_of_a_file_with_many_problems_shows_the_first_fifty_and_counts_the_rest():
    text = 'datapaths:\n' + ''.join(f'  br{i}: {{dpid: 0}}\n' for i in range(80))
    with pytest.raises(TopologyError) as caught:
        validate_text(text, 't.yml')
    lines = str(caught.value).splitlines()
    assert len(caught.value.problems) == 80 and len(lines) == 51
    assert lines[-1] == '... and 30 more problems (vnetctl check lists them all)'
