"""Security groups in the pipeline, run through the table simulator's conntrack."""
import textwrap

from controller.openflow.ofsim import Fabric, FakeSwitch, deliveries
from controller.pipeline import compile_datapath
from controller.pipeline.acl import port_masks
from controller.pipeline.compiler import Compiler
from controller.pipeline.drops import Drop
from controller.pipeline.flows import Ct
from controller.pipeline.tables import SG_EGRESS, SG_INGRESS_RULES
from controller.topology import validate_text

MACS = {'web1': '52:54:00:00:01:10', 'app1': '52:54:00:00:01:20', 'client': '52:54:00:00:01:30',
        'web2': '52:54:00:00:01:40'}
IPS = {'web1': '172.16.1.10', 'app1': '172.16.1.20', 'client': '172.16.1.30', 'web2': '172.16.1.40'}
PORTS = {'p-web1': 1, 'p-app1': 2, 'p-client': 3}
PORT_OF = {'web1': 1, 'app1': 2, 'client': 3}

GROUPS = '''
security_groups:
  web:
    ingress:
      - {proto: tcp, ports: 80, from: 0.0.0.0/0}
      - {proto: tcp, ports: 8000-8100, from_group: app}
      - {proto: icmp, from: 172.16.1.0/24}
  app:
    egress: all
'''


def topo(groups=GROUPS, web1='[web]', app1='[app]', web2=None):
    extra = ''
    if web2 is not None:
        extra = (f'  web2: {{network: net1, mac: "{MACS["web2"]}", ipv4: {IPS["web2"]}, datapath: br1, '
                 f'port: p-web2, security_groups: {web2}}}\n')
    text = textwrap.dedent('''
        datapaths:
          br0: {dpid: 1, tunnel_ip: 198.18.0.1}
          br1: {dpid: 2, tunnel_ip: 198.18.0.2}
        networks:
          net1: {ipv4: 172.16.1.0/24}
        ''') + groups + textwrap.dedent(f'''
        interfaces:
          web1: {{network: net1, mac: "{MACS['web1']}", ipv4: {IPS['web1']}, datapath: br0, port: p-web1,
                 security_groups: {web1}}}
          app1: {{network: net1, mac: "{MACS['app1']}", ipv4: {IPS['app1']}, datapath: br0, port: p-app1,
                 security_groups: {app1}}}
          client: {{network: net1, mac: "{MACS['client']}", ipv4: {IPS['client']}, datapath: br0,
                   port: p-client}}
        ''') + extra
    return validate_text(text, 'sg.yml')


def switch(topology, conntrack=None):
    return FakeSwitch.from_state(compile_datapath(topology, 'br0', PORTS), conntrack)


def tcp(src, dst, sport, dport, flags=0x02):
    return dict(in_port=PORT_OF[src], eth_src=MACS[src], eth_dst=MACS[dst], eth_type=0x0800,
                ipv4_src=IPS[src], ipv4_dst=IPS[dst], ip_proto=6, tcp_src=sport, tcp_dst=dport,
                tcp_flags=flags)


def reply(src, dst, sport, dport):
    return tcp(src, dst, sport, dport, flags=0x12)


def ack(src, dst, sport, dport):
    return tcp(src, dst, sport, dport, flags=0x10)


def delivered(sw, pkt):
    return [port for port, _ in sw.run(pkt)]


def dropped_by(sw, pkt):
    """The drop reason of the flow that ended `pkt` (None: it was not dropped by a flow)."""
    steps = []
    sw.run(pkt, on_step=lambda table, f, p: steps.append(f))
    last = steps[-1]
    return Drop(last.drop) if last is not None and last.drop is not None else None


def test_a_connection_a_rule_allows_passes_both_ways_and_others_are_refused_and_counted():
    sw = switch(topo())
    assert delivered(sw, tcp('client', 'web1', 40000, 80)) == [1]
    assert delivered(sw, reply('web1', 'client', 80, 40000)) == [3]
    assert delivered(sw, ack('client', 'web1', 40000, 80)) == [1]
    assert delivered(sw, tcp('client', 'web1', 40001, 22)) == []
    assert dropped_by(sw, tcp('client', 'web1', 40001, 22)) is Drop.SG_INGRESS_REFUSED


