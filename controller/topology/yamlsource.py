"""YAML loading that remembers where everything is and refuses ambiguity.

Topology errors must name the line, so `load_yaml` returns plain Python data in
which every mapping is a `YamlMap` (a dict that also knows the line of each key
and value) and every sequence a `YamlList` (a list with the line of each item).
Scalars are plain str/int/float/bool/None.

Two deliberate departures from `yaml.safe_load`:

- Implicit typing follows the YAML 1.2 core schema, not PyYAML's YAML 1.1:
  `52:54:00:12:34:56` stays a string (1.1 reads it as a base-60 integer),
  `yes`/`no`/`on`/`off` stay strings (only true/false are booleans), dates stay
  strings, `010` is ten (not octal eight).  Integers may be decimal, `0x` hex or
  `0o` octal.  Merge keys (`<<`) are not supported; tags other than the core
  ones (str, int, float, bool, null, seq, map) are refused.
- A key given twice in one mapping is a problem, not "the last one wins".

Syntax errors and duplicate keys come back as `Problem`s, never exceptions.

Speed: a topology of 10,000 interfaces is ~60,000 lines and is re-read on every
edit.  PyYAML's pure-Python scanner and parser spend seconds on that, so when
libyaml is available a file is first read by `_fast_load`: libyaml's parser (C)
turns the text into events and a flat loop builds the same YamlMaps/YamlLists
with the same resolution (the very tables and conversions of `Loader` below).
It handles the plain subset a topology uses (one document, a mapping at the top,
no anchors, aliases, tags or directives, nesting at most `_FAST_MAX_DEPTH`
deep); anything else, and every error, is read again by the pure `Loader`, so
messages, lines and outcomes are exactly the pure loader's.  (The C *composer*
is not used: it recurses in C and crashes on deeply nested input.)
"""
from __future__ import annotations

import re
from typing import Any, Callable, ClassVar, Dict, List, NoReturn, Optional, Pattern, Sequence, Tuple, Type, Union

import yaml
from yaml.constructor import ConstructorError
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
from yaml.nodes import MappingNode, SequenceNode

from controller.topology.errors import Problem

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


def line_at(data, keys: Sequence[Union[str, int]]) -> Optional[int]:
    """The line of the value at `keys` (e.g. ['interfaces', 'vm1', 'ipv4']).

    Falls back to the deepest known enclosing line when the path stops early.
    """
    line = getattr(data, 'line', None)
    for key in keys:
        if isinstance(data, YamlMap) and _has_key(data, key):
            line, data = data.value_line(key), data[key]
        elif isinstance(data, YamlList) and isinstance(key, int) and 0 <= key < len(data):
            line, data = data.item_line(key), data[key]
        else:
            break
    return line


def _has_key(mapping, key) -> bool:
    try:
        return key in mapping
    except TypeError:           # an unhashable key asked about
        return False


def _line(node) -> int:
    return node.start_mark.line + 1


# -- the loader ---------------------------------------------------------------

_NULL = re.compile(r'(?:~|null|Null|NULL|)\Z')
_BOOL = re.compile(r'(?:true|True|TRUE|false|False|FALSE)\Z')
_INT = re.compile(r'(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z')
_FLOAT = re.compile(r'(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?'
                    r'|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z')

