"""Re-validating an edited topology in time proportional to the edit.

A one-interface edit of a 10,000-interface file used to be read whole again
(0.2-0.4 s).  `Revalidator` keeps what it read last time and, when an edit
is confined to whole entries of the `interfaces` section (the usual edit: a
VM added, changed or removed), reads only those entries: the YAML of the
changed lines, each entry's own rules, and the rules across entries through
indexes of what is already claimed (MACs and addresses per network, ports
per datapath, the one DHCP server per network).  Unchanged interfaces keep
their `Interface` objects, which makes the diff and the compile cheap too.

It is only a fast path.  Anything else (an edit in another section, one a
route link or the tunnel rule could see, and any problem at all) goes
through full validation, so the outcome and every message are exactly
validate_text's.  That is also why the entries it keeps may carry stale
line numbers after lines shift: nothing is ever reported from them.
"""
from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Hashable, Iterator, List, Optional, Tuple

from controller.topology.dns import touches_dns
from controller.topology.entries import Entry, Report, Sections
from controller.topology.model import DHCP, SIMULATED, Interface, Topology
from controller.topology.nat import outside_slots
from controller.topology.rules import (
    INTERFACE_KEYS,
    TOP_KEYS,
    check_interface_address,
    check_interface_references,
    read_interface,
)
from controller.topology.security_groups import touches_groups
from controller.topology.validate import build_interface, read_text, validate_parts
from controller.topology.yamlsource import YamlMap, load_yaml

_HEADER = re.compile(r'interfaces:[ \t]*(#.*)?\r?\n?')
_MARKERS = ('---', '...')        # document markers: never inside a fast-path chunk


def claims_of(e: Entry) -> Iterator[Tuple[str, Hashable]]:
    """What an interface claims that no other may (the uniqueness rules of
    rules.check_interfaces, as (kind, slot) pairs)."""
    v = e.values
    network = v.get('network')
    if network is None:
        return
    if v.get('mac') is not None:
        yield 'mac', (network, v['mac'])
    if v.get('ipv4') is not None:
        yield 'ipv4', (network, v['ipv4'])
    if DHCP in (v.get('services') or ()):
        yield 'dhcp', network
    if v.get('datapath') and v.get('port'):
        yield 'port', (v['datapath'], v['port'])


@dataclass
class _Read:
    """The last good text, and where its interfaces are."""
    lines: List[str]
    topology: Topology
    sections: Sections
    names: List[str]                 # interfaces in file order
    starts: List[int]                # the 0-based line of each name
    header: int                      # the line of `interfaces:`
    end: int                         # the first line after the section
    indent: int                      # the column of the names
    referenced: FrozenSet[str]       # interfaces named by route links
    claims: Optional[Dict[Tuple[str, Hashable], str]] = field(default=None)

    def claimed(self) -> Dict[Tuple[str, Hashable], str]:
        if self.claims is None:      # built on the first fast edit, then kept up to date
            self.claims = {}
            for name, e in self.sections.interfaces.items():
                for slot in claims_of(e):
                    self.claims.setdefault(slot, name)
            for address in outside_slots(self.topology):    # NAT's: no interface may take one
                self.claims.setdefault(('ipv4', address), '')
        return self.claims