# web's egress limited to DNS: what leaves it otherwise must be a reply
LOCKED = GROUPS.replace('      - {proto: icmp, from: 172.16.1.0/24}\n',
                        '      - {proto: icmp, from: 172.16.1.0/24}\n    egress: [{proto: udp, ports: 53}]\n')


def test_a_reply_from_nowhere_is_invalid_and_a_reply_to_an_unallowed_connection_is_refused():
    sw = switch(topo(LOCKED))
    assert dropped_by(sw, ack('client', 'web1', 40000, 80)) is Drop.SG_INGRESS_INVALID
    # web1 answers a SYN to port 22 that never got through: no connection in its zone
    assert dropped_by(sw, reply('web1', 'client', 22, 40001)) is Drop.SG_EGRESS_INVALID
    assert dropped_by(sw, tcp('web1', 'client', 50000, 443)) is Drop.SG_EGRESS_REFUSED


def test_an_open_egress_commits_without_recirculating_and_its_replies_come_back():
    state = compile_datapath(topo(), 'br0', PORTS)
    (commit,) = [f for f in state.flows.values() if f.table == SG_EGRESS and dict(f.match).get('in_port') == 1]
    assert commit.actions == (Ct(commit=True, zone=commit.actions[0].zone),) and commit.goto == 20
    sw = FakeSwitch.from_state(state)
    assert delivered(sw, reply('web1', 'client', 22, 40001)) == [3]      # anything may leave
    assert delivered(sw, tcp('web1', 'client', 50000, 443)) == [3]
    assert delivered(sw, reply('client', 'web1', 443, 50000)) == [1]
    assert delivered(sw, tcp('client', 'web1', 40000, 443)) == []         # but only replies come in


def test_an_interface_without_groups_keeps_todays_pipeline_without_conntrack():
    plain = compile_datapath(topo(GROUPS, web1='[]', app1='[]'), 'br0', PORTS)
    assert not any(isinstance(a, Ct) for f in plain.flows.values() for a in f.actions)
    assert all(f.priority == 0 for f in plain.flows.values()                   # only the tables' ends
               if SG_EGRESS <= f.table <= SG_EGRESS + 1 or f.table >= 44)
    with_groups = compile_datapath(topo(), 'br0', PORTS)
    client_flows = [f for f in with_groups.flows.values() if dict(f.match).get('in_port') == 3
                    or dict(f.match).get('eth_dst') == MACS['client']]
    assert client_flows and all(f.goto not in (SG_EGRESS, 44) for f in client_flows)


def test_egress_all_lets_the_interface_start_connections_whose_replies_pass_its_ingress():
    sw = switch(topo())
    assert delivered(sw, tcp('web1', 'client', 50000, 443)) == [3]
    assert delivered(sw, reply('client', 'web1', 443, 50000)) == [1]


def test_egress_none_keeps_the_interface_from_starting_anything():
    groups = GROUPS.replace('    egress: all', '    egress: none')
    sw = switch(topo(groups))
    assert dropped_by(sw, tcp('app1', 'client', 50000, 443)) is Drop.SG_EGRESS_REFUSED


def test_rules_are_additive_across_the_groups_of_an_interface():
    sw = switch(topo(web1='[app]'))
    assert delivered(sw, tcp('client', 'web1', 40000, 80)) == []
    sw = switch(topo(web1='[app, web]'))
    assert delivered(sw, tcp('client', 'web1', 40000, 80)) == [1]


def test_from_group_follows_membership():
    sw = switch(topo())
    assert delivered(sw, tcp('app1', 'web1', 50000, 8080)) == [1]          # app1 is in app
    assert delivered(sw, tcp('client', 'web1', 50001, 8080)) == []         # client is not
    sw = switch(topo(app1='[]'))                                           # app1 leaves app
    assert delivered(sw, tcp('app1', 'web1', 50002, 8080)) == []


