"""Metrics track reality, scraped from the controller's own /metrics on real
Open vSwitch: a spoofing attempt raises the drop counter of its datapath,
table and reason (the switch's own aggregate, as ovs-ofctl dump-aggregate
shows it; /v1/drops?port= names the port), a DHCP flood shows what
its meter dropped and the replies sent, an edit moves the revision and the
apply histogram, a disconnected datapath shows 0."""
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from controller.observe.dropstats import reason_cookie
from controller.packets import dhcp
from controller.pipeline.drops import TABLES, Drop
from lab import free_tcp_port, ofctl, sh, wait_for
from lab.api import ApiClient, api_args
from tests.integration.frames import ETH_TYPE_IP, RawPort, eth, ipv4_frame, udp_frame
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable

VM1, VM2 = '52:54:00:00:0b:01', '52:54:00:00:0b:02'
SPOOFS = 40


def scenario(lab):
    return Scenario(
        lab, datapaths={'br0': {'dpid': 0xb1}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'vm1': vif(lab, 'net1', VM1, '172.16.1.1', 'br0', 'b1'),
            'vm2': vif(lab, 'net1', VM2, '172.16.1.2', 'br0', 'b2'),
            'net1-gw': gateway('net1', '52:54:00:74:0b:fe', '172.16.1.254'),
            'net1-dhcp': gateway('net1', '52:54:00:74:0b:fc', '172.16.1.252', services=('dhcp',)),
        })


def start(lab, s):
    """Bridge, hosts and a controller with its API on a free port; (controller, API)."""
    port = free_tcp_port()
    s.write()
    s.make_bridge('br0', port)
    for name in ('vm1', 'vm2'):
        s.make_host(name)
    args, base = api_args()
    ctl = lab.controller(s.path, port=port, extra_args=args)
    api = ApiClient(base)
    api.wait_up()
    s.bridges['br0'].wait_connected()
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
    return ctl, api


def scrape(api):
    """{(sample name, frozenset of labels): value} from the controller's /metrics."""
    with urllib.request.urlopen(api.base + '/metrics', timeout=10) as r:
        assert r.headers.get_content_type() == 'text/plain'
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def dropped(api, reason, table):
    return value(scrape(api), 'vnet_dropped_packets_total', datapath='br0', table=str(table),
                 reason=reason)


def test_a_spoofing_attempt_raises_the_drop_counter_of_its_datapath_reason_and_port(lab):
    s = scenario(lab)
    _, api = start(lab, s)
    br, vm1 = s.bridges['br0'], s.hosts['vm1']
    wait_for(lambda: dropped(api, 'spoofed_ipv4', 10) is not None, timeout=10,
             what='the drop counters of br0 in /metrics')
    before = {r: dropped(api, r, t) for r, t in (('spoofed_ipv4', 10), ('spoofed_mac', 0),
                                                 ('unknown_port', 0))}
    with RawPort(vm1) as port:
        for i in range(SPOOFS):
            # vm1's own MAC, another machine's address; then a MAC that is not vm1's
            port.send(udp_frame(VM1, VM2, '172.16.1.77', '172.16.1.2', 4000, 4000, b'spoof %d' % i))
            port.send(ipv4_frame('52:54:00:66:66:66', VM2, '172.16.1.1', '172.16.1.2', 17,
                                 b'\0' * 16))
    wait_for(lambda: dropped(api, 'spoofed_ipv4', 10) >= before['spoofed_ipv4'] + SPOOFS,
             timeout=10, what='vnet_dropped_packets_total{reason="spoofed_ipv4"} to rise',
             state=lambda: dropped(api, 'spoofed_ipv4', 10))
    wait_for(lambda: dropped(api, 'spoofed_mac', 0) >= before['spoofed_mac'] + SPOOFS, timeout=10,
             what='vnet_dropped_packets_total{reason="spoofed_mac"} to rise')
    assert dropped(api, 'unknown_port', 0) == before['unknown_port']     # not counted elsewhere
    samples = scrape(api)
    assert value(samples, 'vnet_dropped_bytes_total', datapath='br0', table='10',
                 reason='spoofed_ipv4') >= SPOOFS * 60

    # per datapath and reason in the API (port null), what the switch sums itself
    wait_for(lambda: drops_row(api, 'spoofed_ipv4') == switch_sum(br, Drop.SPOOFED_IPV4),
             timeout=10, what='/v1/drops to equal ovs-ofctl dump-aggregate for spoofed_ipv4',
             state=lambda: (drops_row(api, 'spoofed_ipv4'), switch_sum(br, Drop.SPOOFED_IPV4)))
    assert drops_row(api, 'spoofed_mac') == switch_sum(br, Drop.SPOOFED_MAC)
    assert switch_sum(br, Drop.SPOOFED_IPV4)[0] >= SPOOFS
    assert all(r['port'] is None for r in api.get('/v1/drops'))

    # per port on demand: that port's own drop flows, as the switch counts them
    mine = port_rows(api, vm1.port)
    assert mine[('spoofed_ipv4', vm1.port)]['packets'] >= SPOOFS
    assert mine[('spoofed_ipv4', vm1.port)]['stage'] == 'port security'
    assert mine[('spoofed_mac', vm1.port)]['packets'] >= SPOOFS
    assert {port for _, port in mine} == {vm1.port}
    theirs = port_rows(api, s.hosts['vm2'].port)
    assert theirs[('spoofed_ipv4', s.hosts['vm2'].port)]['packets'] == 0
    by_name = port_rows(api, interface='vm1')
    assert by_name.keys() == mine.keys()
    assert by_name[('spoofed_ipv4', vm1.port)]['packets'] >= SPOOFS
    in_port = br.ofport(vm1.port)
    flow, = [f for f in br.dump_flows(match=f'table=10,in_port={in_port}')
             if f['actions'] == 'drop' and f['priority'] == 50 and 'ip' in f['match'].split(',')]
    assert flow['n_packets'] == mine[('spoofed_ipv4', vm1.port)]['packets']
    assert api.request('GET', '/v1/drops?port=no-such-port')[0] == 404


