"""bench.security_groups' arithmetic and its topology, without a switch."""
import yaml

from bench.security_groups import GROUPS, RULES, SIDES, summary, table, topology
from controller.pipeline import compile_datapath
from controller.pipeline.acl import rules_of
from controller.topology import validate_text


class FakeLab:
    def ifname(self, base):
        return f'sb{base}'


def test_the_groups_side_is_the_ratio_of_its_median_to_the_plain_median():
    result = summary({'plain': [1.0, 2.0, 0.5], 'groups': [0.8, 0.85, 0.9], '2 rules': [1.0]})
    rows = {r['side']: r for r in result['rows']}
    assert [r['side'] for r in result['rows']] == list(SIDES)
    assert rows['plain']['ratio'] is None and rows['plain']['spread'] == 4.0
    assert (rows['groups']['ratio'], rows['2 rules']['ratio']) == (0.85, 1.0)
    assert result['meets_target'] is False and 'MISSED' in table(result)
    assert summary({'plain': [1.0], 'groups': [0.9], '2 rules': [0.1]})['meets_target'] is True


def test_the_bench_topology_is_valid_and_its_groups_side_has_a_hundred_rules():
    topo = validate_text(yaml.safe_dump(topology(FakeLab())), 'bench.yml')
    groups = topo.interfaces['groups']
    assert len(groups.security_groups) == GROUPS
    assert len(rules_of(topo, groups, 'ingress')) == RULES
    assert len(rules_of(topo, topo.interfaces['one'], 'ingress')) == 2
    assert topo.interfaces['plain'].security_groups == ()
    ports = {i.port: n for n, i in enumerate(topo.interfaces.values(), start=1)}
    flows = compile_datapath(topo, 'br0', ports).flows.values()
    commits = [f for f in flows if f.table == 45 and 'ct(commit' in f.describe()]
    assert len(commits) >= RULES