def test_a_member_leaving_the_group_loses_its_established_connection():
    sw = switch(topo())
    delivered(sw, tcp('app1', 'web1', 50000, 8080))
    delivered(sw, reply('web1', 'app1', 8080, 50000))
    assert delivered(sw, ack('app1', 'web1', 50000, 8080)) == [1]
    after = switch(topo(app1='[]'), sw.conntrack)
    assert delivered(after, ack('app1', 'web1', 50000, 8080)) == []
    assert dropped_by(after, ack('app1', 'web1', 50000, 8080)) is Drop.SG_INGRESS_REFUSED


def established(sw):
    """client -> web1:80 and client -> web1 ping-free port 8000 from app1, both established."""
    for src, sport, dport in (('client', 40000, 80), ('app1', 50000, 8000)):
        assert delivered(sw, tcp(src, 'web1', sport, dport)) == [1]
        assert delivered(sw, reply('web1', src, dport, sport)) == [PORT_OF[src]]


def test_removing_a_rule_cuts_the_connections_it_allowed_and_only_those():
    sw = switch(topo(LOCKED))
    established(sw)
    without_80 = LOCKED.replace('      - {proto: tcp, ports: 80, from: 0.0.0.0/0}\n', '')
    after = switch(topo(without_80), sw.conntrack)
    assert delivered(after, ack('client', 'web1', 40000, 80)) == []
    assert dropped_by(after, ack('web1', 'client', 80, 40000)) is Drop.SG_EGRESS_REFUSED   # a reply of it
    assert delivered(after, ack('app1', 'web1', 50000, 8000)) == [1]
    assert delivered(after, ack('web1', 'app1', 8000, 50000)) == [2]


def test_adding_a_rule_breaks_nothing():
    sw = switch(topo())
    established(sw)
    more = GROUPS.replace('      - {proto: icmp', '      - {proto: udp, ports: 53}\n      - {proto: icmp')
    after = switch(topo(more), sw.conntrack)
    for src, sport, dport in (('client', 40000, 80), ('app1', 50000, 8000)):
        assert delivered(after, ack(src, 'web1', sport, dport)) == [1]
        assert delivered(after, ack('web1', src, dport, sport)) == [PORT_OF[src]]


def test_a_connection_another_rule_still_allows_survives_the_removal_of_its_rule():
    wide = GROUPS.replace('      - {proto: icmp', '      - {proto: tcp, from: 172.16.1.0/24}\n      - {proto: icmp')
    sw = switch(topo(wide))
    established(sw)
    after = switch(topo(wide.replace('      - {proto: tcp, ports: 80, from: 0.0.0.0/0}\n', '')),
                   sw.conntrack)
    assert delivered(after, ack('client', 'web1', 40000, 80)) == [1]     # re-tagged by the wide rule
    assert delivered(after, ack('web1', 'client', 80, 40000)) == [3]


def test_two_interfaces_in_groups_on_one_bridge_share_the_zone_without_trampling_each_other():
    sw = switch(topo())
    assert delivered(sw, tcp('app1', 'web1', 50000, 8000)) == [1]        # app1 egress + web1 ingress
    assert delivered(sw, reply('web1', 'app1', 8000, 50000)) == [2]
    (conn,) = sw.conntrack.connections()
    assert conn.mark == 0 and conn.label         # app1's egress is open: it commits without a mark
    limited = GROUPS.replace('    egress: all', '    egress: [{proto: tcp, ports: 8000-8100, to_group: web}]')
    sw = switch(topo(limited))
    assert delivered(sw, tcp('app1', 'web1', 50000, 8000)) == [1]
    assert delivered(sw, reply('web1', 'app1', 8000, 50000)) == [2]
    assert delivered(sw, ack('app1', 'web1', 50000, 8000)) == [1]
    (conn,) = sw.conntrack.connections()
    assert conn.mark and conn.label and conn.mark != conn.label
    assert delivered(sw, tcp('app1', 'client', 50001, 8000)) == []          # client is not in web


