"""vnetctl diff: the flow changes of an edit per datapath, and the disruptive edits."""
from pathlib import Path

import pytest

from controller.explain.changes import disruptions, flow_changes
from controller.explain.ports import numbered
from controller.explain.source import load_located
from controller.pipeline import compile_datapath
from tests.unit.cli_run import REPO, in_repo, vnetctl  # noqa: F401 (in_repo: autouse)


def edited(tmp_path, name, *replacements):
    text = (REPO / 'topologies' / name).read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / f'edited-{name}'
    path.write_text(text)
    return str(path)


def line_of(path, text):
    return next(i for i, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line)


MOVE_GREEN1 = ('    datapath: host1\n    port: green1-veth', '    datapath: host2\n    port: green1-veth')


def test_the_same_file_makes_no_change_and_exits_0():
    status, out = vnetctl('diff', 'topologies/weave3.yml', 'topologies/weave3.yml')
    assert status == 0
    assert 'no change in content' in out and '0 flow changes on 0 of 3 datapaths' in out
    assert 'disruptive: none' in out


@pytest.mark.parametrize('name, edit', [
    ('weave3.yml', MOVE_GREEN1),
    ('weave3.yml', ('vni: 4402', 'vni: 4412')),
    ('seed003.yml', ('ipv4: 172.16.1.2\n', 'ipv4: 172.16.1.9\n')),
    ('seed000.yml', ('mac: 10:00:00:00:03:11', 'mac: 10:00:00:00:03:21')),
])
def test_the_counts_are_the_set_difference_of_both_compiles_on_every_datapath(tmp_path, name, edit):
    old, new = load_located(f'topologies/{name}').topology, load_located(edited(tmp_path, name, edit))
    for c in flow_changes(old, new.topology):
        ports = numbered(c.datapath, old, new.topology)
        before = compile_datapath(old, c.datapath, ports).flows
        after = compile_datapath(new.topology, c.datapath, ports).flows
        assert len(c.added) + len(c.changed) == len(after.keys() - before.keys()), c.datapath
        assert len(c.changed) + len(c.removed) == len(before.keys() - after.keys()), c.datapath
        if not c.compiled:
            assert before == after, f'{c.datapath} was skipped but its flows change'


def test_an_interface_moving_between_datapaths_is_disruptive_and_counted_on_both(tmp_path):
    new_path = edited(tmp_path, 'weave3.yml', MOVE_GREEN1)
    status, out = vnetctl('diff', 'topologies/weave3.yml', new_path)
    assert status == 1
    assert (f'{new_path}:{line_of(new_path, "port: green1-veth") - 1} interfaces.green1.datapath: '
            'green1 moves from datapath host1 to host2') in out, out
    changes = {c.datapath: c for c in flow_changes(load_located('topologies/weave3.yml').topology,
                                                    load_located(new_path).topology)}
    assert changes['host1'].removed and changes['host2'].added
    assert f'host1     {changes["host1"].summary()}' in out


def test_a_vni_change_is_flagged_at_its_line(tmp_path):
    new_path = edited(tmp_path, 'weave3.yml', ('vni: 4402', 'vni: 4412'))
    [d] = disruptions(load_located('topologies/weave3.yml'), load_located(new_path))
    assert (d.where.path, d.where.line) == ('networks.blue.vni', line_of(new_path, 'vni: 4412'))
    assert "blue's VNI changes (4402 -> 4412)" in d.text


def test_a_removed_route_link_is_flagged_at_its_line_in_the_old_file(tmp_path):
    text = (REPO / 'topologies' / 'seed003.yml').read_text()
    new_path = tmp_path / 'no-link.yml'
    new_path.write_text(text[:text.index('route_links:')])
    found = disruptions(load_located('topologies/seed003.yml'), load_located(str(new_path)))
    assert [(d.where.file, d.where.path, d.where.line) for d in found] == [
        ('topologies/seed003.yml', 'route_links.rl1', line_of('topologies/seed003.yml', '  rl1:'))]
    assert 'net1, net2 no longer reach each other' in found[0].text


def test_a_removed_network_and_an_address_change_are_flagged(tmp_path):
    text = (REPO / 'topologies' / 'default.yml').read_text()
    text = text.replace('ipv4: 172.16.1.2\n', 'ipv4: 172.16.1.9\n', 1)
    cut = text.index('  vm3:')
    text = text[:cut] + '\n'.join(text[cut:].splitlines()[12:]) + '\n'   # vm3 and vm4 gone
    text = text.replace('  net3:\n    ipv4: 172.16.1.0/24       # same prefix as net1: isolated all the same\n', '')
    text = text[:text.index('  net3-gw:')]
    new_path = tmp_path / 'smaller.yml'
    new_path.write_text(text)
    found = [str(d) for d in disruptions(load_located('topologies/default.yml'),
                                         load_located(str(new_path)))]
    assert any('networks.net3: network net3 is removed: vm3, vm4 lose their network' in d for d in found)
    assert any("interfaces.vm2.ipv4: vm2's ipv4 changes (172.16.1.2 -> 172.16.1.9)" in d for d in found)


def test_datapaths_an_edit_cannot_touch_are_not_recompiled(tmp_path):
    new_path = edited(tmp_path, 'weave3.yml', ('    mac: 52:54:00:44:02:02\n', '    mac: 52:54:00:44:02:22\n'))
    changes = {c.datapath: c for c in flow_changes(load_located('topologies/weave3.yml').topology,
                                                    load_located(new_path).topology)}
    assert not changes['host3'].compiled             # blue is not on host3
    assert changes['host1'].any and changes['host2'].any


def test_flows_lists_every_change():
    status, out = vnetctl('diff', 'topologies/default.yml', 'topologies/seed003.yml', '--flows')
    assert status == 1
    assert any(line.strip().startswith('+ table=') for line in out.splitlines())
    assert any(line.strip().startswith('- table=') for line in out.splitlines())


def test_an_invalid_file_exits_2_with_its_problems(tmp_path):
    bad = tmp_path / 'bad.yml'
    bad.write_text('networks:\n  n1:\n    ipv4: 10.0.0.1/24\n')
    status, out = vnetctl('diff', 'topologies/default.yml', bad)
    assert status == 2 and f'{bad}:3: networks.n1.ipv4' in out


def test_help_shows_an_example():
    status, out = vnetctl('diff', '--help')
    assert status == 0 and 'vnetctl diff topologies/weave3.yml new.yml' in out
