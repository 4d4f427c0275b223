"""bench.stats: the numbers every benchmark reports, and the order it measures in."""
import os

import pytest

from bench.stats import (
    CpuMeter,
    alternating,
    cpu_text,
    fmt,
    machine_cpu,
    median,
    percentile,
    proc_cpu_s,
    ratio,
    spread,
)


def test_the_median_leaves_out_unknown_values():
    assert median([3.0, None, 1.0, 2.0, None]) == 2.0
    assert median(x for x in [4.0, 1.0]) == 2.5


def test_the_median_of_nothing_known_is_unknown():
    assert median([]) is None
    assert median([None, None]) is None


@pytest.mark.parametrize('q, expected', [(0, 1), (50, 50), (99, 99), (99.5, 100), (100, 100)])
def test_a_percentile_is_the_nearest_rank(q, expected):
    assert percentile(list(range(1, 101)), q) == expected


def test_a_percentile_of_few_values_rounds_the_rank_up():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert percentile([], 50) is None


def test_the_spread_is_the_largest_over_the_smallest_run():
    assert spread([2.0, 3.0, 2.5]) == 1.5
    assert spread([0.0, 1.0]) == float('inf')


def test_a_ratio_is_rounded_and_unknown_without_both_sides():
    assert ratio(2.0, 3.0) == 0.667
    assert ratio(None, 3.0) is None
    assert ratio(2.0, 0.0) is None


def test_a_cell_shows_a_dash_for_an_unknown_value_and_marks_known_ones():
    assert fmt(None, '.2f', width=6, mark='*') == '     -'
    assert fmt(1.234, '.2f', width=6, mark='*') == ' 1.23*'
    assert fmt(0.5, '.2f', mark='x') == '0.50x'


def test_alternating_rounds_measure_each_side_once_per_round_in_a_fixed_order():
    assert list(alternating(['a', 'b'], 2)) == [(0, 'a'), (0, 'b'), (1, 'a'), (1, 'b')]


def test_mirrored_rounds_let_each_side_go_first_in_turn():
    assert [s for _, s in alternating(['a', 'b'], 3, mirrored=True)] == ['a', 'b', 'b', 'a', 'a', 'b']


def test_the_cpu_time_of_a_live_process_is_known_and_of_a_missing_one_is_not():
    assert proc_cpu_s(os.getpid()) >= 0
    assert proc_cpu_s(None) is None
    assert proc_cpu_s(2 ** 22 + 12345) is None      # above pid_max


def test_machine_cpu_counts_iowait_as_idle_and_reports_steal():
    stat = 'cpu  100 0 50 800 50 0 0 7 0 0\ncpu0 1 2 3\n'
    assert machine_cpu(stat) == (157, 1007, 7)


def test_a_cpu_meter_reports_wall_time_and_the_process_cpu_spent_since_it_started():
    meter = CpuMeter(os.getpid())
    sum(i * i for i in range(200_000))
    result = meter.result()

    assert result['wall_s'] > 0
    assert result['controller_cpu_s'] >= 0
    assert result['cpus'] == os.cpu_count()


def test_cpu_text_reads_as_one_line_and_mentions_steal_only_when_there_is_some():
    cpu = {'wall_s': 2.0, 'controller_cpu_s': 0.5, 'machine_busy': 0.4, 'steal': 0.0, 'cpus': 2}
    assert cpu_text(cpu) == 'controller CPU 0.50 s of 2.00 s, machine 40% busy (2 CPUs)'
    assert cpu_text({**cpu, 'steal': 0.1}).endswith('(2 CPUs, 10% stolen)')
    assert cpu_text({**cpu, 'controller_cpu_s': None, 'machine_busy': None}) == 'controller CPU ?'
