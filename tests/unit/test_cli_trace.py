"""vnetctl trace offline: the example topologies through the table simulator."""

import pytest

from controller.explain.live import LiveError, LiveTracer, flow_spec, parse_trace
from controller.explain.packet import NoRoute, Request, build
from controller.explain.source import load_located
from controller.explain.walk import Walker
from controller.pipeline.flows import OFPP_CONTROLLER
from controller.pipeline.punt import Reason
from controller.topology import SIMULATED
from lab import topogen
from tests.unit.cli_run import REPO, in_repo, vnetctl  # noqa: F401 (in_repo: autouse)

TOPOLOGIES = REPO / 'topologies'


def located(name):
    return load_located(f'topologies/{name}')


def trace(name, *args, **kw):
    loc = located(name)
    probe = build(loc.topology, Request(*args, **kw))
    return Walker.for_probe(loc, probe).trace(probe)


def line_of(name, text, after=None):
    """The 1-based line of `text` in a topology file (after the line containing `after`)."""
    lines = (TOPOLOGIES / name).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


# -- verdicts -------------------------------------------------------------------------

def test_a_frame_within_its_network_is_delivered_to_the_destination_port():
    t = trace('default.yml', 'vm1', 'vm2')
    assert t.verdict.kind == 'delivered' and t.verdict.ok
    assert [e.key for e in t.endings] == [('delivered', 'br0', 'vm2 (port veth2)')]
    assert [s.stage for s in t.steps] == ['classifier', 'port security', 'services', 'l3', 'l2']


def test_a_routed_frame_names_the_route_it_took_with_its_file_line():
    t = trace('seed003.yml', 'ns1', '172.16.2.1')
    assert t.verdict.text == 'delivered to ns5 (port ns5-veth) on datapath br0'
    [l3] = [s for s in t.steps if s.stage == 'l3']
    [route] = [o for o in l3.origins if o.what.startswith('route')]
    where = route.where[0]
    assert (where.path, where.line) == ('route_links.rl1.routes[1]',
                                        line_of('seed003.yml', '- interface: net2-gw', 'route_links'))
    assert 'to gateway net1-gw' in t.probe.summary


def test_every_step_names_the_interface_it_matched_by_key_path_and_line():
    t = trace('default.yml', 'vm1', 'vm2')
    classifier = t.steps[0]
    [vm1] = [o for o in classifier.origins if 'vm1' in o.what]
    assert [(w.path, w.line) for w in vm1.where] == [
        ('interfaces.vm1.port', line_of('default.yml', 'port: veth1')),
        ('interfaces.vm1.mac', line_of('default.yml', 'mac: 52:54:00:0d:84:01'))]


def test_a_network_on_no_route_link_cannot_reach_another_and_the_reason_says_why():
    t = trace('seed003.yml', 'ns3', '172.16.2.1')
    assert t.verdict.kind == 'dropped' and not t.verdict.ok and t.verdict.status == 1
    assert t.steps[-1].stage == 'l2'
    assert 'no interface of network net3 has destination MAC 52:54:00:74:03:fe' in t.verdict.text


def test_arp_for_a_gateway_is_answered_by_the_datapath():
    t = trace('seed003.yml', 'ns1', '172.16.1.254', 'arp')
    assert t.verdict.kind == 'answered'
    assert t.verdict.text == ('answered by the datapath br0: ARP reply 172.16.1.254 is-at '
                              '52:54:00:74:01:fe (net1-gw)')
    assert any('interfaces.net1-gw.ipv4' in o.paths for o in t.steps[-1].origins)


def test_a_router_answers_ping_for_its_interface_in_the_other_network():
    t = trace('seed003.yml', 'ns1', '172.16.2.254')
    assert t.verdict.kind == 'answered' and 'echo reply from 172.16.2.254' in t.verdict.text