def drops_row(api, reason):
    """(packets, bytes) of br0's row for `reason` in GET /v1/drops."""
    row, = [r for r in api.get('/v1/drops') if r['datapath'] == 'br0' and r['reason'] == reason]
    return row['packets'], row['bytes']


def switch_sum(br, reason):
    """(packets, bytes) the switch sums over the reason's drop flows (ovs-ofctl dump-aggregate)."""
    cookie, mask = reason_cookie(reason)
    out = ofctl(br, 'dump-aggregate', f'table={TABLES[reason]},cookie={cookie:#x}/{mask:#x}')
    found = dict(re.findall(r'(\w+_count)=(\d+)', out))
    return int(found['packet_count']), int(found['byte_count'])


def port_rows(api, port=None, interface=None):
    query = f'port={port}' if port else f'interface={interface}'
    return {(r['reason'], r['port']): r for r in api.get(f'/v1/drops?{query}')}


def test_an_edit_moves_the_revision_the_apply_histogram_and_the_reloads(lab):
    s = scenario(lab)
    _, api = start(lab, s)
    before = scrape(api)
    revision = value(before, 'vnet_topology_revision')
    applies = value(before, 'vnet_apply_duration_seconds_count')
    applied = value(before, 'vnet_topology_reloads_total', result='applied')
    assert revision >= 1 and applies >= 1                 # the first programming of br0
    s.doc['interfaces']['net1-dns'] = gateway('net1', '52:54:00:74:0b:fd', '172.16.1.253')  # new flows
    s.write()
    wait_for(lambda: value(scrape(api), 'vnet_topology_revision') == revision + 1, timeout=10,
             what='the revision to move')
    wait_for(lambda: value(scrape(api), 'vnet_apply_duration_seconds_count') > applies, timeout=10,
             what='the apply histogram to count the change')
    after = scrape(api)
    assert value(after, 'vnet_topology_reloads_total', result='applied') == applied + 1
    assert value(after, 'vnet_topology_info', source=str(s.path),
                 digest=api.get('/v1/status')['topology']['digest']) == 1
    assert value(after, 'vnet_bundle_commits_total', datapath='br0') >= 1
    assert value(after, 'vnet_flow_mods_sent_total', datapath='br0') >= 1

    s.path.write_text(s.path.read_text() + '# a comment changes no datapath\n')
    wait_for(lambda: value(scrape(api), 'vnet_topology_reloads_total', result='unchanged') == 1,
             timeout=10, what='the comment-only edit to be counted as unchanged')
    revision = value(scrape(api), 'vnet_topology_revision')
    s.path.write_text('networks: {net1: {ipv4: 172.16.1.5/24}}\n')     # refused: host bits
    wait_for(lambda: value(scrape(api), 'vnet_topology_reloads_total', result='refused') == 1,
             timeout=10, what='the refused edit to be counted')
    assert value(scrape(api), 'vnet_topology_revision') == revision


