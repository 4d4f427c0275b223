"""NAT in a trace: the rule behind a NAT flow, and the translation a frame got.

A NAT flow is read back to its rule as the other flows are read back to
their objects: an outside address it matches (nat in) or an inside source
it matches out of an edge's MAC (nat out) is one rule of one route link,
`route_links.edge.nat[0]` with its line.  The verdict then says what the
frame looked like when it left against how it was sent.
"""
from __future__ import annotations

import ipaddress
from typing import List, Optional, Tuple

from controller.explain.source import Located, Where
from controller.pipeline import tables
from controller.pipeline.flows import Ct, Flow
from controller.topology.nat import edge_rules, nat_zone

NAT_TABLES = frozenset({tables.NAT_IN, tables.NAT_IN_CT, tables.NAT_OUT, tables.NAT_OUT_CT})


def nat_origins(located: Located, f: Flow) -> List[Tuple[str, Where]]:
    """The NAT rules a flow of a NAT table stands for: (what, where) each."""
    if f.table not in (tables.NAT_IN, tables.NAT_IN_CT, tables.NAT_OUT):
        return []
    match = dict(f.match)
    found = []
    topology = located.topology
    for link in topology.route_links:
        for index, (rule, edge) in enumerate(edge_rules(topology, link)):
            if _is_flow_of(f.table, match, rule, edge.mac):
                found.append((_describe(link, rule, index), _where(located, link, index)))
    return found


def _is_flow_of(table: int, match: dict, rule, edge_mac: str) -> bool:
    if table in (tables.NAT_IN, tables.NAT_IN_CT):
        return match.get('eth_dst') == edge_mac and match.get('ipv4_dst') == str(rule.outside)
    source = match.get('ipv4_src')
    if match.get('eth_src') != edge_mac or source is None:
        return False
    if isinstance(source, tuple):
        source = f'{source[0]}/{source[1]}'
    return ipaddress.IPv4Network(source) == rule.inside


def _describe(link: str, rule, index: int) -> str:
    zone = f'(conntrack zone {nat_zone(link):#x})'
    if rule.one_to_one:
        return f'NAT 1:1 {rule.inside.network_address} <-> {rule.outside} of route link {link} {zone}'
    return f'NAT many:1 {rule.inside} -> {rule.outside} of route link {link} {zone}'


def _where(located: Located, link: str, index: int) -> Where:
    entries = located.sections.nat.get(link, [])
    if index < len(entries):
        return Where(located.file, entries[index].path, entries[index].line)
    return located.where('route_links', link, 'nat')


def translation(first: dict, last: dict) -> Optional[str]:
    """'source 172.16.1.10 -> 10.0.10.110' when the addresses changed on
    the way (`first`: the frame as sent; `last`: as it reached the last table)."""
    changes = [f'{what} {first[k]} -> {last[k]}'
               for what, k in (('source', 'ipv4_src'), ('destination', 'ipv4_dst'))
               if k in first and k in last and str(first[k]) != str(last[k])]
    return ', '.join(changes) or None


def nat_disruptions(old: Located, new: Located) -> List[Tuple[Where, str]]:
    """NAT rules an edit removes or changes: the connections through them are
    cut (their conntrack entries stay, but no flow translates their packets)."""
    found = []
    for link, before in old.topology.route_links.items():
        after = new.topology.route_links.get(link)
        kept = set(after.nat) if after is not None else set()
        for index, rule in enumerate(before.nat):
            if after is not None and rule not in kept:
                kind = 'a floating IP' if rule.one_to_one else 'source NAT'
                found.append((_where(old, link, index),
                              f'NAT rule {_shown(rule)} -> {rule.outside} ({kind}) of route link {link} '
                              'is removed or changed: connections through it are cut'))
    return found


def _shown(rule) -> str:
    return str(rule.inside.network_address) if rule.one_to_one else str(rule.inside)


def recirculation_note(f: Flow) -> Optional[str]:
    """Why a trace ends at a ct() that recirculates: ofproto/trace (--live)
    does not run conntrack, so it cannot follow; the simulator does."""
    ct = next((a for a in f.actions if isinstance(a, Ct) and a.table is not None), None)
    if ct is None:
        return None
    return (f'handed to conntrack ({ct.describe()}), which continues in table {ct.table}; '
            'the switch\'s trace does not run conntrack, so follow it without --live')
