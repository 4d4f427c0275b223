"""Desired vs installed: the plan is minimal and converges."""
import pytest

from controller.openflow.reconcile import Installed, plan_changes
from controller.pipeline import compile_datapath
from tests.unit.factories import ALL_PORTS, net, overlapping, sim, topology, vif


def converge(installed, desired):
    plan = plan_changes(desired, installed)
    installed.apply(plan)
    return plan


def scaled(n_vifs, extra=False):
    """One network with n vifs, optionally plus one more interface."""
    vifs = [vif(f'v{i}', 'n', '52:54:%02x:%02x:%02x:01' % (i >> 16, (i >> 8) & 255, i & 255),
                f'10.{i >> 16}.{(i >> 8) & 255}.{i & 255 or 1}', port=f'p{i}')
            for i in range(1, n_vifs + 1)]
    if extra:
        vifs.append(vif('new', 'n', '52:54:ff:ff:ff:01', '10.255.255.1', port='pnew'))
    topo = topology([net('n', '10.0.0.0/8', 5)], vifs)
    ports = {f'p{i}': i for i in range(1, n_vifs + 2)}
    ports['pnew'] = 100000
    return topo, ports


def test_an_empty_switch_gets_every_desired_flow_and_group_and_nothing_is_deleted():
    desired = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    plan = plan_changes(desired, Installed())
    assert len(plan.flow_adds) == len(desired.flows)
    assert len(plan.group_adds) == len(desired.groups)
    assert not plan.flow_deletes and not plan.group_deletes and not plan.group_mods


def test_a_switch_already_in_the_desired_state_needs_no_change():
    desired = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    installed = Installed()
    converge(installed, desired)
    assert len(plan_changes(desired, installed)) == 0


def test_applying_a_then_b_installs_exactly_what_starting_from_b_installs():
    a = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    b = compile_datapath(overlapping(), 'br0', {'p-vm1': 1, 'p-vm3': 7})
    via_a, fresh = Installed(), Installed()
    converge(via_a, a)
    converge(via_a, b)
    converge(fresh, b)
    assert via_a.flows == fresh.flows
    assert via_a.groups == fresh.groups


def test_a_then_b_then_a_returns_to_the_tables_of_a():
    a = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    b = compile_datapath(overlapping(), 'br0', {'p-vm2': 2})
    installed, only_a = Installed(), Installed()
    for state in (a, b, a):
        converge(installed, state)
    converge(only_a, a)
    assert installed.flows == only_a.flows and installed.groups == only_a.groups


def test_a_port_moving_to_a_new_number_modifies_without_a_separate_delete_of_replaced_flows():
    installed = Installed()
    converge(installed, compile_datapath(overlapping(), 'br0', ALL_PORTS))
    moved = dict(ALL_PORTS, **{'p-vm1': 11})
    plan = converge(installed, compile_datapath(overlapping(), 'br0', moved))
    keyed_on_port = [key for _, key in plan.flow_deletes]
    assert keyed_on_port and all(('in_port', 1) in key[2] for key in keyed_on_port)
    # every in_port flow is re-added for port 11, plus the L2 output that ADD replaces
    assert len(plan.flow_adds) == len(plan.flow_deletes) + 1
    l2 = [f for f in plan.flow_adds if f.table == 40]
    assert len(l2) == 1 and l2[0].actions[0].port == 11
    assert [g.group_id for g in plan.group_mods] == [101]


def test_adding_one_interface_costs_the_same_number_of_changes_at_any_topology_size():
    counts = []
    for size in (10, 100, 1000):
        before, ports = scaled(size)
        after, _ = scaled(size, extra=True)
        installed = Installed()
        converge(installed, compile_datapath(before, 'br0', ports))
        counts.append(len(converge(installed, compile_datapath(after, 'br0', ports))))
    assert counts[0] == counts[1] == counts[2]
    assert counts[0] < 15        # the new port's own flows + one flood group modify


def test_a_group_read_back_undecodable_is_rewritten():
    desired = compile_datapath(overlapping(), 'br0', ALL_PORTS)
    installed = Installed()
    converge(installed, desired)
    installed.groups[101] = None
    plan = plan_changes(desired, installed)
    assert [g.group_id for g in plan.group_mods] == [101] and len(plan) == 1


def test_groups_of_networks_that_left_the_switch_are_deleted_after_their_flows():
    installed = Installed()
    converge(installed, compile_datapath(overlapping(), 'br0', ALL_PORTS))
    plan = plan_changes(compile_datapath(overlapping(), 'br0', {'p-vm1': 1}), installed)
    assert plan.group_deletes == [103]


