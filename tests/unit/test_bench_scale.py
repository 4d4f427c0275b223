"""bench.scale's pure parts: the sizes' topologies, reading the controller's log,
the summary of rounds, the targets and the table."""
import pytest

from bench.scale.cli import parse_args, parse_sizes
from bench.scale.controllog import APPLIED_RE, CONNECTED_RE, PLAN_RE, find_line, log_time
from bench.scale.ovsdb import removal_batch
from bench.scale.pure import DPID_BASE, ScaleTopology
from bench.scale.report import notes, summarise, table, targets, verdicts
from bench.scale.switch import meter_lines

CPU = {'wall_s': 1.0, 'controller_cpu_s': 0.25, 'machine_busy': 0.5, 'steal': 0.0, 'cpus': 2}


def install(wall_s, applied_ms=40.0, problems=(), confirmed_s=None):
    return {'wall_s': wall_s, 'confirmed_s': wall_s - 0.05 if confirmed_s is None else confirmed_s,
            'applied_ms': applied_ms, 'flow_mods': 1112, 'cpu': CPU,
            'split_s': {'read_back': 0.01, 'compile_plan': None, 'build_send': 0.02},
            'problems': list(problems)}


def ofctl(flows_s, version='OpenFlow14', **extra):
    return {'version': version, 'flows_s': flows_s, **extra}


def edit(kind, applied_ms, flow_mods=12, visible_ms=170.0):
    return {'kind': kind, 'applied_ms': applied_ms, 'flow_mods': flow_mods, 'visible_ms': visible_ms,
            'cpu': CPU, 'split_ms': {'detect_validate': 150.0, 'switch_after_send': 1.0},
            'problems': []}