_TAG = 'tag:yaml.org,2002:'
_UNNAMED = object()     # the "key" of a note about a key that has no usable value


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core implicit types, line tracking and duplicate detection."""

    # Fresh tables (not copies of SafeLoader's): only what is declared below exists.
    # Resolvers: first character (None: any) -> [(tag, pattern)], as add_implicit_resolver fills them.
    yaml_implicit_resolvers: Dict[Optional[str], List[Tuple[str, Pattern[str]]]] = {}
    yaml_constructors: ClassVar[Dict[Optional[str], Callable[..., Any]]] = {}
    yaml_multi_constructors: ClassVar[Dict[Optional[str], Callable[..., Any]]] = {}

    noted = False           # set once a mapping got a note (a duplicate key, ...)

    def construct_map(self, node) -> YamlMap:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f'expected a mapping, found {node.id}', node.start_mark)
        result = YamlMap()
        result.line = _line(node)
        # Deep construction: the whole tree exists when we return, so recursive
        # aliases fail here ("unconstructable recursive node") instead of later.
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            value = self.construct_object(value_node, deep=True)
            self._add(result, key, value, _line(key_node), _line(value_node))
        if result.notes:
            self.noted = True
        return result

    @staticmethod
    def _add(result: YamlMap, key, value, key_line: int, value_line: int) -> None:
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

    def construct_seq(self, node) -> YamlList:
        if not isinstance(node, SequenceNode):
            raise ConstructorError(None, None, f'expected a sequence, found {node.id}', node.start_mark)
        result = YamlList(self.construct_object(child, deep=True) for child in node.value)
        result.line = _line(node)
        result.lines = [_line(child) for child in node.value]
        return result

    def construct_int(self, node) -> int:
        # Our own, because PyYAML's reads "010" as octal and "1:30" as base 60.
        # Also reached through an explicit !!int tag, hence the checks.
        text = self.construct_scalar(node)
        if not _INT.match(text):
            raise ConstructorError(None, None, f'{text!r} is not an integer', node.start_mark)
        return _int_value(text)

    def construct_float(self, node) -> float:
        text = self.construct_scalar(node)
        if not _FLOAT.match(text):
            raise ConstructorError(None, None, f'{text!r} is not a number', node.start_mark)
        return _float_value(text)

    def construct_bool(self, node) -> bool:
        text = self.construct_scalar(node)
        if not _BOOL.match(text):
            raise ConstructorError(None, None, f'{text!r} is not true or false', node.start_mark)
        return _bool_value(text)

    def construct_null(self, node) -> None:
        self.construct_scalar(node)     # refuses a mapping or list tagged !!null
        return None


Loader.add_implicit_resolver(_TAG + 'null', _NULL, ['~', 'n', 'N', ''])
Loader.add_implicit_resolver(_TAG + 'bool', _BOOL, list('tTfF'))
# int before float: "12" matches both patterns and the first registered wins.
Loader.add_implicit_resolver(_TAG + 'int', _INT, list('-+0123456789'))
Loader.add_implicit_resolver(_TAG + 'float', _FLOAT, list('-+.0123456789'))

# SafeConstructor's own constructors, seen as Loader's: the stubs type their self
# as SafeConstructor, which add_constructor does not take for a Loader table.
_construct_str: Callable[[Loader, Any], str] = Loader.construct_yaml_str
_construct_undefined: Callable[[Loader, Any], NoReturn] = Loader.construct_undefined

Loader.add_constructor(_TAG + 'null', Loader.construct_null)
Loader.add_constructor(_TAG + 'bool', Loader.construct_bool)
Loader.add_constructor(_TAG + 'int', Loader.construct_int)
Loader.add_constructor(_TAG + 'float', Loader.construct_float)
Loader.add_constructor(_TAG + 'str', _construct_str)
Loader.add_constructor(_TAG + 'seq', Loader.construct_seq)
Loader.add_constructor(_TAG + 'map', Loader.construct_map)
Loader.add_constructor(None, _construct_undefined)


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
# Loader's implicit resolvers in registration order (the first match wins, as in
# Resolver.resolve), each with the conversion its constructor applies.
_CONVERSIONS = {_TAG + 'null': lambda text: None, _TAG + 'bool': _bool_value,
                _TAG + 'int': _int_value, _TAG + 'float': _float_value}
_PLAIN_RESOLVERS = {
    first: tuple((regexp.match, _CONVERSIONS[tag])
                 for tag, regexp in resolvers + Loader.yaml_implicit_resolvers.get(None, []))
    for first, resolvers in Loader.yaml_implicit_resolvers.items() if first is not None}
assert not Loader.yaml_implicit_resolvers.get(None), 'wildcard resolvers: extend _fast_load'


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
        add = Loader._add
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
                if type(key) is str and key not in mapping:      # Loader._add, inlined
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


# -- entry point --------------------------------------------------------------

def load_yaml(text: str, source: str) -> Tuple[Optional[YamlMap], List[Problem]]:
    """Parse `text` (named `source` in problems) into a YamlMap.

    Returns (data, problems).  data is None when the text cannot be read as a
    mapping at all (syntax error, list at the top, ...); an empty document is an
    empty YamlMap.  Duplicate keys are problems but data is still returned (with
    the first occurrence kept) so that validation can report more at once.
    """
    fast = _try_fast_load(text)
    if fast is not _SLOW:
        data, noted = fast
        return data, _note_problems(data, source) if noted else []
    try:
        data, noted = _parse(text)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(source, exc)]
    except yaml.YAMLError as exc:     # ReaderError: control characters and the like
        return None, [_reader_problem(source, text, exc)]
    except RecursionError:
        return None, [Problem(source, None, '', 'invalid YAML: nested too deeply')]
    if data is None:
        data = YamlMap()
        data.line = 1
    if not isinstance(data, YamlMap):
        return None, [Problem(source, getattr(data, 'line', None) or 1, '',
                              'the top level must be a mapping with the keys datapaths, networks, '
                              f'interfaces and route_links; found {_kind(data)}')]
    return data, _note_problems(data, source) if noted else []


def _try_fast_load(text: str):
    """(data, noted) from _fast_load, or _SLOW when the pure loader must decide."""
    if _CParser is None:
        return _SLOW
    try:
        return _fast_load(text)
    except Exception:       # noqa: BLE001 - whatever went wrong, the pure loader reports it
        return _SLOW


def _parse(text: str):
    """(data, noted) read by the pure loader."""
    loader = Loader(text)
    try:
        return loader.get_single_data(), loader.noted
    finally:
        loader.dispose()


def _syntax_problem(source: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    message = exc.problem or exc.context or 'cannot be parsed'
    if exc.context and exc.problem:
        context_mark = exc.context_mark
        at = f' at line {context_mark.line + 1}' if context_mark and context_mark.line + 1 != line else ''
        message = f'{message} ({exc.context}{at})'
    message = _friendlier(message)
    if "'\\t'" in message:
        message += '; indent with spaces, YAML does not allow tabs there'
    return Problem(source, line, '', f'invalid YAML: {message}')


def _friendlier(message: str) -> str:
    unknown_tag = 'could not determine a constructor for the tag '
    if message.startswith(unknown_tag):
        return f'unsupported tag {message[len(unknown_tag):]}; only plain YAML values are allowed'
    if message == 'found unconstructable recursive node':
        return 'an alias refers to the anchor that contains it'
    return message


def _reader_problem(source: str, text: str, exc: yaml.YAMLError) -> Problem:
    character = getattr(exc, 'character', None)
    if isinstance(character, str):      # PyYAML gives a str or, for text, the code point
        character = ord(character)
    if isinstance(character, int):
        message = f'character U+{character:04X} is not allowed in YAML text'
    else:
        message = _one_line(exc)
    return Problem(source, _reader_line(text, exc), '', f'invalid YAML: {message}')


def _reader_line(text: str, exc) -> Optional[int]:
    position = getattr(exc, 'position', None)
    return text.count('\n', 0, position) + 1 if isinstance(position, int) else None


def _one_line(exc) -> str:
    return ' '.join(str(exc).split())


def _kind(value) -> str:
    if isinstance(value, list):
        return 'a list'
    if isinstance(value, str):
        return f'the text {value[:40]!r}'
    return f'the {type(value).__name__} {value!r}'


def _note_problems(data, source: str) -> List[Problem]:
    """Problems for the notes left on mappings while loading, each with its key path."""
    problems: List[Problem] = []
    seen = set()            # ids: an alias reuses one object; report it once

    def walk(value, path: str) -> None:
        if id(value) in seen:
            return
        if isinstance(value, YamlMap):
            seen.add(id(value))
            for key, line, message in value.notes:
                where = path if key is _UNNAMED else join_path(path, key)
                problems.append(Problem(source, line, where, message))
            for key, child in value.items():
                walk(child, join_path(path, key))
        elif isinstance(value, YamlList):
            seen.add(id(value))
            for index, child in enumerate(value):
                walk(child, f'{path}[{index}]')

    walk(data, '')
    return problems


def join_path(path: str, key) -> str:
    """`interfaces` + `vm1` -> `interfaces.vm1` (keys are shown as written in YAML)."""
    shown = 'null' if key is None else str(key).lower() if isinstance(key, bool) else str(key)
    return f'{path}.{shown}' if path else shown
