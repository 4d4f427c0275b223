"""Reading one mapping of a topology file key by key, reporting with lines and paths.

`Entry` wraps a mapping such as `interfaces.vm1`: it reports unknown keys at
once, then each `required`/`optional`/... call parses one key with a parser
from validate_values.  Parsed values land in `entry.values`; a value that is
missing or wrong is reported and left out, so that later cross-checks (which
look values up with `.get`) quietly skip what could not be read instead of
piling up follow-on errors.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from controller.topology.errors import Problem
from controller.topology.values import Invalid, Parser, check_name, describe
from controller.topology.yamlsource import YamlList, YamlMap, join_path

_ABSENT = object()


class Report:
    """Collects every problem of one file."""

    def __init__(self, source: str, problems: Sequence[Problem] = ()):
        self.source = source
        self.problems: List[Problem] = list(problems)

    def add(self, path: str, line: Optional[int], message: str) -> None:
        self.problems.append(Problem(self.source, line, path, message))


class Entry:
    """One mapping of the file, e.g. `interfaces.vm1` (line: where its name is)."""

    def __init__(self, report: Report, path: str, line: Optional[int], data: Any,
                 allowed: Sequence[str]):
        self.report, self.path, self.line = report, path, line
        self.values: Dict[str, Any] = {}
        self.is_mapping = isinstance(data, dict)
        self.data: dict = data if self.is_mapping else {}
        if self.is_mapping:
            self._reject_unknown_keys(allowed)
        else:
            report.add(path, line if data is None else _line_of_container(data, line),
                       f'expected a mapping with the keys {", ".join(allowed)}; found {describe(data)}')

    # -- where things are --

    def path_of(self, key) -> str:
        return join_path(self.path, key)

    def line_of(self, key) -> Optional[int]:
        """The line of the key's value (the entry's own line when the key is absent)."""
        if isinstance(self.data, YamlMap) and key in self.data:
            return self.data.value_line(key)
        return self.line

    def key_line(self, key) -> Optional[int]:
        if isinstance(self.data, YamlMap) and key in self.data:
            return self.data.key_line(key)
        return self.line

    def problem(self, key, message: str) -> None:
        """Report a problem with the value of `key`."""
        self.report.add(self.path_of(key), self.line_of(key), message)

    def present(self, key) -> bool:
        return self.data.get(key) is not None

    # -- reading keys --

    def required(self, key: str, parse: Parser):
        raw = self.data.get(key, _ABSENT)
        if raw is None:
            self.problem(key, f'is empty; expected {parse.expected}')
            return None
        if raw is _ABSENT:
            if self.is_mapping:     # a non-mapping was reported once already
                self.report.add(self.path_of(key), self.line, f'missing; expected {parse.expected}')
            return None
        return self._parse(key, parse, raw)

    def optional(self, key: str, parse: Parser, default=None):
        """An optional key; null counts as absent, so `tunnel_ip:` alone is fine."""
        raw = self.data.get(key)
        if raw is None:
            self.values[key] = default
            return default
        return self._parse(key, parse, raw)

    def forbid(self, key: str, reason: str) -> None:
        if self.present(key):
            self.report.add(self.path_of(key), self.key_line(key), f'{reason}; remove {key}')

    def optional_list(self, key: str, parse_item: Parser, default=(), distinct=False):
        """A list whose items each go through `parse_item`; a tuple, or None if any is wrong."""
        raw = self.data.get(key)
        if raw is None:
            self.values[key] = default
            return default
        if not isinstance(raw, list):
            self.problem(key, f'expected a list, each item {parse_item.expected}; found {describe(raw)}')
            return None
        items, ok = [], True
        for index, item in enumerate(raw):
            where, line = f'{self.path_of(key)}[{index}]', _item_line(raw, index, self.line_of(key))
            try:
                value = parse_item(item)
            except Invalid as exc:
                self.report.add(where, line, str(exc))
                ok = False
                continue
            if distinct and value in items:
                self.report.add(where, line, f'{value} is listed twice')
                ok = False
            items.append(value)
        if not ok:
            return None
        self.values[key] = tuple(items)
        return self.values[key]

    def entries(self, key: str, allowed: Sequence[str], what: str) -> Optional[List['Entry']]:
        """A required list of mappings, each an Entry (`routes[0]`, ...)."""
        raw = self.data.get(key)
        if raw is None:
            if key not in self.data:
                if self.is_mapping:
                    self.report.add(self.path_of(key), self.line, f'missing; expected a list of {what}')
            else:
                self.problem(key, f'is empty; expected a list of {what}')
            return None
        if not isinstance(raw, list):
            self.problem(key, f'expected a list of {what}; found {describe(raw)}')
            return None
        return [Entry(self.report, f'{self.path_of(key)}[{index}]',
                      _item_line(raw, index, self.line_of(key)), item, allowed)
                for index, item in enumerate(raw)]

    def named_entries(self, key: str, allowed: Sequence[str], what: str) -> Dict[str, 'Entry']:
        """A section such as `interfaces`: a mapping of names to Entries.

        Absent or null is an empty section.  Badly formed names are reported and
        skipped; the result keeps file order (later duplicates point back to it).
        """
        raw = self.data.get(key)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(key, f'expected a mapping of names to {what}; found {describe(raw)}')
            return {}
        result: Dict[str, Entry] = {}
        section = self.path_of(key)
        report = self.report
        # The line of each name: where it is, else where the section is.
        key_lines = raw.key_lines if isinstance(raw, YamlMap) else {}
        fallback = raw.line if isinstance(raw, YamlMap) else self.line_of(key)
        for name, body in raw.items():
            line = key_lines.get(name, fallback)
            try:
                check_name(name)
            except Invalid as exc:
                report.add(join_path(section, name), line, str(exc))
                continue
            result[name] = Entry(report, join_path(section, name), line, body, allowed)
        return result

    def _parse(self, key: str, parse: Parser, raw):
        try:
            value = parse(raw)
        except Invalid as exc:
            self.problem(key, str(exc))
            return None
        self.values[key] = value
        return value

    def _reject_unknown_keys(self, allowed: Sequence[str]) -> None:
        for key in self.data:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1) if isinstance(key, str) else []
            hint = f'did you mean {close[0]}? ' if close else ''
            self.report.add(self.path_of(key), self.key_line(key),
                            f'unknown key; {hint}allowed keys here: {", ".join(allowed)}')


def _item_line(items, index: int, fallback: Optional[int]) -> Optional[int]:
    return items.item_line(index) if isinstance(items, YamlList) else fallback


def _line_of_container(data, fallback: Optional[int]) -> Optional[int]:
    return getattr(data, 'line', None) or fallback


@dataclass
class Sections:
    """Every entry of the file that has a well-formed name, in file order."""
    datapaths: Dict[str, Entry] = field(default_factory=dict)
    networks: Dict[str, Entry] = field(default_factory=dict)
    interfaces: Dict[str, Entry] = field(default_factory=dict)
    route_links: Dict[str, Entry] = field(default_factory=dict)
    routes: Dict[str, List[Entry]] = field(default_factory=dict)    # by route link
    nat: Dict[str, List[Entry]] = field(default_factory=dict)       # by route link (topology.nat)
    security_groups: Dict[str, Entry] = field(default_factory=dict)  # topology.security_groups
