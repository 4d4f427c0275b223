"""The `nat:` list of a route link: read, checked with file:line:key errors, modelled."""
import ipaddress

import pytest

from controller.topology import TopologyError, validate_text
from controller.topology import nat as nat_rules
from controller.topology.incremental import Revalidator
from controller.topology.model import Nat
from tests.unit.nat_topology import text

EDGE_NAT = """    nat:
      - {inside: 172.16.1.10, outside: 10.0.10.110}     # 1:1, a floating IP (both directions)
      - {inside: 172.16.1.0/24, outside: 10.0.10.100}   # many:1 source NAT (conntrack)
"""


def problems_of(source: str):
    with pytest.raises(TopologyError) as err:
        validate_text(source, 't.yml')
    return [(p.path, p.line, p.message) for p in err.value.problems]


def with_edge_nat(*rules: str) -> str:
    assert EDGE_NAT in text()
    return text().replace(EDGE_NAT, '    nat:\n' + ''.join(f'      - {r}\n' for r in rules))


def line_of(source: str, fragment: str) -> int:
    return next(n for n, line in enumerate(source.splitlines(), 1) if fragment in line)


def test_the_example_is_read_into_one_to_one_and_many_to_one_rules():
    topo = validate_text(text(), 't.yml')
    assert topo.route_links['edge'].nat == (
        Nat(ipaddress.IPv4Network('172.16.1.10/32'), ipaddress.IPv4Address('10.0.10.110')),
        Nat(ipaddress.IPv4Network('172.16.1.0/24'), ipaddress.IPv4Address('10.0.10.100')))
    assert [r.one_to_one for r in topo.route_links['edge'].nat] == [True, False]
    assert [(r.outside, e.name) for link in topo.route_links
            for r, e in nat_rules.edge_rules(topo, link)] == [
        (ipaddress.IPv4Address('10.0.10.110'), 'lan-gw'), (ipaddress.IPv4Address('10.0.10.100'), 'lan-gw'),
        (ipaddress.IPv4Address('10.0.10.103'), 'lan-gw3')]


def test_a_route_link_without_nat_has_none_and_null_counts_as_absent():
    assert validate_text(text().replace(EDGE_NAT, ''), 't.yml').route_links['edge'].nat == ()
    assert validate_text(text().replace(EDGE_NAT, '    nat:\n'), 't.yml').route_links['edge'].nat == ()


@pytest.mark.parametrize('rule, key, fragment', [
    ('{inside: 172.16.1.10, outside: 192.168.7.1}', 'outside',
     '192.168.7.1 is in no physical network of route link edge; the outside address belongs on one '
     'of: 10.0.10.0/24 (lan, via lan-gw)'),
    ('{inside: 172.16.1.10, outside: 10.0.10.11}', 'outside',
     '10.0.10.11 is already the address of interface uplink in network lan'),
    ('{inside: 172.16.1.10, outside: 10.0.10.1}', 'outside',
     '10.0.10.1 is already the address of interface lan-gw in network lan'),
    ('{inside: 172.16.1.10, outside: 10.0.10.255}', 'outside',
     '10.0.10.255 is not a host address of network lan (10.0.10.0/24)'),
    ('{inside: 172.16.9.0/24, outside: 10.0.10.120}', 'inside',
     '172.16.9.0/24 is not behind route link edge; inside addresses are in a prefix it routes through '
     'an interface other than the edge: 172.16.1.0/24 (via net1-gw)'),
    ('{inside: 172.16.1.255, outside: 10.0.10.120}', 'inside',
     '172.16.1.255 is the network or broadcast address of net1 (172.16.1.0/24), not a host'),
    ('{inside: 172.16.1.5/24, outside: 10.0.10.120}', 'inside',
     '172.16.1.5/24 has host bits set; did you mean 172.16.1.0/24 (many:1) or 172.16.1.5 (1:1)?'),
    ('{inside: 172.16.1.10, outside: 10.0.10.300}', 'outside', "'10.0.10.300' is not an IPv4 address"),
    ('{inside: 172.16.1.10}', 'outside', 'missing; expected an IPv4 address'),
    ('{inside: 172.16.1.10, outside: 10.0.10.120, port: 80}', 'port',
     'unknown key; allowed keys here: inside, outside'),
], ids=lambda v: v if v in ('inside', 'outside', 'port') else '')
def test_a_bad_rule_is_reported_at_its_line_and_key(rule, key, fragment):
    source = with_edge_nat(rule)
    found = problems_of(source)
    assert len(found) == 1, found
    path, line, message = found[0]
    assert (path, line) == (f'route_links.edge.nat[0].{key}', line_of(source, rule))
    assert fragment in message, message


