"""bench.nat's arithmetic and its topology, without a switch."""
from bench.nat import SIDES, summary, table, topology
from controller.topology import validate_text


class FakeLab:
    def ifname(self, base):
        return f'nb{base}'


def test_each_nat_side_is_the_ratio_of_its_median_to_the_routed_median():
    result = summary({'routed': [1.0, 2.0, 0.5], '1:1': [0.9, 0.95, 1.0], 'many:1': [0.5, 0.8, 0.85]})
    rows = {r['side']: r for r in result['rows']}
    assert [r['side'] for r in result['rows']] == list(SIDES)
    assert rows['routed']['ratio'] is None and rows['routed']['spread'] == 4.0
    assert (rows['1:1']['ratio'], rows['many:1']['ratio']) == (0.95, 0.8)
    assert result['meets_target'] is False
    assert 'MISSED' in table(result) and '0.800' in table(result)


def test_the_target_is_met_only_when_every_nat_side_reaches_it():
    result = summary({'routed': [1.0], '1:1': [0.9], 'many:1': [1.2]})
    assert result['meets_target'] is True and table(result).endswith('met')


def test_the_bench_topology_is_valid_and_nats_two_of_its_three_vms():
    import yaml
    topo = validate_text(yaml.safe_dump(topology(FakeLab())), 'bench.yml')
    nat = topo.route_links['edge'].nat
    assert [(str(r.inside), str(r.outside), r.one_to_one) for r in nat] == [
        ('172.16.1.10/32', '10.0.10.110', True), ('172.16.1.0/24', '10.0.10.100', False)]
    assert topo.interfaces['vmr'].network == 'net2'