def test_dhcp_goes_to_the_controller_with_its_punt_reason():
    t = trace('weave3.yml', 'red1', kind='dhcp')
    assert t.verdict.kind == 'controller'
    assert f'DHCP_REQUEST ({int(Reason.DHCP_REQUEST)})' in t.verdict.text
    assert any('interfaces.red-dhcp.services' in o.paths for o in t.steps[-1].origins)


def test_across_datapaths_the_frame_is_routed_where_it_enters_and_tunnelled_to_the_destination():
    t = trace('weave3.yml', 'red2', 'green3', 'tcp', 22)
    assert t.verdict.text == ('delivered to green3 (port green3-veth) on datapath host3 '
                              '(through the tunnel from host2)')
    assert [(s.datapath, s.stage) for s in t.steps][-3:] == [
        ('host2', 'l2'), ('host3', 'classifier'), ('host3', 'l2')]
    assert any('datapaths.host3.tunnel_ip' in o.paths for o in t.steps[-3].origins)


def test_a_broadcast_reaches_every_other_datapath_of_its_network_and_no_other():
    t = trace('weave3.yml', 'red1', '10.44.1.3', 'arp')
    assert sorted(e.key for e in t.endings) == [('delivered', 'host2', 'red2 (port red2-veth)'),
                                                ('delivered', 'host3', 'red3 (port red3-veth)')]


def test_overlapping_networks_stay_apart_across_datapaths():
    t = trace('weave3.yml', 'blue1', '10.44.1.2')
    assert [e.key for e in t.endings] == [('delivered', 'host2', 'blue2 (port blue2-veth)')]


def test_a_lan_host_reaches_a_container_through_the_router():
    t = trace('seed000.yml', 'host', '192.168.99.11')
    assert t.verdict.text == 'delivered to c1 (port veth1b) on datapath ovsbr0'


def test_an_unknown_address_of_the_own_network_traces_the_arp_request_a_host_sends():
    t = trace('default.yml', 'vm1', '172.16.1.77')
    assert t.probe.fields['eth_type'] == 0x0806 and 'ARPs for it first' in t.probe.notes[0]


def test_an_interface_of_another_network_with_an_on_link_address_is_looked_for_in_the_own_network():
    t = trace('default.yml', 'vm1', 'vm4')          # vm4 (net3) has vm2's address
    assert 'vm4 is in network net3' in t.probe.notes[0]
    assert [e.key for e in t.endings] == [('delivered', 'br0', 'vm2 (port veth2)')]


def test_an_address_that_is_the_senders_own_is_never_sent():
    loc = located('default.yml')
    with pytest.raises(NoRoute, match="172.16.1.1 is vm1's own address"):
        build(loc.topology, Request('vm1', 'vm3'))


def test_off_network_without_a_router_the_host_has_no_route():
    loc = located('weave3.yml')
    topology = loc.topology
    with pytest.raises(NoRoute, match='has no router interface'):
        build(type(topology)(topology.source, topology.datapaths, topology.networks,
                             {n: i for n, i in topology.interfaces.items() if i.name != 'blue-gw'}),
              Request('blue1', '10.9.9.9'))


# -- compiling only what the frame can reach -------------------------------------------

def every_probe(topology):
    senders = [i for i in topology.interfaces.values() if i.mode != SIMULATED]
    targets = [i for i in topology.interfaces.values() if i.ipv4 is not None]
    for src in senders:
        yield Request(src.name, kind='dhcp')
        for dst in targets:
            for kind in ('icmp', 'arp'):
                yield Request(src.name, dst.name, kind)


@pytest.mark.parametrize('name', ['default.yml', 'seed000.yml', 'seed003.yml', 'weave3.yml'])
def test_compiling_only_the_reachable_networks_traces_exactly_as_the_full_pipeline(name):
    loc = located(name)
    full = Walker(loc)
    count = 0
    for request in every_probe(loc.topology):
        try:
            probe = build(loc.topology, request)
        except NoRoute:
            continue
        scoped, whole = Walker.for_probe(loc, probe).trace(probe), full.trace(probe)
        assert [s.cookie for s in scoped.steps] == [s.cookie for s in whole.steps], request
        assert [e.key for e in scoped.endings] == [e.key for e in whole.endings], request
        count += 1
    assert count > 20


