"""vnetctl graph: datapaths as boxes of interfaces, networks in colours,
route links as routers, tunnels between datapaths."""
import re

import pytest

from controller.explain.drawing import PALETTE, draw, tunnels
from controller.topology import SIMULATED, load_topology, validate_text
from lab import topogen
from tests.unit.cli_run import REPO, in_repo, vnetctl  # noqa: F401 (in_repo: autouse)


def clusters(source):
    """Datapath -> the interface nodes drawn inside its box."""
    found = {}
    for name, body in re.findall(r'subgraph cluster_(\S+) \{(.*?)\n\t\}', source, re.S):
        found[name] = sorted(re.findall(r'^\t\t"?n__if__([^"\s]+)"? \[', body, re.M))
    return found


def fill_of(source, node):
    m = re.search(r'^\s*"?' + re.escape(node) + r'"? \[[^]]*fillcolor="([^"]+)"', source, re.M)
    assert m, node
    return m.group(1)


@pytest.mark.parametrize('name', ['default.yml', 'seed000.yml', 'seed003.yml', 'weave3.yml'])
def test_each_datapath_is_a_box_holding_exactly_its_interfaces(name):
    topology = load_topology(f'topologies/{name}')
    source = draw(topology).source
    assert clusters(source) == {dp: sorted(i.name for i in topology.ports_on(dp).values())
                                for dp in topology.datapaths}


@pytest.mark.parametrize('name', ['seed003.yml', 'weave3.yml'])
def test_each_network_has_its_own_colour_and_its_interfaces_wear_it(name):
    topology = load_topology(f'topologies/{name}')
    source = draw(topology).source
    colour = {n: fill_of(source, f'n__net__{n}') for n in topology.networks}
    assert len(set(colour.values())) == len(colour) and set(colour.values()) <= set(PALETTE)
    for iface in topology.interfaces.values():
        assert fill_of(source, f'n__if__{iface.name}') == colour[iface.network], iface.name


def test_route_links_are_routers_joined_to_their_router_interfaces():
    source = draw(load_topology('topologies/seed003.yml')).source
    assert re.search(r'n__rl__rl1 \[label="router\nrl1"', source)
    assert re.findall(r'"n__if__(\S+)" -- n__rl__rl1 \[label="([^"]+)"', source) == [
        ('net1-gw', '172.16.1.0/24'), ('net2-gw', '172.16.2.0/24')]


def test_simulated_interfaces_hang_from_their_network():
    topology = load_topology('topologies/weave3.yml')
    source = draw(topology).source
    for iface in topology.interfaces.values():
        if iface.mode == SIMULATED:
            assert f'n__net__{iface.network} -- "n__if__{iface.name}"' in source, iface.name


def test_datapaths_that_meet_over_vxlan_are_joined_by_a_tunnel_labelled_with_the_networks():
    topology = load_topology('topologies/weave3.yml')
    assert tunnels(topology) == [('host1', 'host2', ['blue', 'green', 'red']),
                                 ('host1', 'host3', ['green', 'red']),
                                 ('host2', 'host3', ['green', 'red'])]
    source = draw(topology).source
    assert 'n__dp__host1 -- n__dp__host3 [label="VXLAN: green, red"' in source
    assert tunnels(load_topology('topologies/seed003.yml')) == []


def test_many_interfaces_of_a_network_on_a_datapath_become_one_node():
    topology = validate_text(topogen.topology_text(topogen.Spec(300, per_network=100)), 'gen.yml')
    source = draw(topology, collapse=12).source
    assert clusters(source) == {'br0': []}
    assert source.count('label="100 interfaces\nof n') == 3


def test_the_command_writes_an_svg_with_every_name(tmp_path):
    out = tmp_path / 'w.svg'
    status, text = vnetctl('graph', 'topologies/weave3.yml', '-o', out)
    assert status == 0 and text.startswith(f'{out}: 3 datapaths, 3 networks, 11 interfaces')
    svg = out.read_text()
    assert svg.lstrip().startswith('<?xml') and '<svg' in svg
    for name in ('host1', 'host2', 'host3', 'red1', 'green3', 'router', 'VXLAN: blue, green, red'):
        assert name in svg, name


def test_the_readme_picture_is_what_the_command_draws_today(tmp_path):
    out = tmp_path / 'seed003.svg'
    assert vnetctl('graph', 'topologies/seed003.yml', '-o', out)[0] == 0
    assert out.read_text() == (REPO / 'docs' / 'seed003.svg').read_text(), \
        'regenerate it: vnetctl graph topologies/seed003.yml -o docs/seed003.svg'
    assert re.search(r'!\[[^]]+\]\(docs/seed003\.svg\)', (REPO / 'README.md').read_text())


def test_an_unknown_format_is_a_usage_error(tmp_path):
    status, out = vnetctl('graph', 'topologies/seed003.yml', '-o', tmp_path / 'x.jpg')
    assert status == 2 and 'must end in .svg, .png or .dot' in out


def test_an_invalid_topology_is_reported_and_nothing_written(tmp_path):
    bad = tmp_path / 'bad.yml'
    bad.write_text('interfaces:\n  vm1:\n    network: nowhere\n')
    status, out = vnetctl('graph', bad, '-o', tmp_path / 'x.svg')
    assert status == 1 and f'{bad}:3: interfaces.vm1.network' in out
    assert not (tmp_path / 'x.svg').exists()


def test_help_shows_an_example():
    status, out = vnetctl('graph', '--help')
    assert status == 0 and 'vnetctl graph topologies/seed003.yml -o seed003.svg' in out
