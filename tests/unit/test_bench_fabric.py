"""bench.fabric_control and bench.fabric_dataplane, their pure parts: the
fabric's topology and what an edit changes, the OVSDB operations, reading the
controller's log, the ratios and medians, the tables and verdicts."""
import json

import pytest
import yaml

from bench import fabric_dataplane as fdp
from bench.fabric_control import controllog as clog
from bench.fabric_control.cli import parse_args as control_args
from bench.fabric_control.report import grouped_changes, name_list, table, verdicts
from bench.fabric_control.switches import DETACH_OPS, attach_ops, bridge_ops
from bench.fabric_control.topo import (
    OFPP_LOCAL,
    Desired,
    Shape,
    bridge_plans,
    bridge_ports,
    changes,
    desired_states,
    edit_vif,
    probe,
    with_tunnel_ports,
)
from controller.topology import load_topology
from controller.topology.diff import affected_datapaths
from lab import topogen

SMALL = Shape(datapaths=6, per_datapath=4, span=3, networks_per_datapath=2)


def load(tmp_path, text, name='t.yml'):
    path = tmp_path / name
    path.write_text(text)
    return load_topology(str(path))


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """SMALL's two topologies (without and with the edit's vif) and every
    bridge's ports, numbered 1.. in plan order."""
    tmp = tmp_path_factory.mktemp('fabric')
    topologies = [load(tmp, with_tunnel_ports(topogen.topology_text(SMALL.spec(extra_vif=e))), f'{e}.yml')
                  for e in (False, True)]
    numbers = {}
    for p in bridge_plans(SMALL):
        numbers.update({n: i for i, n in enumerate((*p.ports, p.tunnel_port), 1)})
    ports = {p.name: bridge_ports(p, numbers) for p in bridge_plans(SMALL)}
    return topologies, ports


# -- the fabric's shape and topology --------------------------------------------------

def test_the_default_fabric_is_100_datapaths_of_100_vifs_in_networks_spanning_10():
    s = Shape()
    assert (s.datapaths, s.per_datapath, s.span, s.networks_per_datapath) == (100, 100, 10, 10)
    assert (s.vifs, s.networks, s.per_network) == (10_000, 100, 100)
    spec = s.spec()
    assert (spec.vifs, spec.per_network, spec.datapaths, spec.span, spec.with_tunnel_ips) == \
        (10_000, 100, 100, 10, True)


@pytest.mark.parametrize('kwargs, message', [
    ({'span': 7}, 'span 7 > datapaths 6'),
    ({'per_datapath': 5}, 'not a multiple of networks-per-datapath'),
    ({'datapaths': 5, 'span': 3}, 'not a multiple of span 3'),
    ({'per_datapath': 0}, 'at least 1'),
    ({'per_datapath': 250, 'networks_per_datapath': 1}, 'vifs per network'),
])
def test_a_shape_that_cannot_be_laid_out_evenly_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Shape(**{'datapaths': 6, 'per_datapath': 4, 'span': 3, 'networks_per_datapath': 2, **kwargs})


def test_each_datapath_gets_its_own_tunnel_port_after_its_tunnel_ip():
    text = with_tunnel_ports(topogen.topology_text(SMALL.spec()))
    lines = text.splitlines()
    i = lines.index('  br4:')
    assert lines[i:i + 4] == ['  br4:', '    dpid: 0xfab000000004', '    tunnel_ip: 198.18.0.5',
                              '    tunnel_port: vx4']
    assert text.count('tunnel_port:') == 6


def test_the_fabric_topology_is_valid_and_spread_evenly(small):
    (topology, _), _ = small
    assert {n: d.tunnel_port for n, d in topology.datapaths.items()} == {f'br{d}': f'vx{d}' for d in range(6)}
    for dp in topology.datapaths:
        vifs = list(topology.ports_on(dp).values())
        assert len(vifs) == SMALL.per_datapath
        assert len({i.network for i in vifs}) == SMALL.networks_per_datapath
    for net in topology.networks:
        on = {i.datapath for i in topology.interfaces.values() if i.network == net and i.datapath}
        assert len(on) == SMALL.span


