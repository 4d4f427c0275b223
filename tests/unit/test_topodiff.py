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
