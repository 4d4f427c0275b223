"""What changed between two topologies, in one line for the log."""
from __future__ import annotations

from typing import Mapping

from controller.topology.model import Topology

SECTIONS = ('datapaths', 'networks', 'interfaces', 'route_links')


def section_changes(old: Mapping, new: Mapping):
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(n for n in set(old) & set(new) if old[n] != new[n])
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
