"""The DNS benchmark's pure parts: its queries are real queries, its topology is valid and
answers the names it asks, and its summary compares the sides."""
import argparse

import dns.message
import pytest
import yaml

from bench.dns import DOMAIN, Run, concurrencies, name_ip, query_wire, summary, sweep, sweep_table, table, topology
from controller.services.dns_zone import Zones, answer
from controller.topology import validate_text


def test_the_bench_query_is_an_a_query_dnspython_reads():
    query = dns.message.from_wire(query_wire(4242, f'vm7.{DOMAIN}'))
    assert query.id == 4242 and str(query.question[0]) == f'vm7.{DOMAIN}. IN A'


def test_the_bench_topology_is_valid_and_its_dns_interface_answers_every_name_asked():
    text = yaml.safe_dump(topology(0x77, 300, 'c-p', 'd-p'))
    zone = Zones(validate_text(text, 'bench.yml')).get('bench')
    for i in (0, 249, 250, 299):
        response = dns.message.from_wire(answer(zone, query_wire(1, f'vm{i}.{DOMAIN}')).wire)
        assert [r.to_text() for r in response.answer[0]] == [name_ip(i)]


def test_the_summary_takes_medians_and_compares_each_of_ours_with_dnsmasq():
    runs = [Run('dnsmasq', answered=1000, seconds=1.0, latencies=[0.001] * 10),
            Run('dnsmasq', answered=3000, seconds=1.0, latencies=[0.001] * 10),
            Run('ours', answered=500, seconds=1.0, latencies=[0.002] * 10),
            Run('ours', answered=1500, seconds=1.0, latencies=[0.002] * 10)]
    s = summary(runs)
    assert s['dnsmasq']['qps'] == 2000 and s['ours']['qps'] == 1000
    assert s['ours']['ratio'] == 0.5 and 'unmetered' not in s
    assert (s['ours']['qps_min'], s['ours']['qps_max']) == (500, 1500)


def test_the_table_says_which_way_ours_was_answered():
    runs = [Run('dnsmasq', answered=1000, seconds=1.0, latencies=[0.001]),
            Run('ours', answered=990, seconds=1.0, latencies=[0.001])]
    args = argparse.Namespace(rounds=1, duration=1.0, names=100, packet_ins=False)
    lines = table(summary(runs), args, 16).splitlines()
    assert lines[0].endswith('100 names; ours through the service port')
    assert lines[3].split()[:2] == ['ours', '990'] and '0.99x dnsmasq' in lines[3]
    args.packet_ins = True
    assert table(summary(runs), args, 16).splitlines()[0].endswith('; ours by packet-ins')


def test_the_peak_compares_each_sides_best_rate_over_the_concurrencies():
    runs = [Run('dnsmasq', 16, answered=900, seconds=1.0, latencies=[0.001]),
            Run('ours', 16, answered=800, seconds=1.0, latencies=[0.001]),
            Run('dnsmasq', 64, answered=1000, seconds=1.0, latencies=[0.002]),
            Run('ours', 64, answered=1100, seconds=1.0, latencies=[0.002])]
    s = sweep(runs)
    assert s['16']['ours']['ratio'] == round(800 / 900, 3) and s['64']['ours']['ratio'] == 1.1
    assert s['peak'] == {'dnsmasq': {'qps': 1000, 'concurrency': 64},
                         'ours': {'qps': 1100, 'concurrency': 64, 'ratio': 1.1}}
    args = argparse.Namespace(rounds=1, duration=1.0, names=100, packet_ins=False)
    text = sweep_table(s, args)
    assert 'DNS, 16 queries in flight' in text and 'DNS, 64 queries in flight' in text
    assert text.splitlines()[-1].endswith('ours 1.1x dnsmasq (target >= 1)')


def test_concurrencies_are_a_comma_list_of_positive_counts():
    assert concurrencies('16') == [16] and concurrencies('16,64') == [16, 64]
    for bad in ('', 'x', '0', '16,-1'):
        with pytest.raises(argparse.ArgumentTypeError):
            concurrencies(bad)
