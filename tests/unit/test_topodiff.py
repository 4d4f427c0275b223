"""The one-line description of a topology change."""
import dataclasses

from controller.topology.diff import describe
from tests.unit.factories import overlapping, topology, vif


def test_added_removed_and_changed_interfaces_are_named():
    old = overlapping()
    ifaces = dict(old.interfaces)
    del ifaces['vm4']
    ifaces['vm9'] = vif('vm9', 'net1', '52:54:00:00:00:09', '172.16.1.9')
    ifaces['vm1'] = dataclasses.replace(ifaces['vm1'], mac='52:54:00:00:00:11')
    new = topology(list(old.networks.values()), list(ifaces.values()))
    assert describe(old, new) == 'interfaces +vm9 -vm4 ~vm1'


def test_identical_topologies_say_so():
    assert describe(overlapping(), overlapping()) == 'no change in content'


def test_long_lists_are_capped():
    old = overlapping()
    extra = [vif(f'x{i}', 'net1', '52:54:00:00:10:%02x' % i, f'172.16.1.{100 + i}') for i in range(20)]
    new = topology(list(old.networks.values()), list(old.interfaces.values()) + extra)
    assert describe(old, new).endswith('(+12 more)')


def edits():
    """One-object edits of the three-host topology, as (name, new topology)."""
    from tests.unit.test_pipeline_tunnels import three_hosts
    base = three_hosts()
    ifaces, nets = dict(base.interfaces), dict(base.networks)
    out = []
    for name, change in (('r2 moves to host3', dict(datapath='host3')),
                         ('b1 new MAC', dict(mac='52:54:00:02:00:99')),
                         ('g3 new address', dict(ipv4=__import__('ipaddress').IPv4Address('10.0.2.9')))):
        who = name.split()[0]
        out.append((name, dataclasses.replace(base, interfaces={**ifaces, who: dataclasses.replace(ifaces[who], **change)})))
    out.append(('blue removed with its vifs', dataclasses.replace(
        base, networks={k: v for k, v in nets.items() if k != 'blue'},
        interfaces={k: v for k, v in ifaces.items() if v.network != 'blue'})))
    out.append(('green vni', dataclasses.replace(base, networks={**nets, 'green': dataclasses.replace(nets['green'], vni=77)})))
    return base, out


def test_a_datapath_outside_the_affected_set_compiles_to_the_same_flows():
    from controller.pipeline import compile_datapath
    from controller.topology.diff import affected_datapaths
    from tests.unit.test_pipeline_tunnels import PORTS
    base, changes = edits()
    for name, new in changes:
        affected = affected_datapaths(base, new)
        assert affected is not None, name
        for dp in set(base.datapaths) - affected:
            assert compile_datapath(base, dp, PORTS[dp]) == compile_datapath(new, dp, PORTS[dp]), (name, dp)


def test_an_edit_of_one_network_touches_only_the_datapaths_that_see_it():
    from controller.topology.diff import affected_datapaths
    base, changes = edits()
    assert affected_datapaths(base, dict(changes)['b1 new MAC']) == {'host1', 'host2'}
    assert affected_datapaths(base, base) == frozenset()


def test_a_change_of_datapaths_or_route_links_may_touch_every_datapath():
    from controller.topology.diff import affected_datapaths
    base, _ = edits()
    assert affected_datapaths(base, dataclasses.replace(base, route_links={})) is None