class Revalidator:
    """`load(text)` is validate_text(text, source), in O(edit) for edits of
    whole interface entries.  `changed` says which interfaces the last load
    changed (None: unknown, the file was read whole)."""

    def __init__(self, source: str):
        self.source = source
        self.changed: Optional[FrozenSet[str]] = None
        self.fast_loads = 0          # how many loads took the fast path (tests, logs)
        self._last: Optional[_Read] = None

    def load_file(self, path: str) -> Topology:
        return self.load(read_text(path))

    def load(self, text: str) -> Topology:
        lines = text.splitlines(keepends=True)
        if self._last is not None and _lines_are_yaml_lines(text, lines):
            fast = self._fast(self._last, lines)
            if fast is not None:
                self.fast_loads += 1
                self._last, self.changed = fast
                return fast[0].topology
        topology, data, sections = validate_parts(text, self.source)   # raises on any problem
        whole = _read_whole(lines, topology, data, sections)
        if not _lines_are_yaml_lines(text, lines):
            whole.header = -1
        self._last, self.changed = whole, None
        return topology

    # -- the fast path --------------------------------------------------------------
    def _fast(self, last: _Read, new: List[str]) -> Optional[Tuple[_Read, FrozenSet[str]]]:
        old = last.lines
        p, old_hi, delta = _changed_lines(old, new)
        if p == len(old) and delta == 0:
            return last, frozenset()
        if last.header < 0:
            return None
        # Outside the interfaces section only comments and blank lines may
        # change; find where its header and its end are now.
        header = _align_forward(old, new, p, last.header)
        end = _align_backward(old, new, old_hi, old_hi + delta, last.end)
        if header is None or end is None:
            return None
        # Comments and blank lines before the first entry and after the last
        # one belong to no entry: compare what lies between.
        bo0, bo1 = _trim(old, last.header + 1, last.end)
        bn0, bn1 = _trim(new, header + 1, end)
        d0, d1 = bn0 - bo0, bn1 - bo1                   # the shifts before and after the change
        body_p, body_hi, body_delta = _changed_lines(old[bo0:bo1], new[bn0:bn1])
        if body_p == bo1 - bo0 and body_delta == 0:     # only comments changed
            starts = [x + d0 for x in last.starts] if d0 else last.starts
            return _Read(new, last.topology, last.sections, last.names, starts, header, end,
                         last.indent, last.referenced, last.claims), frozenset()
        p, old_hi = bo0 + body_p, bo0 + body_hi
        i = bisect_right(last.starts, p) - 1          # the entry the change starts in
        if i < 0:
            return None
        j = bisect_left(last.starts, old_hi)          # the first entry after it
        a = last.starts[i]
        b = last.starts[j] if j < len(last.starts) else bo1
        entries = self._read_chunk(new[a + d0:b + d1], a + d0, last.indent)
        if entries is None:
            return None
        return self._merge(last, new, (i, j, d0, d1, header, end), entries)

    def _read_chunk(self, chunk: List[str], first: int, indent: int) -> Optional[Dict[str, Entry]]:
        """The entries in `chunk` (lines from index `first`), read with their
        true line numbers, or None if they are not whole entries without problems."""
        content = [k for k, line in enumerate(chunk) if line.strip() and not line.lstrip().startswith('#')]
        if not content:
            return {}
        if any(line.startswith(_MARKERS) for line in chunk):
            return None
        text = '\n' * (first - 1) + 'interfaces:\n' + ''.join(chunk)
        data, problems = load_yaml(text, self.source)
        if problems or not isinstance(data, YamlMap) or list(data) != ['interfaces']:
            return None
        section = data['interfaces']
        if not isinstance(section, YamlMap):
            return None
        starts = [section.key_lines.get(name, 0) - 1 - first for name in section]
        if not starts or starts[0] != content[0] or \
                any(not 0 <= k < len(chunk) or _indent(chunk[k]) != indent for k in starts):
            return None
        report = Report(self.source)
        entries = Entry(report, '', 1, data, TOP_KEYS).named_entries('interfaces', INTERFACE_KEYS,
                                                                     'interfaces')
        for e in entries.values():
            read_interface(e)
        return None if report.problems else entries

    def _merge(self, last: _Read, new: List[str], where: Tuple[int, int, int, int, int, int],
               entries: Dict[str, Entry]) -> Optional[Tuple[_Read, FrozenSet[str]]]:
        """The new read: entries i..j-1 replaced by `entries`, the rest shifted."""
        i, j, d0, d1, header, end = where
        removed = last.names[i:j]
        old_s, old_t = last.sections, last.topology
        gone = set(removed)
        if any(n in old_s.interfaces and n not in gone for n in entries):
            return None                               # a duplicate name: full validation says so
        if last.referenced & (gone | set(entries)):
            return None                               # a route link sees it
        if not self._tunnels_unaffected(old_t, entries):
            return None
        if touches_dns(old_t, {n: old_s.interfaces[n] for n in removed}, entries):
            return None                               # the dns rules span the network
        if touches_groups([old_s.interfaces[n] for n in removed] + list(entries.values())):
            return None                               # group references and from_group members
        names = last.names[:i] + list(entries) + last.names[j:]
        old_entries = old_s.interfaces
        s = dataclasses.replace(old_s, interfaces={n: entries[n] if n in entries else old_entries[n]
                                                   for n in names})
        report = entries[next(iter(entries))].report if entries else None
        for e in entries.values():
            check_interface_references(s, e)
            check_interface_address(s, e)
        if report is not None and report.problems:
            return None
        if not _reclaim(last, {n: old_entries[n] for n in removed}, entries):
            return None
        interfaces, changed = _interfaces(old_t, names, entries, gone)
        topology = dataclasses.replace(old_t, interfaces=interfaces)    # every other section kept
        before = last.starts[:i] if not d0 else [x + d0 for x in last.starts[:i]]
        starts = before + [e.line - 1 for e in entries.values()] + [x + d1 for x in last.starts[j:]]  # type: ignore[operator]
        read = _Read(new, topology, s, names, starts, header, end, last.indent, last.referenced,
                     last.claims)
        return read, changed

    @staticmethod
    def _tunnels_unaffected(topology: Topology, entries: Dict[str, Entry]) -> bool:
        """A new interface can make a datapath meet another over VXLAN; that
        needs a tunnel_ip, which only full validation checks."""
        if all(dp.tunnel_ip for dp in topology.datapaths.values()):
            return True
        for e in entries.values():
            v = e.values
            if v.get('mode') != SIMULATED and v.get('datapath') is not None \
                    and v['datapath'] not in topology.span_of(v['network']):
                return False
        return True