def size_result(size, flows, ours, ofctls, edits, runs=5):
    r = {'size': size, 'interfaces': size + 2 * (size // 100), 'flows': flows, 'ovs': 'private',
         'port_setup_s': 0.4, 'port_teardown_s': 0.0,
         'validate_ms': {'median': 20.0, 'runs': [20.0] * runs},
         'compile_ms': {'median': 44.4, 'runs': [44.4] * runs}}
    r.update(summarise(flows, ours, ofctls, edits, 'OpenFlow14'))
    return r


@pytest.fixture
def results():
    small = size_result(1000, 10000, [install(0.4), install(0.2), install(0.3)],
                        [ofctl(0.1, identical_to_ours=True), ofctl(0.12), ofctl(0.08),
                         ofctl(0.5, version='OpenFlow13')],
                        [edit('add', 1.0), edit('revert', 2.0), edit('add', 3.0)])
    big = size_result(10000, 100000, [install(2.5)], [ofctl(1.5, identical_to_ours=True)],
                      [edit('add', 5.5)], runs=1)
    return [small, big]


# -- one size's topology -------------------------------------------------------------

def test_a_size_names_its_ports_after_the_lab_and_numbers_them_from_one():
    topo = ScaleTopology(3, 100, 'nl1a2')

    assert topo.port_names == {0: 'nl1a2v0', 1: 'nl1a2v1', 2: 'nl1a2v2', 3: 'nl1a2v3'}
    assert topo.ofports == {'nl1a2v0': 1, 'nl1a2v1': 2, 'nl1a2v2': 3, 'nl1a2v3': 4}
    assert (topo.edit_port, topo.edit_ofport) == ('nl1a2v3', 4)
    assert 'port: nl1a2v2\n' in topo.text and 'nl1a2v3' not in topo.text
    assert '  vm3:\n' in topo.edit_text and 'port: nl1a2v3\n' in topo.edit_text


def test_a_size_has_a_dpid_of_its_own_per_lab_and_size():
    assert ScaleTopology(100, 100, 'nl1a2').dpid == DPID_BASE | 0x1a2 << 8 | 3
    assert ScaleTopology(1000, 100, 'nl1a2').dpid != ScaleTopology(100, 100, 'nl1a2').dpid
    assert f'dpid: {ScaleTopology(100, 100, "nl1a2").dpid:#x}' in ScaleTopology(100, 100, 'nl1a2').text


def test_a_size_counts_its_networks_rounding_up():
    assert ScaleTopology(1001, 100, 'nl000').networks == 11
    assert ScaleTopology(5, 100, 'nl000').networks == 1


# -- the command line ------------------------------------------------------------------

def test_sizes_are_comma_separated_and_may_use_underscores():
    assert parse_sizes('100, 1_000,10000') == [100, 1000, 10000]


@pytest.mark.parametrize('text', ['', 'ten', '0', '60001', '100,-5'])
def test_sizes_outside_one_to_sixty_thousand_are_refused(text):
    with pytest.raises(ValueError):
        parse_sizes(text)


def test_the_arguments_default_to_three_sizes_on_a_private_ovs():
    args = parse_args([])
    assert (args.size_list, args.ovs, args.per_network, args.ofctl_version) == \
        ([100, 1000, 10000], 'private', 100, 'OpenFlow14')


@pytest.mark.parametrize('argv', [['--sizes', 'x'], ['--per-network', '0'],
                                  ['--per-network', '300'], ['--ovs', 'other'], ['--rounds', '-1']])
def test_bad_arguments_stop_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(argv)
    assert stop.value.code == 2
    assert 'error:' in capsys.readouterr().err


# -- what bench.scale reads -----------------------------------------------------------

LOG = [
    '2026-11-22 10:00:00,000 INFO br0 (dpid 0x1): connected with 101 ports',
    '2026-11-22 10:00:00,250 INFO br0 (dpid 0x1): connected: +1011 -0 flows, +1 ~0 -0 groups '
    '(1112 flow-mods, one bundle)',
    '2026-11-22 10:00:01,500 INFO br0 (dpid 0x1): topology change: +9 -0 flows, +0 ~1 -0 groups '
    '(10 flow-mods, one bundle)',
    '2026-11-22 10:00:01,505 INFO br0 (dpid 0x1): topology change: applied in 4.1 ms (10 flow-mods)',
]


def test_log_lines_are_found_with_their_time_and_fields():
    t, m = find_line(LOG, CONNECTED_RE)
    assert t == log_time('2026-11-22 10:00:00,000') and m.group('ports') == '101'
    t_plan, plan = find_line(LOG, PLAN_RE, 'connected')
    assert t_plan - t == pytest.approx(0.25)
    assert (plan.group('add'), plan.group('mods'), bool(plan.group('bundle'))) == ('1011', '1112', True)


def test_a_log_line_is_matched_by_its_reason_too():
    t, m = find_line(LOG, PLAN_RE, 'topology change')
    assert (m.group('add'), m.group('mods')) == ('9', '10')
    assert find_line(LOG, APPLIED_RE, 'connected') is None
    assert find_line(LOG, APPLIED_RE, 'topology change')[1].group('ms') == '4.1'


def test_meters_are_dumped_in_the_syntax_add_meter_reads():
    dump = ('OFPST_METER_CONFIG reply (OF1.3) (xid=0x2):\n'
            'meter=1 pktps burst bands=\ntype=drop rate=50 burst_size=100\n'
            'meter=2 pktps burst bands=\ntype=drop rate=20 burst_size=40\n')
    assert meter_lines(dump) == ['meter=1,pktps,burst,band=type=drop,rate=50,burst_size=100',
                                 'meter=2,pktps,burst,band=type=drop,rate=20,burst_size=40']


def test_ports_are_removed_in_batches_that_keep_ovs_vswitchd_responsive():
    assert removal_batch(100) == 5000
    assert removal_batch(10000) == 55
    assert removal_batch(10 ** 7) == 50


# -- the summary, the targets and the table ------------------------------------------

def test_a_summary_compares_median_install_time_with_the_chosen_ovs_ofctl_version(results):
    small = results[0]
    assert small['install']['wall_s'] == 0.3
    assert small['install']['confirmed_s'] == pytest.approx(0.25)
    assert small['ofctl']['flows_s'] == 0.1                    # OpenFlow13's 0.5 s is left out
    assert small['ratio'] == pytest.approx(0.1 / 0.25)         # both end at the confirmed commit
    assert small['ratio_visible'] == pytest.approx(0.1 / 0.3)
    assert small['ofctl']['identical_to_ours'] is True


def test_a_round_from_before_the_confirmed_time_was_kept_compares_on_visible():
    old = install(0.4)
    del old['confirmed_s']
    r = summarise(1000, [old], [ofctl(0.2)], [], 'OpenFlow14')
    assert r['ratio'] == pytest.approx(0.5) == r['ratio_visible']


def test_a_summary_reports_the_edits_that_add_and_the_slowest_of_all(results):
    e = results[0]['edit']
    assert (e['applied_ms'], e['revert_applied_ms'], e['max_applied_ms']) == (2.0, 2.0, 3.0)
    assert e['flow_mods'] == [12]


def test_targets_are_met_when_the_ratio_edits_and_flow_mod_counts_are_good(results):
    results[1]['ratio'] = 0.85
    assert {t['target']: t['met'] for t in targets(results)} == {
        'ratio >= 0.8 at 10000': True, 'edit applied < 100 ms at 1000': True,
        'edit applied < 100 ms at 10000': True, 'edit flow-mods the same at every size': True}


def test_a_slow_install_a_slow_edit_or_a_growing_edit_misses_its_target(results):
    results[1]['edit']['max_applied_ms'] = 150.0
    results[1]['edit']['flow_mods'] = [14]
    missed = [t['target'] for t in targets(results) if not t['met']]
    assert missed == ['ratio >= 0.8 at 10000', 'edit applied < 100 ms at 10000',
                      'edit flow-mods the same at every size']


def test_any_problem_misses_the_no_problems_target(results):
    results[0]['problems'] = ['9 flows instead of 10']
    assert targets(results)[-1] == {'target': 'no problems at 1000', 'value': ['9 flows instead of 10'],
                                    'met': False}
    assert verdicts(targets(results))[-1] == "target no problems at 1000: ['9 flows instead of 10'] -> MISSED"


def test_the_table_has_one_row_per_size_and_stars_what_ran_once(results):
    lines = table(results).splitlines()

    assert lines[0] == (' size | interfaces |  flows | compile ms | validate ms | install s (ours) | '
                        'visible s | flows/s ours | flows/s ovs-ofctl bundle | ratio | edit flow-mods | '
                        'edit applied ms | edit visible ms')
    assert set(lines[1]) == {'-', '+'} and len(lines[1]) == len(lines[0])
    assert [c.strip() for c in lines[2].split('|')] == [
        '1000', '1020', '10000', '44', '20', '0.25', '0.30', '40000', '100000', '0.40', '12', '2.0',
        '170']
    assert [c.strip() for c in lines[3].split('|')] == [
        '10000', '10200', '100000', '44*', '20*', '2.45*', '2.50*', '40816*', '66667*', '0.61*',
        '12*', '5.5*', '170*']


def test_a_size_without_a_switch_shows_dashes(results):
    pure = {'size': 100, 'interfaces': 102, 'flows': 1011,
            'validate_ms': {'median': 2.0, 'runs': [2.0, 2.0]},
            'compile_ms': {'median': 3.0, 'runs': [3.0, 3.0]}}
    row = table([pure]).splitlines()[2]
    assert [c.strip() for c in row.split('|')][5:] == ['-'] * 8


def test_the_notes_count_the_runs_and_split_the_first_install(results):
    lines = notes(results)

    assert lines[0] == ('medians; * = a single run. Runs: 1000: validate 5, compile 5, install 3, '
                        'ovs-ofctl 3, edits 3 (table: adds only); 10000: validate 1, compile 1, '
                        'install 1, ovs-ofctl 1, edits 1 (table: adds only)')
    assert lines[1] == ('1000: ours = connection -> the switch confirmed the commit (visible s: -> all '
                        'flows in a dump, ratio 0.33 on that); controller "applied in" 40 ms '
                        '(1112 flow-mods); first install split: read_back 0.01 s, build_send 0.02 s; '
                        'controller CPU 0.25 s of 1.00 s, machine 50% busy (2 CPUs)')
    assert lines[3] == ('1000: ovs-ofctl -O OpenFlow14 --bundle add-flows 0.10 s; identical to ours: '
                        'True; -O OpenFlow13 --bundle: 0.50 s; private ovs-vswitchd: ports created in '
                        '0.4 s, teardown 0.0 s')