def test_only_the_datapaths_the_frame_crosses_are_compiled(tmp_path):
    text = topogen.topology_text(topogen.Spec(400, per_network=40, datapaths=20, span=2))
    path = tmp_path / 'fabric.yml'
    path.write_text(text)
    loc = load_located(str(path))
    probe = build(loc.topology, Request('vm0', 'vm1'))       # vm0 on br0, vm1 on br1
    walker = Walker.for_probe(loc, probe)
    t = walker.trace(probe)
    assert t.verdict.text == 'delivered to vm1 (port p1) on datapath br1 (through the tunnel from br0)'
    assert walker.compiled == ['br0', 'br1']


# -- the command ------------------------------------------------------------------------

def test_the_command_prints_each_table_and_the_verdict_and_exits_0_when_delivered():
    status, out = vnetctl('trace', 'topologies/seed003.yml', '--from', 'ns1', '--to', '172.16.2.1')
    assert status == 0
    assert out.splitlines()[-1] == 'verdict: delivered to ns5 (port ns5-veth) on datapath br0'
    assert 'br0 30 l3            priority=124 ' in out and 'route_links.rl1.routes[1]' in out


def test_the_command_exits_1_when_the_frame_is_dropped_or_never_sent():
    assert vnetctl('trace', 'topologies/seed003.yml', '--from', 'ns3', '--to', '172.16.2.1')[0] == 1
    status, out = vnetctl('trace', 'topologies/default.yml', '--from', 'vm1', '--to', 'vm3')
    assert status == 1 and out.startswith('not sent:')


@pytest.mark.parametrize('args, message', [
    (['--from', 'ns9', '--to', 'ns2'], '--from: no interface ns9 in topologies/seed003.yml; did you mean'),
    (['--from', 'net1-gw', '--to', 'ns2'], 'net1-gw is a simulated interface'),
    (['--from', 'ns1'], '--to is required'),
    (['--from', 'ns1', '--to', 'nowhere'], '--to: nowhere is neither an IPv4 address nor an interface'),
    (['--from', 'ns1', '--to', 'ns2', '--dport', '80'], '--dport needs --proto tcp or --proto udp'),
])
def test_bad_requests_get_one_clear_line_and_exit_2(args, message):
    status, out = vnetctl('trace', 'topologies/seed003.yml', *args)
    assert status == 2 and message in out and len(out.splitlines()) == 1, out


def test_an_invalid_topology_is_reported_with_file_and_line(tmp_path):
    bad = tmp_path / 'bad.yml'
    bad.write_text('datapaths:\n  br0:\n    dpid: zero\n')
    status, out = vnetctl('trace', bad, '--from', 'vm1', '--to', 'vm2')
    assert status == 2 and f'{bad}:3: datapaths.br0.dpid' in out


def test_help_shows_an_example():
    status, out = vnetctl('trace', '--help')
    assert status == 0 and 'vnetctl trace topologies/seed003.yml --from ns1 --to 172.16.2.1' in out


# -- reading ovs-appctl ofproto/trace (text captured from OVS 3.1) -----------------------

