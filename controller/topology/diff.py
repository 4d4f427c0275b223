"""What changed between two topologies, in one line for the log."""
from __future__ import annotations

from typing import FrozenSet, Mapping, Optional, Set

from controller.topology.model import Topology

SECTIONS = ('datapaths', 'networks', 'interfaces', 'route_links', 'security_groups')


def section_changes(old: Mapping, new: Mapping):
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    # `is` first: an incremental reload keeps the objects of what it did not touch.
    changed = sorted(n for n in set(old) & set(new) if old[n] is not new[n] and old[n] != new[n])
    return added, removed, changed


def describe(old: Topology, new: Topology) -> str:
    parts = []
    for section in SECTIONS:
        added, removed, changed = section_changes(getattr(old, section), getattr(new, section))
        words = [f'+{n}' for n in added] + [f'-{n}' for n in removed] + [f'~{n}' for n in changed]
        if words:
            parts.append(f'{section} {" ".join(_cap(words))}')
    return '; '.join(parts) or 'no change in content'


def _cap(words, limit=8):
    return words if len(words) <= limit else words[:limit] + [f'(+{len(words) - limit} more)']


def affected_datapaths(old: Topology, new: Topology) -> Optional[FrozenSet[str]]:
    """The datapaths whose flows may differ between `old` and `new`; None
    when any may (datapaths or route links changed).

    A datapath compiles from its networks and every network joined to them
    by a route link: the datapaths that may send into a network
    (`senders_to`) are exactly those that see it.  So a changed network or
    interface touches the senders of its network, before and after.
    """
    if (old.datapaths is not new.datapaths and old.datapaths != new.datapaths) or \
            (old.route_links is not new.route_links and old.route_links != new.route_links):
        return None
    touched: Set[str] = set()
    networks: Set[str] = set()
    added, removed, changed = section_changes(old.networks, new.networks)
    networks.update(added + removed + changed)
    added, removed, changed = section_changes(old.interfaces, new.interfaces)
    groups_touched = bool(any(section_changes(old.security_groups, new.security_groups)))
    for name in added + removed + changed:
        for topology in (old, new):
            iface = topology.interfaces.get(name)
            if iface is not None:
                networks.add(iface.network)
                groups_touched |= bool(iface.security_groups)
    if groups_touched:      # rules and from_group members reach every interface in a group
        touched |= _in_groups(old) | _in_groups(new)
    for network in networks:
        for topology in (old, new):
            if network in topology.networks:
                touched |= topology.senders_to(network)
    return frozenset(touched)


def _in_groups(topology: Topology) -> Set[str]:
    """The datapaths of the interfaces in security groups."""
    return {i.datapath for g in topology.security_groups for i in topology.members_of(g)
            if i.datapath is not None}