def test_every_bridge_has_its_vif_ports_and_the_edit_port_only_where_the_edit_plugs_it():
    plans = {p.name: p for p in bridge_plans(SMALL)}
    vif = edit_vif(SMALL)
    assert (vif.name, vif.network, vif.datapath, vif.port) == ('vm24', 'n0', 'br0', 'p24')
    assert {n: len(p.ports) for n, p in plans.items()} == {'br0': 5, **{f'br{d}': 4 for d in range(1, 6)}}
    assert (plans['br2'].dpid, plans['br2'].tunnel_port, plans['br2'].tunnel_ip) == (0xfab000000002, 'vx2', '198.18.0.3')
    every_port = [n for p in plans.values() for n in (*p.ports, p.tunnel_port, p.name)]
    assert len(every_port) == len(set(every_port))          # one ovs-vswitchd: names are global


def test_bridge_ports_are_the_numbers_the_switch_gave_plus_local():
    p = bridge_plans(SMALL)[1]
    numbers = {p.ports[0]: 7, p.ports[1]: -1, p.tunnel_port: 9, 'elsewhere': 3}
    assert bridge_ports(p, numbers) == {p.ports[0]: 7, p.tunnel_port: 9, p.name: OFPP_LOCAL}


def test_the_edit_changes_exactly_the_datapaths_of_its_network(small):
    (before_t, after_t), ports = small
    before, after = desired_states(before_t, ports), desired_states(after_t, ports)
    added = changes(before, after)
    network_dps = topogen.network_datapaths(SMALL.spec(), 0)
    assert list(added) == network_dps == ['br0', 'br1', 'br2']
    assert set(added) == affected_datapaths(before_t, after_t)       # the controller agrees
    assert len(added['br0'].added) > 5 and added['br0'].groups == 1
    for dp in ('br1', 'br2'):                # elsewhere: one flow towards the new vif
        assert (len(added[dp].added), len(added[dp].removed), added[dp].groups) == (1, 0, 0)
    removed = changes(after, before)
    assert list(removed) == network_dps and len(removed['br1'].removed) == 1


def test_a_change_is_seen_by_one_of_its_flows():
    c = changes({'br0': fdesired({1, 2}), 'br1': fdesired({5})}, {'br0': fdesired({1, 2, 9, 4}), 'br1': fdesired(set())})
    assert probe(c['br0']) == ('cookie=0x4/-1', 1)           # an added flow appears
    assert probe(c['br1']) == ('cookie=0x5/-1', 0)           # a removed one disappears
    only_groups = changes({'br0': fdesired({1}, {7: 'a'})}, {'br0': fdesired({1}, {7: 'b'})})
    assert only_groups['br0'].groups == 1 and probe(only_groups['br0']) is None


def fdesired(cookies, groups=None):
    return Desired(frozenset(cookies), groups or {})


# -- OVSDB operations -----------------------------------------------------------------

def test_one_transaction_creates_every_bridge_with_its_ports():
    plans = bridge_plans(SMALL)
    ops = bridge_ops(plans)
    json.dumps(ops)                                           # it goes over the wire as is
    inserts = [o for o in ops if o['op'] == 'insert']
    assert len([o for o in inserts if o['table'] == 'Bridge']) == 6
    assert len([o for o in inserts if o['table'] == 'Interface']) == 25 + 6 + 6   # vifs, VXLAN, LOCAL
    vxlan = next(o['row'] for o in inserts if o['table'] == 'Interface' and o['row']['name'] == 'vx3')
    assert vxlan['type'] == 'vxlan' and vxlan['options'] == ['map', [['key', 'flow'], ['local_ip', '198.18.0.4'],
                                                                     ['remote_ip', 'flow']]]
    br = next(o['row'] for o in inserts if o['table'] == 'Bridge' and o['row']['name'] == 'br3')
    assert (br['datapath_type'], br['fail_mode'], br['protocols']) == ('netdev', 'secure', ['set', ['OpenFlow13']])
    assert ['datapath-id', '0000fab000000003'] in br['other_config'][1] and 'controller' not in br
    root = ops[-1]
    assert root['table'] == 'Open_vSwitch' and len(root['mutations'][0][2][1]) == 6
    assert len({o['uuid-name'] for o in inserts}) == len(inserts)