def _reclaim(last: _Read, removed: Dict[str, Entry], added: Dict[str, Entry]) -> bool:
    """Release what the removed entries claimed and claim for the added ones;
    False on a collision (the index is then rebuilt next time)."""
    claims = last.claimed()
    for name, e in removed.items():
        for slot in claims_of(e):
            if claims.get(slot) == name:
                del claims[slot]
    for name, e in added.items():
        for slot in claims_of(e):
            if claims.setdefault(slot, name) != name:
                last.claims = None
                return False
    return True


def _interfaces(old: Topology, names: List[str], entries: Dict[str, Entry],
                gone: set) -> Tuple[Dict[str, Interface], FrozenSet[str]]:
    """The new interfaces by name, reusing the old objects of unchanged ones;
    and the names that really changed."""
    made: Dict[str, Interface] = {}
    changed = set()
    for name, e in entries.items():
        iface = build_interface(name, e.values)
        before = old.interfaces.get(name)
        if before == iface:
            iface = before
        else:
            changed.add(name)
        made[name] = iface
    changed.update(n for n in gone if n not in entries)
    old_ifaces = old.interfaces
    return {n: made[n] if n in made else old_ifaces[n] for n in names}, frozenset(changed)


def _changed_lines(old: List[str], new: List[str]) -> Tuple[int, int, int]:
    """(p, old_hi, delta): old[p:old_hi] became new[p:old_hi + delta]; the
    lines before p and from old_hi on are common to both."""
    limit = min(len(old), len(new))
    p = 0
    while p < limit and old[p] == new[p]:
        p += 1
    q = 0
    while q < limit - p and old[-1 - q] == new[-1 - q]:
        q += 1
    return p, len(old) - q, len(new) - len(old)


def _significant(line: str) -> bool:
    text = line.strip()
    return bool(text) and not text.startswith('#')


def _align_forward(old: List[str], new: List[str], p: int, header: int) -> Optional[int]:
    """Where old line `header` is in `new`, if the lines before it differ
    (from line p on) only in comments and blank lines."""
    if p > header:
        return header
    i = j = p
    while True:
        while i < header and not _significant(old[i]):
            i += 1
        while j < len(new) and not _significant(new[j]):
            j += 1
        if j == len(new) or old[i] != new[j]:
            return None
        if i == header:
            return j
        i, j = i + 1, j + 1


def _align_backward(old: List[str], new: List[str], old_hi: int, new_hi: int, end: int) -> Optional[int]:
    """Where old line `end` (the section after the interfaces, or the end)
    is in `new`, if the lines from there to old_hi differ only in comments
    and blank lines (from old_hi / new_hi on the two are the same)."""
    if old_hi <= end:
        return end + (new_hi - old_hi)
    i, j = old_hi - 1, new_hi - 1
    while True:
        while i > end and not _significant(old[i]):
            i -= 1
        while j >= 0 and not _significant(new[j]):
            j -= 1
        if j < 0 or old[i] != new[j]:
            return None
        if i == end:
            return j
        i, j = i - 1, j - 1


def _trim(lines: List[str], lo: int, hi: int) -> Tuple[int, int]:
    """lo..hi without the comment and blank lines at either end."""
    while hi > lo and not _significant(lines[hi - 1]):
        hi -= 1
    while lo < hi and not _significant(lines[lo]):
        lo += 1
    return lo, hi


def _lines_are_yaml_lines(text: str, lines: List[str]) -> bool:
    """splitlines also splits at form feeds, lone carriage returns and other
    breaks YAML does not count; then our line numbers would not be YAML's."""
    return len(lines) == text.count('\n') + (0 if text.endswith('\n') or not text else 1)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(' '))


def _read_whole(lines: List[str], topology: Topology, data, sections: Sections) -> _Read:
    """Where the interfaces are in a text that was read whole (header -1: no fast path)."""
    referenced = frozenset(str(r.values.get('interface')) for routes in sections.routes.values()
                           for r in routes)
    none = _Read(lines, topology, sections, [], [], -1, 0, 0, referenced)
    section = data.get('interfaces') if isinstance(data, YamlMap) else None
    if not isinstance(section, YamlMap) or not section or 'interfaces' not in data.key_lines:
        return none
    header = data.key_lines['interfaces'] - 1
    if not _HEADER.fullmatch(lines[header]):
        return none                                    # flow style, or a value on the header line
    names = list(sections.interfaces)
    starts = [section.key_lines[n] - 1 for n in names]
    if len(names) != len(section) or starts != sorted(set(starts)) or starts[0] <= header:
        return none
    indent = _indent(lines[starts[0]])
    later = [line - 1 for line in data.key_lines.values() if line - 1 > header]
    end = min(later) if later else len(lines)
    if any(_indent(lines[k]) != indent for k in starts) or \
            any(line.startswith(_MARKERS) for line in lines[header + 1:end]):
        return none
    return _Read(lines, topology, sections, names, starts, header, end, indent, referenced)