ROUTED = '''Flow: icmp,in_port=1,vlan_tci=0x0000,dl_src=52:54:00:00:01:01,dl_dst=52:54:00:74:01:fe,nw_src=172.16.1.1,nw_dst=172.16.2.1,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0

bridge("nle2cbr0")
------------------
 0. in_port=1,vlan_tci=0x0000/0x1fff,dl_src=52:54:00:00:01:01, priority 100, cookie 0x766e4a88e50981c4
    write_metadata:0x2ceb8c/0xffffff
    goto_table:10
30. ip,metadata=0x2ceb8c,dl_dst=52:54:00:74:01:fe,nw_dst=172.16.2.0/24, priority 124, cookie 0x766edb6d92311f6e
    set_field:52:54:00:74:02:fe->eth_src
    dec_ttl
    move:NXM_OF_IP_DST[]->NXM_NX_REG0[]
     -> NXM_NX_REG0[] is now 0xac100201
    goto_table:35
40. metadata=0x25bc04,dl_dst=52:54:00:00:02:01, priority 100, cookie 0x766e4527e69bacb1
    output:2

Final flow: icmp,reg0=0xac100201,metadata=0x25bc04,in_port=1,vlan_tci=0x0000,dl_src=52:54:00:74:02:fe,dl_dst=52:54:00:00:02:01,nw_src=172.16.1.1,nw_dst=172.16.2.1,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,icmp_type=8,icmp_code=0
Megaflow: recirc_id=0,eth,icmp,in_port=1,dl_src=52:54:00:00:01:01,dl_dst=52:54:00:74:01:fe,nw_src=172.16.1.1,nw_dst=172.16.2.1,nw_ttl=64,nw_frag=no
Datapath actions: set(eth(src=52:54:00:74:02:fe,dst=52:54:00:00:02:01)),set(ipv4(ttl=63)),3
'''

FLOODED_TO_NOBODY = '''bridge("nle2cbr0")
------------------
40. metadata=0x2ceb8c,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00, priority 50, cookie 0x766e7a5f55e90bdd
    group:2943884
    bucket 0
            output:1
             >> skipping output to input port

Final flow: unchanged
'''

PUNTED = '''Flow: udp,in_port=1,vlan_tci=0x0000,dl_src=52:54:00:00:01:01,dl_dst=ff:ff:ff:ff:ff:ff,nw_src=0.0.0.0,nw_dst=255.255.255.255,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=68,tp_dst=67

bridge("nl85bbr0")
------------------
10. udp,in_port=1,tp_src=68,tp_dst=67, priority 120, cookie 0x766ea9d158c59ca0
    meter:1
    set_field:0x1->reg1
    CONTROLLER:65535

Final flow: udp,reg1=0x1,metadata=0x2ceb8c,in_port=1,vlan_tci=0x0000
'''

ANSWERED = '''Flow: arp,in_port=1,vlan_tci=0x0000,dl_src=52:54:00:00:01:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=172.16.1.1,arp_tpa=172.16.1.254,arp_op=1,arp_sha=52:54:00:00:01:01,arp_tha=00:00:00:00:00:00

bridge("nle2cbr0")
------------------
20. arp,metadata=0x2ceb8c,arp_tpa=172.16.1.254,arp_op=1, priority 100, cookie 0x766e350be0a1f1ce
    set_field:52:54:00:74:01:fe->eth_src
    set_field:172.16.1.254->arp_spa
    IN_PORT

Final flow: arp,metadata=0x2ceb8c,in_port=1,vlan_tci=0x0000,dl_src=52:54:00:74:01:fe,dl_dst=52:54:00:00:01:01,arp_spa=172.16.1.254,arp_tpa=172.16.1.1,arp_op=2,arp_sha=52:54:00:74:01:fe,arp_tha=52:54:00:00:01:01
'''


def test_each_table_of_an_ofproto_trace_is_read_with_its_cookie_and_where_the_frame_left():
    parsed = parse_trace(ROUTED)
    assert [(s.table, s.cookie) for s in parsed.steps] == [
        (0, 0x766e4a88e50981c4), (30, 0x766edb6d92311f6e), (40, 0x766e4527e69bacb1)]
    assert parsed.steps[1].text.startswith('ip,metadata=0x2ceb8c,dl_dst=52:54:00:74:01:fe')
    assert [port for port, _ in parsed.outputs] == [2]
    assert parsed.final['eth_src'] == '52:54:00:74:02:fe' and parsed.final['nw_ttl'] == 63