def test_controller_targets_are_attached_to_all_bridges_and_removed_from_all_at_once():
    ops = attach_ops(['br0', 'br1'], 'tcp:127.0.0.1:6653')
    assert [o['op'] for o in ops] == ['insert', 'update', 'insert', 'update']
    assert ops[0]['row'] == {'target': 'tcp:127.0.0.1:6653', 'connection_mode': 'out-of-band',
                             'max_backoff': 1000}
    assert ops[3] == {'op': 'update', 'table': 'Bridge', 'where': [['name', '==', 'br1']],
                      'row': {'controller': ['named-uuid', ops[2]['uuid-name']]}}
    assert DETACH_OPS[0]['where'] == [] and DETACH_OPS[0]['row'] == {'controller': ['set', []]}


# -- the controller's log -------------------------------------------------------------

LOG = '''\
2026-11-30 19:36:30,613 INFO    vnet: listening for switches on 127.0.0.1:43961
2026-11-30 19:36:32,125 INFO    vnet: br97 (dpid 0xfab000000061): connected with 102 ports
2026-11-30 19:36:32,200 INFO    vnet: br97 (dpid 0xfab000000061): found 0 of our flows, 0 groups and 0 meters installed
2026-11-30 19:36:32,230 INFO    vnet: br97 (dpid 0xfab000000061): connected: +2157 -0 flows, +10 ~0 -0 groups, +100 ~0 -0 meters (2267 flow-mods, one bundle)
2026-11-30 19:36:33,800 INFO    vnet: br97 (dpid 0xfab000000061): connected: applied in 1570.5 ms (2267 flow-mods)
2026-11-30 19:36:47,503 INFO    vnet: br57 (dpid 0xfab000000039): connected: already in sync
2026-11-30 19:36:48,509 INFO    vnet: topology /tmp/x/fabric.yml changed: interfaces +vm10000 (10 of 100 datapaths may change)
2026-11-30 19:36:48,595 INFO    vnet: br0 (dpid 0xfab000000000): topology change: +12 -0 flows, +0 ~1 -0 groups, +1 ~0 -0 meters (14 flow-mods, one bundle)
2026-11-30 19:36:48,600 INFO    vnet: br1 (dpid 0xfab000000001): topology change: +1 -0 flows, +0 ~0 -0 groups (1 flow-mods)
2026-11-30 19:36:48,645 INFO    vnet: br0 (dpid 0xfab000000000): topology change: applied in 50.5 ms (14 flow-mods)
2026-11-30 19:36:49,000 ERROR   vnet: br1 (dpid 0xfab000000001): switch refused a message: OFPBRC_BAD_TYPE (first bytes: 04)
'''.splitlines()


def test_plan_lines_give_each_datapath_its_change_and_flow_mod_count():
    edit = clog.plans(LOG, 'topology change')
    assert [(p.name, p.dpid, p.adds, p.deletes, p.groups, p.meters, p.mods, p.bundle) for p in edit] == [
        ('br0', 0xfab000000000, 12, 0, 1, 1, 14, True), ('br1', 0xfab000000001, 1, 0, 0, 0, 1, False)]
    assert edit[0].t == clog.log_time('2026-11-30 19:36:48,595')
    startup = clog.plans(LOG, 'connected')
    assert [(p.name, p.dpid, p.adds, p.groups, p.meters, p.mods) for p in startup] == [
        ('br97', 0xfab000000061, 2157, 10, 100, 2267)]
    assert len(clog.plans(LOG)) == 3


