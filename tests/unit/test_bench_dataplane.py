"""bench.dataplane's pure parts: a case's result from its runs, the table, the command line."""
import pytest

from bench.dataplane import CASES, parse_args, summarise_case, table


def result(case, ours, baseline, seconds=5.0, omit=1):
    return summarise_case(CASES[case], {'ours': ours, 'baseline': baseline}, seconds, omit)


def test_a_case_compares_the_medians_of_both_sides_against_its_target():
    r = result('l2', [0.60, 0.58, 0.61], [0.62, 0.59, 0.60])

    assert (r['median_ours'], r['median_baseline'], r['runs']) == (0.60, 0.60, 3)
    assert r['ratio'] == pytest.approx(1.0) and r['meets_target'] is True
    assert r['min'] == {'ours': 0.58, 'baseline': 0.59}
    assert r['spread']['ours'] == pytest.approx(0.61 / 0.58)


def test_a_ratio_below_the_target_misses_it():
    assert result('l2', [0.5], [0.6])['meets_target'] is False        # 0.83 < 0.95
    assert result('routed', [0.55], [0.6])['meets_target'] is True    # 0.92 >= 0.90


def test_the_table_lists_each_case_with_its_verdict_and_spread():
    lines = table([result('l2', [0.597], [0.590]), result('routed', [0.5], [0.6])]).splitlines()

    assert lines[0] == ('dataplane benchmark: iperf3 TCP, 1 alternating pairs (ours, baseline) of 5 s '
                        '(+1 s warm-up omitted) per case, Gbit/s')
    assert lines[3].split() == ['case', 'ours', 'med', 'base', 'med', 'ratio', 'target', 'ours',
                                'min-max', 'base', 'min-max']
    assert lines[5] == 'l2         0.597    0.590  1.012 >= 0.95 ok         0.60-0.60     0.59-0.59'
    assert lines[6].split()[4:8] == ['>=', '0.90', 'MISSES', '0.50-0.50']
    assert lines[8].startswith('l2: two vifs of one virtual network on one datapath; max/min ours 1.00')
    assert not any(line.startswith('warning') for line in lines)


def test_the_table_warns_about_noisy_runs():
    text = table([result('l2', [0.4, 0.6], [0.6, 0.6])])
    assert 'warning: noisy runs (l2 ours max/min = 1.50); is something else using the CPUs?' in text


def test_the_arguments_default_to_both_cases_three_pairs_of_five_seconds():
    args = parse_args([])
    assert [c.name for c in args.cases] == ['l2', 'routed']
    assert (args.runs, args.seconds, args.omit) == (3, 5, 1)
    assert [c.name for c in parse_args(['--case', 'routed']).cases] == ['routed']


@pytest.mark.parametrize('argv', [['--runs', '0'], ['--seconds', '0'], ['--omit', '-1'],
                                  ['--case', 'vxlan']])
def test_bad_arguments_stop_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(argv)
    assert stop.value.code == 2
    assert 'error:' in capsys.readouterr().err
