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

Speed: a 10,000-interface topology is ~60,000 lines, re-read on every edit.
When libyaml is available `load_yaml` reads a file first with the fast loader
of `controller.topology.yamlfast` (libyaml's event stream, the same
resolution), which also holds `YamlMap`, `YamlList` and the core schema's
tables; whatever it does not read exactly as the pure `Loader` below would
(and every error) is read again by that Loader.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, List, NoReturn, Optional, Sequence, Tuple, Union

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, SequenceNode

from controller.topology.errors import Problem
from controller.topology.yamlfast import (
    _BOOL,
    _FLOAT,
    _IMPLICIT_RESOLVERS,
    _INT,
    _SLOW,
    _TAG,
    _UNNAMED,
    YamlList,
    YamlMap,
    _add,
    _bool_value,
    _CParser,
    _fast_load,
    _float_value,
    _int_value,
)


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

class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core implicit types, line tracking and duplicate detection."""

    # Fresh tables (not copies of SafeLoader's): only what is declared here exists.
    # The implicit types are yamlfast's, the very table its fast path resolves with.
    yaml_implicit_resolvers = _IMPLICIT_RESOLVERS
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
            _add(result, key, value, _line(key_node), _line(value_node))
        if result.notes:
            self.noted = True
        return result

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