def test_applied_connected_and_in_sync_lines_are_found_by_datapath():
    assert [(a.name, a.reason, a.ms, a.mods) for a in clog.applied(LOG)] == [
        ('br97', 'connected', 1570.5, 2267), ('br0', 'topology change', 50.5, 14)]
    assert set(clog.times(LOG, clog.APPLIED_RE, 'topology change')) == {'br0'}
    assert clog.times(LOG, clog.CONNECTED_RE) == {'br97': clog.log_time('2026-11-30 19:36:32,125')}
    assert set(clog.times(LOG, clog.IN_SYNC_RE, 'connected')) == {'br57'}
    assert clog.first_time(LOG, clog.LISTENING_RE) == clog.log_time('2026-11-30 19:36:30,613')
    assert clog.log_time('2026-11-30 19:36:30,613') - clog.log_time('2026-11-30 19:36:30,000') == \
        pytest.approx(0.613)


def test_the_topology_change_line_says_how_many_datapaths_may_change():
    changed = clog.topology_changed(LOG)
    assert (changed.what, changed.affected, changed.total) == ('interfaces +vm10000', 10, 100)
    every = clog.topology_changed(['2026-11-30 19:36:48,509 INFO    vnet: topology t.yml changed: '
                                   'datapaths +br9 (every datapath may change)'])
    assert (every.affected, every.total) == (None, None)
    assert clog.topology_changed(LOG[:3]) is None


def test_problems_and_messages():
    assert clog.problems(LOG) == [LOG[-1]]
    assert clog.message(LOG[1]) == 'br97 (dpid 0xfab000000061): connected with 102 ports'


def test_ovs_connection_events_are_counted_by_kind():
    text = ('2026-11-30T19:36:32.049Z|00139|rconn|INFO|br3<->tcp:127.0.0.1:48335: connecting...\n'
            '2026-11-30T19:36:33.049Z|00140|rconn|WARN|br4<->tcp:127.0.0.1:48335: connection timed out\n'
            '2026-11-30T19:36:33.049Z|00141|rconn|INFO|br4<->tcp:127.0.0.1:48335: waiting 2 seconds before reconnect\n'
            '2026-11-30T19:36:34.049Z|00142|rconn|INFO|br3<->tcp:127.0.0.1:48335: connecting...\n'
            '2026-11-30T19:36:34.049Z|00143|bridge|INFO|bridge br3: added interface vx3 on port 2\n')
    assert clog.rconn_events(text) == {'connecting...': 2, 'connection timed out': 1,
                                       'waiting 2 seconds before reconnect': 1}


# -- fabric_control's report ----------------------------------------------------------

def test_datapath_names_are_listed_as_runs():
    assert name_list(['br3', 'br0', 'br1', 'br2', 'br9', 'br12', 'br11']) == 'br0-br3, br9, br11-br12'
    assert name_list(['x', 'br5']) == 'br5, x' and name_list([]) == '(none)'


def touched(mods0=14, others=range(1, 10)):
    t = {'br0': {'adds': 12, 'deletes': 0, 'groups': 1, 'meters': 1, 'mods': mods0, 'bundle': True}}
    t.update({f'br{d}': {'adds': 1, 'deletes': 0, 'groups': 0, 'meters': 0, 'mods': 1, 'bundle': True}
              for d in others})
    return t


def test_identical_changes_are_grouped():
    assert grouped_changes(touched()) == [
        'br0: +12 -0 flows, 1 groups, 1 meters (14 flow-mods, one bundle)',
        'br1-br9: +1 -0 flows, 0 groups (1 flow-mods, one bundle)']


CPU = {'wall_s': 5.0, 'controller_cpu_s': 3.0, 'machine_busy': 0.85, 'steal': 0.0, 'cpus': 2,
       'ovs_cpu_s': 4.1}


def startup(i, wall):
    return {'round': i, 'wall_s': wall, 'listening_s': 0.45, 'attached_s': 0.47,
            'first_connected_s': 0.85, 'last_connected_s': 1.7, 'last_applied_s': wall - 0.9,
            'compile_send_s': 2.9, 'applied_ms': {'median': 1600.0, 'max': 2700.0},
            'flow_mods': 226_700, 'one_bundle_each': True, 'cpu': CPU, 'problems': []}


