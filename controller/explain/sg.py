"""The security-group rules behind the flows of the ACL tables, for `vnetctl trace`.

A rule flow names its rule by tag: the ct_mark/ct_label it matches
(established, replies) or sets when it commits (new).  The interface it
filters is its in_port (egress) or its reg3 (ingress).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from controller.explain.source import Located, Where
from controller.pipeline import tables
from controller.pipeline.conntrack import Ct
from controller.pipeline.flows import Flow

SG_TABLES = (tables.SG_EGRESS_RULES, tables.SG_INGRESS_RULES)


def sg_origins(located: Located, f: Flow) -> List[Tuple[str, Where]]:
    """(what, where) of the rule a flow of an ACL rules table stands for."""
    if f.table not in SG_TABLES:
        return []
    match = dict(f.match)
    tag = _tag(f, match)
    if tag is None:
        return []
    found = []
    for name, group in located.topology.security_groups.items():
        for direction in ('ingress', 'egress'):
            for index, rule in enumerate(getattr(group, direction)):
                if rule.tag == tag:
                    found.append((f'{direction} rule {index} of security group {name}',
                                  _where(located, name, direction, index)))
    return found


def _tag(f: Flow, match: dict) -> Optional[int]:
    for field in ('ct_mark', 'ct_label'):
        if field in match:
            return int(match[field])
    for action in f.actions:
        if isinstance(action, Ct):
            for a in action.exec:
                return int(a.value)
    return None


def _where(located: Located, group: str, direction: str, index: int) -> Where:
    entry = located.sections.security_groups.get(group)
    rules = entry.values.get(direction) if entry is not None else None
    if isinstance(rules, list) and index < len(rules):
        return Where(located.file, rules[index].path, rules[index].line)
    return located.where('security_groups', group, direction)      # all / the default