def test_a_flood_whose_only_bucket_is_the_input_port_leaves_nowhere():
    assert parse_trace(FLOODED_TO_NOBODY).outputs == []


def test_a_punt_reads_its_reason_and_an_answer_its_rewritten_frame():
    [(port, pkt)] = parse_trace(PUNTED).outputs
    assert (port, pkt) == (OFPP_CONTROLLER, {'reg1': 1})
    [(port, pkt)] = parse_trace(ANSWERED).outputs
    assert port == 1 and pkt['arp_spa'] == '172.16.1.254' and pkt['eth_src'] == '52:54:00:74:01:fe'


def test_a_packet_becomes_the_flow_syntax_ofproto_trace_takes():
    loc = located('seed003.yml')
    probe = build(loc.topology, Request('ns1', '172.16.2.1', 'udp', 53))
    assert flow_spec(dict(probe.fields, in_port=1)) == (
        'dl_src=52:54:00:00:01:01,dl_dst=52:54:00:74:01:fe,dl_type=2048,nw_src=172.16.1.1,'
        'nw_dst=172.16.2.1,nw_proto=17,nw_ttl=64,udp_src=49152,udp_dst=53,in_port=1')


def test_a_live_trace_without_the_datapaths_bridge_says_which_dpid_it_looked_for():
    loc = located('seed003.yml')
    probe = build(loc.topology, Request('ns1', 'ns2'))
    with pytest.raises(LiveError, match="no bridge here has datapath br0's dpid 0x10"):
        LiveTracer(loc, bridges={0x99: 'other-br'}).trace(probe)


INTO_THE_TUNNEL = '''bridge("br-int")
----------------
40. metadata=0x1131,dl_dst=52:54:00:44:01:03, priority 100, cookie 0x766e038cfccabc6b
    set_field:0x1131->tun_id
    set_field:198.18.2.1->tun_dst
    output:1
     -> output to native tunnel
     -> tunneling to 198.18.1.254 via br-phy

bridge("br-phy")
----------------
 0. priority 0
    NORMAL
     -> forwarding to learned port

Final flow: icmp,tun_src=0.0.0.0,tun_dst=198.18.2.1,metadata=0x1131,in_port=2
'''


def test_the_underlay_bridge_a_tunnelled_frame_crosses_is_not_part_of_the_pipeline():
    parsed = parse_trace(INTO_THE_TUNNEL)
    assert [(s.table, s.cookie) for s in parsed.steps] == [(40, 0x766e038cfccabc6b)]
    assert parsed.outputs == [(1, {'tun_ipv4_dst': '198.18.2.1'})]


FLOODED_INTO_TWO_TUNNELS = '''bridge("br-int")
----------------
40. metadata=0x1131,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00, priority 50, cookie 0x766e78bb600da3ac
    group:4401
    bucket 0
            output:2
             >> skipping output to input port
    bucket 1
            set_field:0x1131->tun_id
            set_field:198.18.1.2->tun_dst
            output:1
             -> output to native tunnel

        bridge("br-phy")
        ----------------
         0. priority 0
            NORMAL
             -> forwarding to learned port
    bucket 2
            set_field:0x1131->tun_id
            set_field:198.18.2.1->tun_dst
            output:1
             -> output to native tunnel

        bridge("br-phy")
        ----------------
         0. priority 0
            NORMAL
             -> forwarding to learned port

Final flow: arp,metadata=0x1131,in_port=2
'''


def test_each_bucket_of_a_flood_into_the_tunnel_is_one_copy_to_its_datapath():
    parsed = parse_trace(FLOODED_INTO_TWO_TUNNELS)
    assert [(s.table, s.cookie) for s in parsed.steps] == [(40, 0x766e78bb600da3ac)]
    assert parsed.outputs == [(1, {'tun_ipv4_dst': '198.18.1.2'}), (1, {'tun_ipv4_dst': '198.18.2.1'})]
