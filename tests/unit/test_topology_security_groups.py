"""The security_groups section: reading, checking with file:line:key, tags and
zones that edits leave alone, and the fast revalidation path around it."""
import ipaddress

import pytest

from controller.topology import TopologyError, validate_text
from controller.topology.diff import affected_datapaths
from controller.topology.incremental import Revalidator
from controller.topology.security_groups import make_rule, sg_zones

HEAD = '''datapaths:
  br0: {dpid: 0x1}
  br1: {dpid: 0x2, tunnel_ip: 198.18.0.2}
networks:
  net1: {ipv4: 172.16.1.0/24}
  net2: {ipv4: 172.16.2.0/24}
'''
GROUPS = '''security_groups:
  web:
    ingress:
      - {proto: tcp, ports: 80, from: 0.0.0.0/0}
      - {proto: tcp, ports: 8000-8100, from_group: app}
  app: {}
'''
IFACES = '''interfaces:
  web1:
    network: net1
    mac: 52:54:00:00:01:01
    ipv4: 172.16.1.1
    datapath: br0
    port: p1
    security_groups: [web]
  app1:
    network: net2
    mac: 52:54:00:00:02:01
    ipv4: 172.16.2.1
    datapath: br1
    port: p2
    security_groups: [app]
  plain:
    network: net1
    mac: 52:54:00:00:01:03
    ipv4: 172.16.1.3
    datapath: br0
    port: p3
'''


def problems(text):
    with pytest.raises(TopologyError) as e:
        validate_text(text, 'sg.yml')
    return [str(p) for p in e.value.problems]


def test_groups_default_to_no_ingress_and_all_egress_and_interfaces_name_them():
    t = validate_text(HEAD + GROUPS + IFACES, 'sg.yml')
    app = t.security_groups['app']
    assert app.ingress == () and len(app.egress) == 1
    assert (app.egress[0].proto, app.egress[0].cidr, app.egress[0].group) == (None, None, None)
    web = t.security_groups['web']
    assert [(r.proto, r.port_min, r.port_max, r.group) for r in web.ingress] == [
        (6, 80, 80, None), (6, 8000, 8100, 'app')]
    assert t.interfaces['web1'].security_groups == ('web',)
    assert t.interfaces['plain'].security_groups == ()
    assert [i.name for i in t.members_of('app')] == ['app1']


@pytest.mark.parametrize('rule, expected', [
    ('{proto: tcp, ports: 90-80}', 'sg.yml:10: security_groups.web.ingress[0].ports: the range 90-80 runs backwards'),
    ('{proto: tcpp}', 'sg.yml:10: security_groups.web.ingress[0].proto: expected one of any, icmp, tcp, udp'),
    ('{proto: icmp, ports: 8}', 'sg.yml:10: security_groups.web.ingress[0].ports: ports need proto tcp or udp'),
    ('{proto: udp, ports: 70000}', 'sg.yml:10: security_groups.web.ingress[0].ports: 70000 is not a port'),
    ('{from: 10.0.0.1/8}', 'sg.yml:10: security_groups.web.ingress[0].from: 10.0.0.1/8 has host bits set; '
                           'did you mean 10.0.0.0/8?'),
    ('{from: 10.0.0.0/8, from_group: app}', 'sg.yml:10: security_groups.web.ingress[0].from_group: a rule '
                                            'takes from or from_group, not both'),
    ('{from_group: apq}', 'sg.yml:10: security_groups.web.ingress[0].from_group: security group apq is not '
                          'defined; did you mean app?'),
    ('{to: 10.0.0.0/8}', 'sg.yml:10: security_groups.web.ingress[0].to: unknown key; allowed keys here: '
                         'proto, ports, from, from_group'),
])
def test_a_bad_rule_is_reported_with_file_line_and_key(rule, expected):
    text = HEAD + f'security_groups:\n  web:\n    ingress:\n      - {rule}\n  app: {{}}\n' + IFACES
    assert any(p.startswith(expected) for p in problems(text)), problems(text)


def test_an_unknown_group_and_a_group_on_a_simulated_interface_are_refused():
    text = HEAD + GROUPS + IFACES.replace('security_groups: [app]', 'security_groups: [apps]') + '''  gw:
    network: net1
    mode: simulated
    mac: 52:54:00:00:01:fe
    ipv4: 172.16.1.254
    security_groups: [web]
'''
    found = problems(text)
    assert any(p.startswith('sg.yml:27: interfaces.app1.security_groups: security group apps is not '
                            'defined; did you mean app?') for p in found), found
    assert any('interfaces.gw.security_groups: security groups filter vif ports, and this interface '
               'is simulated' in p for p in found), found


def test_egress_takes_all_none_or_a_list_and_nothing_else():
    found = problems(HEAD + 'security_groups:\n  web: {egress: some}\n' + IFACES.replace(
        ', security_groups: [web]', '').replace('security_groups: [app]', 'security_groups: [web]')
        .replace('    security_groups: [web]\n  app1', '  app1'))
    assert any("security_groups.web.egress: 'some' is not a list of rules; write all, none" in p
               for p in found), found


