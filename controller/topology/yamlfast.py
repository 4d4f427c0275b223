"""What load_yaml builds, how it types plain scalars, and its fast path (libyaml).

The part of `controller.topology.yamlsource` that both of its loaders share,
and the fast one of the two.  yamlsource imports this module (never the other
way round) and re-exports `YamlMap` and `YamlList`: import them from there.

- `YamlMap`, `YamlList`: the mappings and sequences load_yaml returns, with
  lines; `_add` puts a key into a YamlMap, or a note when it cannot be kept.
- The YAML 1.2 core schema's implicit types: `_IMPLICIT_RESOLVERS` (in
  PyYAML's form; yamlsource's pure `Loader` resolves with this very table)
  and the conversions its constructors apply.
- `_fast_load`: a topology of 10,000 interfaces is ~60,000 lines and is
  re-read on every edit, and PyYAML's pure-Python scanner and parser spend
  seconds on that.  So when libyaml is available load_yaml first reads a file
  here: libyaml's parser (C) turns the text into events and a flat loop builds
  the same YamlMaps/YamlLists with the same resolution (the table and
  conversions above).  It handles the plain subset a topology uses (one
  document, a mapping at the top, no anchors, aliases, tags or directives,
  nesting at most `_FAST_MAX_DEPTH` deep) and returns `_SLOW` for anything
  else; that, and every error, is read again by the pure `Loader`, so
  messages, lines and outcomes are exactly the pure loader's.  (The C
  *composer* is not used: it recurses in C and crashes on deeply nested input.)
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Pattern, Tuple, Type

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

# libyaml's C parser, when PyYAML was built with it; None: the pure Loader reads everything.
_CParser: Optional[Type[CParser]] = None
try:
    from yaml._yaml import CParser  # where yaml.cyaml gets it from
except ImportError:         # pragma: no cover - depends on the PyYAML build
    pass
else:
    if getattr(yaml, '__with_libyaml__', False):
        _CParser = CParser


class YamlMap(dict):
    """A mapping read from YAML, plus where its keys and values are (1-based lines)."""

    __slots__ = ('line', 'key_lines', 'value_lines', 'notes')

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: Optional[int] = None             # where the mapping starts
        self.key_lines: Dict[Any, int] = {}
        # Only values that do not start on their key's line (value_line falls
        # back to the key's line): most scalars need no entry of their own.
        self.value_lines: Dict[Any, int] = {}
        # (key, line, message) for keys that could not be kept: duplicates and
        # unhashable keys.  Turned into Problems (with their path) by load_yaml.
        self.notes: List[Tuple[Any, int, str]] = []

    def key_line(self, key) -> Optional[int]:
        return self.key_lines.get(key, self.line)

    def value_line(self, key) -> Optional[int]:
        return self.value_lines.get(key, self.key_line(key))


class YamlList(list):
    """A sequence read from YAML, plus the line of each item."""

    __slots__ = ('line', 'lines')

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line: Optional[int] = None
        self.lines: List[int] = []

    def item_line(self, index: int) -> Optional[int]:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


_UNNAMED = object()     # the "key" of a note about a key that has no usable value


def _add(result: YamlMap, key, value, key_line: int, value_line: int) -> None:
    """result[key] = value with its lines, or a note when the key cannot be kept."""
    try:
        seen = key in result
    except TypeError:
        result.notes.append((_UNNAMED, key_line, 'a mapping or a list cannot be a key'))
        return
    if seen:
        result.notes.append((key, key_line,
                             f'duplicate key (first at line {result.key_lines[key]}); '
                             'YAML would silently keep only one: remove or rename one'))
        return
    result[key] = value
    result.key_lines[key] = key_line
    if value_line != key_line:
        result.value_lines[key] = value_line


# -- the YAML 1.2 core schema's implicit types ---------------------------------

_NULL = re.compile(r'(?:~|null|Null|NULL|)\Z')
_BOOL = re.compile(r'(?:true|True|TRUE|false|False|FALSE)\Z')
_INT = re.compile(r'(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z')
_FLOAT = re.compile(r'(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?'
                    r'|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z')

_TAG = 'tag:yaml.org,2002:'

# Implicit types in PyYAML's resolver form (what add_implicit_resolver builds):
# first character -> [(tag, pattern)], tried in order, the first match wins.
# Only these exist: yamlsource's Loader takes this very table, not SafeLoader's.
_IMPLICIT_RESOLVERS: Dict[Optional[str], List[Tuple[str, Pattern[str]]]] = {}
# int before float: "12" matches both patterns and the first registered wins.
for _tag, _pattern, _first in ((_TAG + 'null', _NULL, ['~', 'n', 'N', '']),
                               (_TAG + 'bool', _BOOL, list('tTfF')),
                               (_TAG + 'int', _INT, list('-+0123456789')),
                               (_TAG + 'float', _FLOAT, list('-+.0123456789'))):
    for _char in _first:
        _IMPLICIT_RESOLVERS.setdefault(_char, []).append((_tag, _pattern))
del _tag, _pattern, _first, _char


def _int_value(text: str) -> int:
    """The value of an integer that matches _INT."""
    if text.startswith('0x'):
        return int(text[2:], 16)
    if text.startswith('0o'):
        return int(text[2:], 8)
    return int(text, 10)


def _float_value(text: str) -> float:
    """The value of a number that matches _FLOAT."""
    lowered = text.lower()
    if lowered.lstrip('+-') in ('.inf', '.nan'):
        lowered = lowered.replace('.', '')      # Python spells them inf, nan
    return float(lowered)


def _bool_value(text: str) -> bool:
    return text.lower() == 'true'


# -- the fast path: libyaml's parser, the same resolution, no recursion ----------

_FAST_MAX_DEPTH = 32            # deeper (never in a topology) goes to the pure loader
_SLOW = object()                # _fast_load's "the pure loader must read this"

# What an untagged plain scalar becomes, by its first character ('' = empty):
# the implicit resolvers in registration order (the first match wins, as in
# Resolver.resolve), each with the conversion Loader's constructor applies.
_CONVERSIONS = {_TAG + 'null': lambda text: None, _TAG + 'bool': _bool_value,
                _TAG + 'int': _int_value, _TAG + 'float': _float_value}
_PLAIN_RESOLVERS = {
    first: tuple((regexp.match, _CONVERSIONS[tag])
                 for tag, regexp in resolvers + _IMPLICIT_RESOLVERS.get(None, []))
    for first, resolvers in _IMPLICIT_RESOLVERS.items() if first is not None}
assert not _IMPLICIT_RESOLVERS.get(None), 'wildcard resolvers: extend _fast_load'


def _fast_load(text: str):
    """(data, noted) for `text` read with libyaml's parser, or _SLOW.

    Builds exactly what Loader builds (same values, lines and notes; noted says
    whether any mapping got a note) for the subset it accepts, and returns
    _SLOW for anything outside it.  Errors (libyaml's, or any other) propagate:
    the caller then hands the text to the pure loader.
    """
    # Where libyaml and PyYAML read the same text differently, PyYAML decides:
    # tabs ("a:<tab>b" is fine for libyaml only), byte-order marks (libyaml
    # skips them at the start of every line, PyYAML of the text only) and a
    # missing final line break (libyaml then puts the end, and so an empty
    # value there, a line lower).
    if _CParser is None:        # no libyaml (or switched off, as tests do)
        return _SLOW
    if '\t' in text or '\ufeff' in text or not text.endswith('\n'):
        return _SLOW
    parser = _CParser(text)
    try:
        get_event = parser.get_event
        if type(get_event()) is not StreamStartEvent:
            return _SLOW
        event = get_event()
        if type(event) is not DocumentStartEvent or event.version or event.tags:
            return _SLOW
        event = get_event()
        if type(event) is not MappingStartEvent or event.anchor is not None \
                or event.tag is not None or not event.implicit:
            return _SLOW
        mark = event.start_mark
        assert mark is not None     # libyaml gives every event its marks
        data = YamlMap()
        data.line = mark.line + 1
        noted = False
        add = _add
        resolvers_of = _PLAIN_RESOLVERS.get
        # The innermost open mapping; the innermost open collection when that is
        # a list (None: it is the mapping); the line where the innermost one
        # starts and whether it is in flow style ([...], {...}); for a mapping,
        # its pending key and the key's line (None: a key comes next).  The
        # outer ones wait on the stack.
        mapping = data
        items: Optional[YamlList] = None
        start: int = data.line
        flow: Optional[bool] = event.flow_style
        key: Any = None
        key_line: Optional[int] = None
        stack: List[Tuple[YamlMap, Optional[YamlList], int, Optional[bool], Any, Optional[int]]] = []
        value: Any      # a scalar, a YamlMap or a YamlList
        line: int
        while True:
            event = get_event()
            if type(event) is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    return _SLOW
                value = event.value
                if event.implicit[0]:           # plain: resolve as Loader does
                    if not value:
                        # An empty value ("a:").  In flow style PyYAML puts it
                        # at the end of the ":" before it, libyaml at the next token.
                        if flow:
                            return _SLOW
                    elif '?' in value:
                        return _SLOW    # libyaml allows "[a?b]", PyYAML ends the scalar at "?"
                    resolvers = resolvers_of(value[:1])
                    if resolvers is not None:
                        for match, convert in resolvers:
                            if match(value):
                                value = convert(value)
                                break
                elif event.style != '"' and event.style != "'":
                    return _SLOW        # block scalars (| and >): headers are read differently
                mark = event.start_mark
                assert mark is not None     # (as above)
                line = mark.line + 1
            elif type(event) is MappingStartEvent or type(event) is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or not event.implicit \
                        or len(stack) >= _FAST_MAX_DEPTH:
                    return _SLOW
                mark = event.start_mark
                assert mark is not None     # (as above)
                stack.append((mapping, items, start, flow, key, key_line))
                start = mark.line + 1
                if type(event) is MappingStartEvent:
                    mapping = YamlMap()
                    mapping.line = start
                    items = None
                else:
                    items = YamlList()
                    items.line = start
                flow = event.flow_style
                key_line = None
                continue
            elif type(event) is MappingEndEvent or type(event) is SequenceEndEvent:
                if not stack:
                    break
                value = mapping if items is None else items
                line = start
                mapping, items, start, flow, key, key_line = stack.pop()
            else:                   # an alias, or anything unexpected
                return _SLOW
            # `value`, starting at `line`, is complete: it belongs to the innermost collection.
            if items is not None:
                items.append(value)
                items.lines.append(line)
            elif key_line is None:
                key, key_line = value, line
            else:
                if type(key) is str and key not in mapping:      # _add, inlined
                    mapping[key] = value
                    mapping.key_lines[key] = key_line
                    if line != key_line:
                        mapping.value_lines[key] = line
                else:
                    add(mapping, key, value, key_line, line)
                    if mapping.notes:       # only _add leaves notes
                        noted = True
                key_line = None
        if type(get_event()) is not DocumentEndEvent or type(get_event()) is not StreamEndEvent:
            return _SLOW
        return data, noted
    finally:
        parser.dispose()