def edit(kind, t=None):
    return {'kind': kind, 'visible_s': 0.9, 'noticed_s': 0.6, 'last_applied_s': 0.75,
            'touched': touched() if t is None else t, 'cpu': CPU, 'problems': []}


def result(walls=(4.9, 5.0, 5.4), edits=None):
    return {'datapaths': 100, 'setup_s': 3.9, 'patch_ports': 10_001, 'vxlan_ports': 100,
            'validate_s': 0.2, 'compile_cold_s': 1.1, 'compile_edit_s': 0.8,
            'flows': {'min': 2157, 'median': 2157, 'max': 2157, 'total': 215_700}, 'groups': 1000,
            'startup': [startup(i, w) for i, w in enumerate(walls, 1)],
            'restart': {'wall_s': 17.6, 'in_sync': 100, 'first_connected_s': 1.9, 'last_connected_s': 15.9,
                        'changed': {}, 'cpu': CPU, 'ovs_connections': {'connection timed out': 74},
                        'problems': []},
            'edits': [edit('add'), edit('revert')] if edits is None else edits,
            'edit_network_datapaths': [f'br{d}' for d in range(10)]}


def test_every_target_met():
    v = verdicts(result())
    assert [x['met'] for x in v] == [True, True, True]
    assert v[0]['value'] == 'median 5.00 s, max 5.40 s over 3 rounds'
    assert v[1]['target'] == 'an edit touches only the datapaths of its network (10: br0-br9)'
    assert v[2]['value'] == 'at most 14, against 2157 flows per datapath'


def test_targets_missed_say_by_how_much():
    stray = touched(others=range(1, 12))                   # br10, br11 are not the network's
    v = verdicts(result(walls=(9.0, 12.5), edits=[edit('add', stray), edit('revert', touched(mods0=40))]))
    assert [x['met'] for x in v] == [False, False, False]
    assert v[0]['value'] == 'median 10.75 s, max 12.50 s over 2 rounds'
    assert v[1]['value'].startswith('add: 12 (br0-br11); revert: 10')
    assert v[2]['value'].startswith('at most 40')
    assert len(verdicts(result(edits=[]))) == 1


def test_the_control_table_shows_rounds_restart_edits_and_verdicts():
    text = table(result(), Shape(), 'vm10000 (10.0.0.101, port p10000)')
    lines = text.splitlines()
    assert lines[0].startswith('fabric control benchmark: 100 datapaths x 100 vifs = 10000 vifs; 100 networks')
    assert 'flows per datapath (compiled, and installed): min 2157, median 2157, max 2157; 215700 in all' in text
    row = next(ln for ln in lines if ln.startswith('2 '))
    assert row.split() == ['2', '0.45', '0.47', '0.85-1.70', '4.10', '5.00', '3.00', '4.10', '85%']
    assert next(ln for ln in lines if ln.startswith('median')).split()[:2] == ['median', '5.00']
    assert '100 of 100 found in sync 17.60 s after the controller started' in text
    assert '  ovs-vswitchd meanwhile: 74 x "connection timed out"' in lines
    add = next(ln for ln in lines if ln.startswith('add '))
    assert add.split() == ['add', '10', 'of', '100', '1/1/14', '0.60', '0.75', '0.90']
    assert '  add: br0: +12 -0 flows, 1 groups, 1 meters (14 flow-mods, one bundle); br1-br9: ' \
           '+1 -0 flows, 0 groups (1 flow-mods, one bundle)' in lines
    assert lines[-3].startswith('  every datapath programmed in < 10 s: met (median 5.00 s')
    assert 'problems seen' not in text


def test_control_arguments():
    a = control_args([])
    assert (a.shape, a.rounds, a.edits, a.json) == (Shape(), 3, 2, False)
    assert control_args(['--datapaths', '4', '--per-datapath', '10', '--span', '2']).shape.per_network == 2