def test_across_datapaths_each_end_filters_where_its_vif_is():
    t = topo(web2='[web]')
    fabric = Fabric()
    fabric.add('br0', FakeSwitch.from_state(compile_datapath(t, 'br0', dict(PORTS, vxlan0=100))),
               100, '198.18.0.1')
    fabric.add('br1', FakeSwitch.from_state(compile_datapath(t, 'br1', {'p-web2': 1, 'vxlan0': 100})),
               100, '198.18.0.2')
    syn = dict(tcp('client', 'web1', 40000, 80), eth_dst=MACS['web2'], ipv4_dst=IPS['web2'])
    assert deliveries(fabric.run('br0', syn)) == [('br1', 1)]
    assert deliveries(fabric.run('br0', dict(syn, tcp_dst=22, tcp_src=40001))) == []
    back = dict(reply('web1', 'client', 80, 40000), in_port=1, eth_src=MACS['web2'],
                ipv4_src=IPS['web2'])
    assert deliveries(fabric.run('br1', back)) == [('br0', 3)]


def test_ipv6_to_or_from_a_vif_in_groups_is_refused_and_arp_passes():
    sw = switch(topo())
    v6 = dict(in_port=3, eth_src=MACS['client'], eth_dst=MACS['web1'], eth_type=0x86dd)
    assert dropped_by(sw, v6) is Drop.SG_INGRESS_REFUSED
    arp = dict(in_port=3, eth_src=MACS['client'], eth_dst=MACS['web1'], eth_type=0x0806, arp_op=2,
               arp_spa=IPS['client'], arp_sha=MACS['client'], arp_tpa=IPS['web1'])
    assert delivered(sw, arp) == [1]


def test_ping_is_allowed_by_an_icmp_rule_and_its_reply_passes():
    sw = switch(topo())
    ping = dict(in_port=3, eth_src=MACS['client'], eth_dst=MACS['web1'], eth_type=0x0800,
                ipv4_src=IPS['client'], ipv4_dst=IPS['web1'], ip_proto=1, icmpv4_type=8, icmpv4_code=0)
    assert delivered(sw, ping) == [1]
    pong = dict(ping, in_port=1, eth_src=MACS['web1'], eth_dst=MACS['client'], ipv4_src=IPS['web1'],
                ipv4_dst=IPS['client'], icmpv4_type=0)
    assert delivered(sw, pong) == [3]


def test_port_ranges_become_few_masked_matches_covering_exactly_the_range():
    for low, high in ((80, 80), (8000, 8100), (1, 1023), (1024, 65535), (5, 6), (0x8000, 0xffff)):
        covered = set()
        for m in port_masks(low, high):
            value, mask = (m, 0xffff) if isinstance(m, int) else m
            covered |= {p for p in range(65536) if p & mask == value}
        assert covered == set(range(low, high + 1)), (low, high)
    assert list(port_masks(1, 65535)) == [None]
    assert len(list(port_masks(8000, 8100))) <= 8


def test_a_patched_compile_equals_a_full_one_through_group_and_rule_edits():
    compiler = Compiler()
    edits = [topo(), topo(app1='[]'), topo(GROUPS.replace('ports: 80,', 'ports: 81,')),
             topo(web1='[]', app1='[]'), topo()]
    for t in edits:
        patched = compiler.compile(t, 'br0', PORTS)
        assert patched.flows == compile_datapath(t, 'br0', PORTS).flows


def test_every_sg_drop_has_its_reason_and_the_ingress_rules_table_ends_in_a_refusal():
    state = compile_datapath(topo(), 'br0', PORTS)
    last = min((f for f in state.flows.values() if f.table == SG_INGRESS_RULES), key=lambda f: f.priority)
    assert last.priority == 0 and last.drop == Drop.SG_INGRESS_REFUSED


