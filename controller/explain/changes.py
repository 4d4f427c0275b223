"""What an edit does to the switches, before it is saved.

`flow_changes` compiles each datapath the edit can touch
(`topology.diff.affected_datapaths`) on both sides and diffs them as the
controller would (`openflow.reconcile.plan_changes`): added, changed (same
table, priority and match, new actions) and removed flows, groups and
meters.  Both sides use the same port numbers, so only what the edit
changes shows.  `disruptions` lists the edits that break something that
works now, each with its place in the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from controller.explain.nat import nat_disruptions
from controller.explain.ports import numbered
from controller.explain.source import Located, Where
from controller.openflow.reconcile import Installed, Plan, plan_changes
from controller.pipeline import DesiredState, compile_datapath
from controller.pipeline.flows import Flow
from controller.topology import SIMULATED, Topology
from controller.topology.diff import affected_datapaths, section_changes


@dataclass
class DatapathChanges:
    datapath: str
    compiled: bool                        # False: the edit cannot touch it (not compiled)
    added: List[Flow] = field(default_factory=list)
    changed: List[Flow] = field(default_factory=list)    # the new version
    removed: List[Flow] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)

    @property
    def flow_count(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)

    @property
    def any(self) -> bool:
        return len(self.plan) > 0

    def summary(self) -> str:
        p = self.plan
        return (f'+{len(self.added)} ~{len(self.changed)} -{len(self.removed)} flows, '
                f'+{len(p.group_adds)} ~{len(p.group_mods)} -{len(p.group_deletes)} groups, '
                f'+{len(p.meter_adds)} ~{len(p.meter_mods)} -{len(p.meter_deletes)} meters')


def flow_changes(old: Topology, new: Topology) -> List[DatapathChanges]:
    affected = affected_datapaths(old, new)
    result = []
    for datapath in sorted(set(old.datapaths) | set(new.datapaths)):
        if affected is not None and datapath not in affected:
            result.append(DatapathChanges(datapath, compiled=False))
            continue
        ports = numbered(datapath, old, new)
        result.append(compare(datapath, _compile(old, datapath, ports), _compile(new, datapath, ports)))
    return result


def _compile(topology: Topology, datapath: str, ports) -> DesiredState:
    if datapath not in topology.datapaths:
        return DesiredState()
    return compile_datapath(topology, datapath, ports)


def compare(datapath: str, before: DesiredState, after: DesiredState) -> DatapathChanges:
    installed = Installed(flows={c: f.key for c, f in before.flows.items()},
                          groups=dict(before.groups), meters=dict(before.meters))
    plan = plan_changes(after, installed)
    old_keys = {f.key for f in before.flows.values()}
    return DatapathChanges(
        datapath, True,
        added=[f for f in plan.flow_adds if f.key not in old_keys],
        changed=[f for f in plan.flow_adds if f.key in old_keys],
        removed=[before.flows[c] for c, _ in plan.flow_deletes], plan=plan)


# -- disruptive edits ------------------------------------------------------------------

@dataclass(frozen=True)
class Disruption:
    where: Where
    text: str

    def __str__(self) -> str:
        return f'{self.where}: {self.text}'


def disruptions(old: Located, new: Located) -> List[Disruption]:
    found: List[Disruption] = []
    found += _datapaths(old, new)
    found += _networks(old, new)
    found += _interfaces(old, new)
    found += _route_links(old, new)
    found += [Disruption(where, text) for where, text in nat_disruptions(old, new)]
    found += _security_groups(old, new)
    return found


def _datapaths(old: Located, new: Located) -> List[Disruption]:
    a, b = old.topology.datapaths, new.topology.datapaths
    added, removed, changed = section_changes(a, b)
    found = [Disruption(old.where('datapaths', n), f'datapath {n} is removed: every flow of ours on it '
                        'is deleted and its interfaces lose their network') for n in removed]
    for n in changed:
        if a[n].dpid != b[n].dpid:
            found.append(Disruption(new.where('datapaths', n, 'dpid'),
                                    f'{n}\'s dpid changes ({a[n].dpid:#x} -> {b[n].dpid:#x}): the bridge '
                                    'with the old dpid loses its flows; the bridge must get the new one'))
        if a[n].tunnel_ip != b[n].tunnel_ip:
            found.append(Disruption(new.where('datapaths', n, 'tunnel_ip'),
                                    f'{n}\'s tunnel_ip changes ({a[n].tunnel_ip} -> {b[n].tunnel_ip}): '
                                    'tunnels to it break until its VXLAN port has the new local_ip '
                                    'and every other datapath is updated'))
        if a[n].tunnel_port != b[n].tunnel_port:
            found.append(Disruption(new.where('datapaths', n, 'tunnel_port'),
                                    f'{n}\'s tunnel_port changes ({a[n].tunnel_port} -> '
                                    f'{b[n].tunnel_port}): no tunnel traffic until that port exists'))
    return found


def _networks(old: Located, new: Located) -> List[Disruption]:
    a, b = old.topology.networks, new.topology.networks
    added, removed, changed = section_changes(a, b)
    found = []
    for n in removed:
        members = sorted(i.name for i in old.topology.interfaces_of(n) if i.mode != SIMULATED)
        found.append(Disruption(old.where('networks', n),
                                f'network {n} is removed'
                                + (f': {", ".join(_cap(members))} lose their network' if members else '')))
    for n in changed:
        if a[n].vni != b[n].vni:
            found.append(Disruption(new.where('networks', n, 'vni'),
                                    f'{n}\'s VNI changes ({a[n].vni} -> {b[n].vni}): every datapath of '
                                    'the network is reprogrammed and frames between datapaths are '
                                    'dropped until all of them are'))
        if a[n].ipv4 != b[n].ipv4:
            found.append(Disruption(new.where('networks', n, 'ipv4'),
                                    f'{n}\'s prefix changes ({a[n].ipv4} -> {b[n].ipv4}): every host '
                                    'of it needs its new address and mask'))
        if a[n].mode != b[n].mode:
            found.append(Disruption(new.where('networks', n, 'mode'),
                                    f'{n} changes from {a[n].mode} to {b[n].mode}'))
    return found


def _interfaces(old: Located, new: Located) -> List[Disruption]:
    a, b = old.topology.interfaces, new.topology.interfaces
    added, removed, changed = section_changes(a, b)
    found = [Disruption(old.where('interfaces', n), f'interface {n} is removed: its port '
                        f'{a[n].port} on {a[n].datapath} loses its network')
             for n in removed if a[n].mode != SIMULATED]
    for n in changed:
        x, y = a[n], b[n]
        if x.datapath != y.datapath and x.datapath and y.datapath:
            found.append(Disruption(new.where('interfaces', n, 'datapath'),
                                    f'{n} moves from datapath {x.datapath} to {y.datapath}: it is cut '
                                    f'off until it is plugged into {y.datapath} as {y.port}'))
        elif x.port != y.port and x.port and y.port:
            found.append(Disruption(new.where('interfaces', n, 'port'),
                                    f'{n}\'s port changes ({x.port} -> {y.port}): it is cut off until '
                                    'that port exists'))
        if x.network != y.network:
            found.append(Disruption(new.where('interfaces', n, 'network'),
                                    f'{n} moves from network {x.network} to {y.network}'))
        for key in ('ipv4', 'mac'):
            if getattr(x, key) != getattr(y, key):
                found.append(Disruption(new.where('interfaces', n, key),
                                        _address_change(n, key, getattr(x, key), getattr(y, key),
                                                        x.mode == SIMULATED)))
    return found


def _address_change(name: str, key: str, before, after, simulated: bool) -> str:
    text = f'{name}\'s {key} changes ({before} -> {after})'
    if simulated:
        return text + ': hosts keep the old one in their ARP cache (or DHCP lease) for a while'
    return text + (': port security drops its traffic until the host uses the new one (DHCP '
                   'renewal or reconfiguration)')


def _route_links(old: Located, new: Located) -> List[Disruption]:
    a, b = old.topology.route_links, new.topology.route_links
    added, removed, changed = section_changes(a, b)
    found = []
    for n in removed:
        nets = sorted({old.topology.interfaces[r.interface].network for r in a[n].routes})
        found.append(Disruption(old.where('route_links', n),
                                f'route link {n} is removed: {", ".join(nets)} no longer reach each other '
                                'through it'))
    for n in changed:
        kept = set(b[n].routes)
        for route in a[n].routes:
            if route not in kept:
                found.append(Disruption(old.where_route(n, route.interface),
                                        f'route {route.ipv4} via {route.interface} of route link {n} is '
                                        'removed or changed: traffic to it is no longer routed that way'))
    return found


def _security_groups(old: Located, new: Located) -> List[Disruption]:
    """A rule that goes (or a group, or an interface leaving one) cuts the
    connections it let in (controller.pipeline.acl)."""
    a, b = old.topology.security_groups, new.topology.security_groups
    found = []
    for n in sorted(a):
        for direction in ('ingress', 'egress'):
            kept = set(getattr(b[n], direction)) if n in b else set()
            gone = [r for r in getattr(a[n], direction) if r not in kept]
            if gone:
                where = new.where('security_groups', n, direction) if n in b else \
                    old.where('security_groups', n)
                found.append(Disruption(where, f'{len(gone)} {direction} rule(s) of security group {n} '
                                        'removed or changed: the connections they let in are cut'))
    for name, x in old.topology.interfaces.items():
        y = new.topology.interfaces.get(name)
        left = [g for g in x.security_groups if y is not None and g not in y.security_groups]
        if left:
            found.append(Disruption(new.where('interfaces', name, 'security_groups'),
                                    f'{name} leaves security group(s) {", ".join(left)}: connections '
                                    'that only their rules allowed are cut'))
    return found


def _cap(names: List[str], limit: int = 5) -> List[str]:
    return names if len(names) <= limit else names[:limit] + [f'{len(names) - limit} more']


def totals(changes: List[DatapathChanges]) -> Dict[str, int]:
    return {'flows': sum(c.flow_count for c in changes),
            'datapaths': sum(1 for c in changes if c.any), 'of': len(changes)}


def describe_unchanged(c: DatapathChanges) -> Optional[str]:
    if not c.compiled:
        return 'unchanged (the edit touches none of its networks)'
    if not c.any:
        return 'unchanged'
    return None