def test_a_datapath_that_disconnects_shows_0_and_its_ports_and_flows_are_reported(lab):
    s = scenario(lab)
    ctl, api = start(lab, s)
    br = s.bridges['br0']
    samples = scrape(api)
    assert value(samples, 'vnet_datapath_connected', datapath='br0') == 1
    assert value(samples, 'vnet_port_up', datapath='br0', port=s.hosts['vm1'].port) == 1
    per_table = {}
    for f in br.dump_flows():
        per_table[str(f['table'])] = per_table.get(str(f['table']), 0) + 1
    assert {t: value(samples, 'vnet_datapath_flows', datapath='br0', table=t)
            for t in per_table} == per_table
    sh(['ip', 'link', 'set', s.hosts['vm2'].port, 'down'])
    wait_for(lambda: value(scrape(api), 'vnet_port_up', datapath='br0',
                           port=s.hosts['vm2'].port) == 0, timeout=10, what='vm2 port down')
    assert value(scrape(api), 'vnet_port_status_changes_total', datapath='br0',
                 change='modified') >= 1
    sh(['ovs-vsctl', 'del-controller', br.name])
    wait_for(lambda: value(scrape(api), 'vnet_datapath_connected', datapath='br0') == 0,
             timeout=15, what='br0 to show disconnected')
    sh(['ovs-vsctl', 'set-controller', br.name, f'tcp:127.0.0.1:{ctl.port}'])
    wait_for(lambda: value(scrape(api), 'vnet_datapath_connected', datapath='br0') == 1,
             timeout=20, what='br0 to show connected again')


def test_a_tagged_frame_is_counted_as_tagged(lab):
    s = scenario(lab)
    _, api = start(lab, s)
    wait_for(lambda: dropped(api, 'tagged_frame', 0) is not None, timeout=10,
             what='the drop counters of br0 in /metrics')
    before = dropped(api, 'tagged_frame', 0)
    with RawPort(s.hosts['vm1']) as port:
        for _ in range(10):
            port.send(eth(VM2, VM1, ETH_TYPE_IP, b'\x45' + b'\0' * 40, tags=((0x8100, 7),)))
    wait_for(lambda: dropped(api, 'tagged_frame', 0) >= before + 10, timeout=10,
             what='tagged frames to be counted')


def test_a_dhcp_flood_shows_the_meters_drops_for_its_port_and_the_replies_sent(lab):
    s = scenario(lab)
    _, api = start(lab, s)
    vm1 = s.hosts['vm1']
    wait_for(lambda: dropped(api, 'dhcp_rate_limited', 10) is not None, timeout=10,
             what='the DHCP meters of br0 in /metrics')
    before, offers = dropped(api, 'dhcp_rate_limited', 10), value(
        scrape(api), 'vnet_dhcp_replies_total', kind='offer')
    flood = 400                       # in about 1 s: over the port's 50/s with a burst of 100
    with RawPort(vm1) as port:
        port.flood(lambda i: dhcp.build_request(dhcp.DISCOVER, 0x5000 + i, VM1), flood, 1.0)
    wait_for(lambda: dropped(api, 'dhcp_rate_limited', 10) >= before + flood // 4, timeout=10,
             what='the DHCP meter drops to be counted', state=lambda: dropped(api, 'dhcp_rate_limited', 10))
    samples = scrape(api)
    sent = value(samples, 'vnet_dhcp_replies_total', kind='offer') - offers
    punted = value(samples, 'vnet_packet_ins_total', reason='dhcp_request')
    assert 1 <= sent <= punted < flood             # the meter let some through, and they were answered
    assert port_rows(api, vm1.port)[('dhcp_rate_limited', vm1.port)]['packets'] >= flood // 4
    vm2 = s.hosts['vm2'].port
    assert port_rows(api, vm2)[('dhcp_rate_limited', vm2)]['packets'] == 0