def test_vnetctl_trace_says_a_packet_refused_by_a_group_is_dropped_and_names_the_allowing_rule():
    import contextlib
    import io
    from pathlib import Path

    from controller.cli import main

    topology = Path(__file__).resolve().parents[2] / 'topologies' / 'security_groups.yml'

    def trace(*args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(['trace', str(topology), *args])
        return status, out.getvalue()

    status, out = trace('--from', 'client', '--to', 'web', '--proto', 'tcp', '--dport', '22')
    assert status == 1
    assert out.splitlines()[-1] == ('verdict: dropped: on br0, table 45 (sg ingress rules): refused by '
                                    "security groups: no ingress rule of the receiver's groups allows it")
    status, out = trace('--from', 'client', '--to', 'web', '--proto', 'tcp', '--dport', '80')
    assert status == 0 and 'ingress rule 0 of security group web' in out
    assert 'security_groups.yml:20 security_groups.web.ingress[0]' in out
    status, out = trace('--from', 'app', '--to', 'client', '--proto', 'tcp', '--dport', '80')
    assert status == 1 and 'table 13 (sg egress rules): refused by security groups' in out


ROUTED = '''
datapaths:
  br0: {dpid: 1}
networks:
  net1: {ipv4: 172.16.1.0/24}
  net2: {ipv4: 172.16.2.0/24}
security_groups:
  web:
    ingress: [{proto: tcp, ports: 80, from: 172.16.1.0/24}]
interfaces:
  client: {network: net1, mac: "52:54:00:00:01:30", ipv4: 172.16.1.30, datapath: br0, port: p-client}
  web: {network: net2, mac: "52:54:00:00:02:10", ipv4: 172.16.2.10, datapath: br0, port: p-web,
        security_groups: [web]}
  gw1: {network: net1, mode: simulated, mac: "52:54:00:00:01:fe", ipv4: 172.16.1.254, services: [router]}
  gw2: {network: net2, mode: simulated, mac: "52:54:00:00:02:fe", ipv4: 172.16.2.254, services: [router]}
route_links:
  rl: {routes: [{interface: gw1}, {interface: gw2}]}
'''


def test_routed_traffic_is_filtered_by_the_receivers_groups_in_its_own_network():
    sw = FakeSwitch.from_state(compile_datapath(validate_text(ROUTED, 'r.yml'), 'br0',
                                                {'p-client': 1, 'p-web': 2}))
    syn = dict(in_port=1, eth_src='52:54:00:00:01:30', eth_dst='52:54:00:00:01:fe', eth_type=0x0800,
               ipv4_src='172.16.1.30', ipv4_dst='172.16.2.10', ip_proto=6, tcp_src=40000, tcp_dst=80,
               nw_ttl=64, tcp_flags=0x02)
    assert delivered(sw, syn) == [2]
    assert dropped_by(sw, dict(syn, tcp_dst=22)) is Drop.SG_INGRESS_REFUSED
    back = dict(syn, in_port=2, eth_src='52:54:00:00:02:10', eth_dst='52:54:00:00:02:fe',
                ipv4_src='172.16.2.10', ipv4_dst='172.16.1.30', tcp_src=80, tcp_dst=40000, tcp_flags=0x12)
    assert delivered(sw, back) == [1]


def test_a_from_group_rule_matches_a_bit_set_once_per_member_not_a_flow_per_member():
    state = compile_datapath(topo(), 'br0', PORTS)
    members = [f for f in state.flows.values() if f.table == 44 and 'ipv4_src' in dict(f.match)]
    assert [dict(f.match)['ipv4_src'] for f in members] == [IPS['app1']]      # app's one member
    rule = [f for f in state.flows.values() if f.table == SG_INGRESS_RULES and 'reg6' in dict(f.match)]
    assert rule and all('ipv4_src' not in dict(f.match) for f in rule)


def test_past_32_named_groups_the_rest_get_a_flow_per_member_and_still_work():
    names = [f'g{k:02d}' for k in range(34)]
    groups = 'security_groups:\n  web:\n    ingress:\n' + ''.join(
        f'      - {{proto: tcp, ports: 80, from_group: {g}}}\n' for g in names)
    groups += ''.join(f'  {g}: {{}}\n' for g in names)
    web1 = '[web, ' + ', '.join(names[:33]) + ']'           # g00..g32 have web1 as member
    sw = switch(topo(groups, app1='[g33]', web1=web1))          # g32 and g33 get no bit
    (rule,) = [f for f in sw.tables[SG_INGRESS_RULES] if dict(f.match).get('ipv4_src') == IPS['app1']
               and f.priority == 50]
    assert 'reg6' not in dict(rule.match)
    assert delivered(sw, tcp('app1', 'web1', 50000, 80)) == [1]
    assert delivered(sw, tcp('client', 'web1', 50001, 80)) == []