@pytest.mark.parametrize('argv', [['--span', '200'], ['--rounds', '0'], ['--per-datapath', '15']])
def test_bad_control_arguments_stop_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        control_args(argv)
    assert stop.value.code == 2 and 'error:' in capsys.readouterr().err


# -- fabric_dataplane -----------------------------------------------------------------

def test_the_dataplane_topology_spans_both_hosts_by_their_tunnel_ips(tmp_path):
    topo = fdp.fabric_topology([('h1', 0x4501, '198.18.1.1'), ('h2', 0x4502, '198.18.1.2')],
                               [('a', '52:54:00:45:00:01', '10.45.1.1', 'h1', 'p-a'),
                                ('b', '52:54:00:45:00:02', '10.45.1.2', 'h2', 'p-b')])
    t = load(tmp_path, yaml.safe_dump(topo))
    assert {n: str(d.tunnel_ip) for n, d in t.datapaths.items()} == {'h1': '198.18.1.1', 'h2': '198.18.1.2'}
    assert t.networks['fabric'].vni == fdp.VNI
    assert t.senders_to('fabric') == {'h1', 'h2'}
    assert {i.ipv4 and str(i.ipv4) for i in t.interfaces.values() if i.mode == 'simulated'} == \
        {'10.45.1.254', '10.45.1.253'}


def test_the_ratio_is_the_median_of_per_round_ratios_not_of_medians():
    case = fdp.CASES[0]
    r = fdp.summarise(case, [1.0, 0.5, 0.9], [1.0, 0.6, 1.2])
    assert fdp.pair_ratios([1.0, 0.5, 0.9], [1.0, 0.6, 1.2]) == pytest.approx([1.0, 0.5 / 0.6, 0.75])
    assert r['ratio'] == pytest.approx(0.5 / 0.6)        # medians alone would give 0.9
    assert r['median'] == {'ours': 0.9, 'static': 1.0} and r['min'] == {'ours': 0.5, 'static': 0.6}
    assert r['meets_target'] is False and r['spread']['ours'] == pytest.approx(2.0)
    assert fdp.pair_ratios([1.0], [0.0]) == []
    context = fdp.summarise(fdp.CASES[1], [1.0], [1.0])
    assert context['target'] is None and context['meets_target'] is None


def test_the_dataplane_table():
    rows = [fdp.summarise(fdp.CASES[0], [0.95, 0.97, 0.93], [0.94, 0.92, 0.96]),
            fdp.summarise(fdp.CASES[1], [1.15, 1.17, 1.16], [1.16, 1.18, 1.10])]
    lines = fdp.table(rows, 3, 5, 1).splitlines()
    assert lines[0] == ('fabric data plane: iperf3 TCP VM -> VM, 3 alternating rounds (ours, static flows), '
                        '5 s per run (+1 s warm-up omitted), Gbit/s')
    assert lines[5].split() == ['cross-host', '0.950', '(0.93-0.97)', '0.940', '(0.92-0.96)', '1.011',
                                '>=', '0.95', 'ok']
    assert lines[6].split()[-2:] == ['0.992', 'context']
    assert 'cross-host / same-host (VXLAN cost): ours 0.83, static flows 0.81 (medians of per-round ratios)' in lines
    assert lines[-1] == 'target: cross-host ratio >= 0.95: met (1.011)'
    assert not any(ln.startswith('warning') for ln in lines)
    noisy = fdp.table([fdp.summarise(fdp.CASES[0], [0.5, 1.0], [1.0, 1.0])], 2, 5, 1)
    assert 'warning: noisy runs (cross-host ours max/min 2.00)' in noisy and 'MISSED' in noisy


def test_dataplane_arguments():
    a = fdp.parse_args([])
    assert (a.rounds, a.seconds, a.omit, a.json) == (3, 5, 1, False)
    with pytest.raises(SystemExit):
        fdp.parse_args(['--rounds', '0'])