def test_an_outside_address_serves_one_inside_even_across_route_links():
    source = text().replace('outside: 10.0.10.103', 'outside: 10.0.10.100')
    [(path, line, message)] = problems_of(source)
    last = max(n for n, text_line in enumerate(source.splitlines(), 1) if 'outside: 10.0.10.100' in text_line)
    assert (path, line) == ('route_links.edge3.nat[0].outside', last)
    assert message.startswith('10.0.10.100 is already the outside address of route_links.edge.nat[1]; '
                              'each outside address maps to one inside (overlapping inside networks '
                              'need different outside addresses)')


def test_one_inside_has_one_outside_per_route_link():
    source = with_edge_nat('{inside: 172.16.1.0/24, outside: 10.0.10.100}',
                           '{inside: 172.16.1.0/24, outside: 10.0.10.101}')
    assert problems_of(source) == [('route_links.edge.nat[1].inside', line_of(source, '10.0.10.101'),
                                    '172.16.1.0/24 is already the inside of nat[0] of this route link; '
                                    'one inside, one outside')]


def test_nat_needs_a_route_link_that_reaches_a_physical_network():
    lan = '  lan:\n    ipv4: 10.0.10.0/24\n    mode: physical\n'
    assert lan in text()
    source = text().replace(lan, '  lan:\n    ipv4: 10.0.10.0/24\n')        # the LAN made virtual
    found = {(path, message) for path, _, message in problems_of(source)
             if path == 'route_links.edge.nat[0].outside'}
    assert found == {('route_links.edge.nat[0].outside',
                      '10.0.10.110 is in no physical network of route link edge; NAT needs a route '
                      'link with an interface on a physical network')}


def test_nat_is_not_a_list_of_mappings():
    source = text().replace(EDGE_NAT, '    nat: 10.0.10.100\n')
    [(path, _, message)] = problems_of(source)
    assert path == 'route_links.edge.nat'
    assert message == "expected a list of NAT rules, each with inside and outside; found the string '10.0.10.100'"


def test_conntrack_zones_come_from_the_route_link_name_and_collisions_are_refused(monkeypatch):
    assert nat_rules.nat_zone('edge') == nat_rules.nat_zone('edge')
    zones = {nat_rules.nat_zone(f'link{n}') for n in range(200)}
    assert min(zones) >= 0x8000 and max(zones) <= 0xffff and len(zones) > 190
    monkeypatch.setattr(nat_rules, 'nat_zone', lambda link: 0x8123)
    [(path, _, message)] = problems_of(text())
    assert path == 'route_links.edge3.nat'
    assert message == ('route links edge and edge3 both get conntrack zone 0x8123 from their names; '
                       'rename one of them')


def test_an_interface_edit_that_takes_an_outside_address_is_refused_by_the_fast_path_too():
    revalidator = Revalidator('t.yml')
    revalidator.load(text())
    edited = text().replace('ipv4: 10.0.10.11\n', 'ipv4: 10.0.10.110\n')
    with pytest.raises(TopologyError) as err:
        revalidator.load(edited)
    assert [p.path for p in err.value.problems] == ['route_links.edge.nat[0].outside']
    # an unrelated interface edit still takes the fast path
    revalidator.load(text())
    fast = revalidator.fast_loads
    revalidator.load(text().replace('ipv4: 172.16.1.20\n', 'ipv4: 172.16.1.21\n'))
    assert revalidator.fast_loads == fast + 1