def test_a_compile_reusing_remembered_port_flows_equals_a_compile_from_scratch():
    import dataclasses

    from controller.pipeline import Compiler
    before, ports = scaled(50)
    compiler = Compiler()
    compiler.compile(before, 'br0', ports)                   # warms the per-port memo
    ifaces = dict(before.interfaces)
    ifaces['v7'] = dataclasses.replace(ifaces['v7'], mac='52:54:aa:aa:aa:07')
    del ifaces['v9']
    after = type(before)(before.source, before.datapaths, before.networks, ifaces)
    warm = compiler.compile(after, 'br0', ports)
    assert warm == compile_datapath(after, 'br0', ports)


def test_two_compilers_share_no_remembered_flows():
    from controller.pipeline import Compiler
    topology, ports = scaled(5)
    first, second = Compiler(), Compiler()
    first.compile(topology, 'br0', ports)
    assert first._parts and not second._parts


def _edited(topology, rng, k):
    """The topology with one random interface edit (added, removed, moved,
    re-addressed, or a DHCP server added or removed)."""
    import dataclasses
    ifaces = dict(topology.interfaces)
    vifs = [n for n, i in ifaces.items() if i.mode == 'vif']
    kind = rng.choice(['add', 'remove', 'mac', 'port', 'dhcp'])
    if kind == 'add' or not vifs:
        ifaces[f'x{k}'] = vif(f'x{k}', 'n', '52:54:ee:00:%02x:01' % k, f'10.200.0.{k + 1}', port='pnew')
    elif kind == 'remove':
        del ifaces[rng.choice(vifs)]
    elif kind == 'mac':
        name = rng.choice(vifs)
        ifaces[name] = dataclasses.replace(ifaces[name], mac='52:54:dd:00:%02x:01' % k)
    elif kind == 'port':
        name = rng.choice(vifs)
        ifaces[name] = dataclasses.replace(ifaces[name], port=f'p{rng.randrange(1, 12)}')
    elif 'dhcp' in ifaces:
        del ifaces['dhcp']
    else:
        ifaces['dhcp'] = sim('dhcp', 'n', '52:54:00:00:00:fe', '10.255.255.254', services=('dhcp',))
    # keep port names unique, as validation would
    seen, unique = set(), {}
    for name, i in ifaces.items():
        if i.port is None or i.port not in seen:
            seen.add(i.port)
            unique[name] = i
    return type(topology)(topology.source, topology.datapaths, topology.networks, unique)


@pytest.mark.parametrize('seed', range(12))
def test_a_patched_compile_plans_exactly_what_a_full_comparison_plans(seed):
    import random

    from controller.pipeline import Compiler
    rng = random.Random(seed)
    topology, ports = scaled(10)
    compiler = Compiler()
    installed = Installed()
    desired = compiler.compile(topology, 'br0', ports)
    converge(installed, desired)
    installed.synced_to = desired
    patched_count = 0
    for k in range(15):
        topology = _edited(topology, rng, k)
        desired = compiler.compile(topology, 'br0', ports)
        assert desired == compile_datapath(topology, 'br0', ports)
        patched = plan_changes(desired, installed)
        synced, installed.synced_to = installed.synced_to, None
        full = plan_changes(desired, installed)
        installed.synced_to = synced
        patched_count += desired.patched_from(synced)
        assert (sorted(patched.add_cookies), sorted(patched.flow_deletes)) == \
            (sorted(full.add_cookies), sorted(full.flow_deletes))
        assert (patched.meter_adds, patched.meter_mods, patched.meter_deletes) == \
            (full.meter_adds, full.meter_mods, full.meter_deletes)
        installed.apply(patched)
        installed.synced_to = desired
        assert installed.flows == {c: f.key for c, f in desired.flows.items()}
        assert installed.meters == desired.meters
    assert patched_count >= 5       # most edits only touch interfaces


def test_a_switch_read_back_again_is_planned_by_full_comparison():
    from controller.pipeline import Compiler
    topology, ports = scaled(5)
    compiler = Compiler()
    desired = compiler.compile(topology, 'br0', ports)
    installed = Installed()
    converge(installed, desired)
    installed.synced_to = desired
    edited, _ = scaled(5, extra=True)
    patched = compiler.compile(edited, 'br0', ports)
    assert patched.patched_from(desired)
    reread = Installed()              # what a re-read found: nothing, say
    assert len(plan_changes(patched, reread).flow_adds) == len(patched.flows)