def test_a_rules_tag_depends_on_its_group_and_content_not_its_place():
    a = make_rule('web', 'ingress', 6, 80, 80, ipaddress.IPv4Network('10.0.0.0/8'))
    assert a.tag == make_rule('web', 'ingress', 6, 80, 80, ipaddress.IPv4Network('10.0.0.0/8')).tag
    assert a.tag != make_rule('web', 'ingress', 6, 81, 81, ipaddress.IPv4Network('10.0.0.0/8')).tag
    assert a.tag != make_rule('db', 'ingress', 6, 80, 80, ipaddress.IPv4Network('10.0.0.0/8')).tag
    t1 = validate_text(HEAD + GROUPS + IFACES, 'sg.yml')
    t2 = validate_text(HEAD + GROUPS.replace('    ingress:\n', '    ingress:\n      - {proto: udp}\n')
                       + IFACES, 'sg.yml')
    assert {r.tag for r in t1.security_groups['web'].ingress} < {r.tag for r in t2.security_groups['web'].ingress}


def test_zones_come_from_network_names_so_other_networks_do_not_move_them():
    t1 = validate_text(HEAD + GROUPS + IFACES, 'sg.yml')
    more = HEAD + '  net9: {ipv4: 10.9.0.0/24}\n' + GROUPS + IFACES + '''  nine:
    network: net9
    mac: 52:54:00:00:09:01
    ipv4: 10.9.0.1
    datapath: br0
    port: p9
    security_groups: [web]
'''
    t2 = validate_text(more, 'sg.yml')
    z1, z2 = sg_zones(t1), sg_zones(t2)
    assert set(z1) == {'net1', 'net2'} and set(z2) == {'net1', 'net2', 'net9'}
    assert all(z2[n] == z for n, z in z1.items())
    assert all(1 <= z <= 0x7fff for z in z2.values()) and len(set(z2.values())) == 3


def test_a_membership_change_touches_the_datapaths_of_every_interface_in_a_group():
    t1 = validate_text(HEAD + GROUPS + IFACES, 'sg.yml')
    t2 = validate_text(HEAD + GROUPS + IFACES.replace('security_groups: [app]', 'security_groups: []'),
                       'sg.yml')
    assert affected_datapaths(t1, t2) == {'br0', 'br1'}      # web1 on br0 follows app's members
    t3 = validate_text(HEAD + GROUPS.replace('ports: 80,', 'ports: 81,') + IFACES, 'sg.yml')
    assert affected_datapaths(t1, t3) == {'br0', 'br1'}


def test_the_fast_path_keeps_the_groups_and_edits_touching_groups_are_read_whole():
    r = Revalidator('sg.yml')
    text = HEAD + GROUPS + IFACES
    r.load(text)
    edited = text.replace('ipv4: 172.16.1.3', 'ipv4: 172.16.1.4')            # plain: no groups
    t = r.load(edited)
    assert r.fast_loads == 1
    assert t.security_groups == validate_text(edited, 'sg.yml').security_groups
    joined = edited.replace('    port: p3\n', '    port: p3\n    security_groups: [app]\n')
    t = r.load(joined)
    assert r.fast_loads == 1 and t == validate_text(joined, 'sg.yml')
    assert [i.name for i in t.members_of('app')] == ['app1', 'plain']
    bad = joined.replace('security_groups: [app]\n', 'security_groups: [nope]\n')
    with pytest.raises(TopologyError, match='security group nope is not defined'):
        r.load(bad)


def test_a_diff_calls_a_removed_rule_or_a_member_leaving_disruptive():
    from controller.explain.changes import disruptions
    from controller.explain.source import locate_text
    before = locate_text(HEAD + GROUPS + IFACES, 'old.yml')
    fewer = locate_text(HEAD + GROUPS.replace('      - {proto: tcp, ports: 80, from: 0.0.0.0/0}\n', '')
                        + IFACES.replace('security_groups: [app]', 'security_groups: []'), 'new.yml')
    found = [str(d) for d in disruptions(before, fewer)]
    assert any(d.startswith('new.yml:10 security_groups.web.ingress: 1 ingress rule(s) of security group '
                            'web removed') for d in found), found
    assert any('app1 leaves security group(s) app' in d for d in found), found
    more = locate_text(HEAD + GROUPS.replace('    ingress:\n', '    ingress:\n      - {proto: udp}\n')
                       + IFACES, 'new.yml')
    assert disruptions(before, more) == []


def test_vnetctl_check_counts_the_groups():
    from controller.cli.check import summary
    t = validate_text(HEAD + GROUPS + IFACES, 'sg.yml')
    assert summary(t) == '2 datapaths, 2 networks, 3 interfaces, 0 route links, 2 security groups'
