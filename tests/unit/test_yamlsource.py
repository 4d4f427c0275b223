"""YAML loading: 1.2-core scalars, line numbers, duplicate keys, syntax errors as Problems."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.topology import yamlsource
from controller.topology.yamlsource import YamlList, YamlMap, line_at, load_yaml
from lab.topogen import Spec, topology_text


def load(text):
    data, problems = load_yaml(text, 'f.yml')
    assert problems == [], [str(p) for p in problems]
    return data


def only_problem(text):
    data, problems = load_yaml(text, 'f.yml')
    assert len(problems) == 1, [str(p) for p in problems]
    return data, problems[0]


def test_a_mac_address_stays_a_string_instead_of_a_base_60_integer():
    assert load('mac: 52:54:00:12:34:56\n') == {'mac': '52:54:00:12:34:56'}


def test_other_sexagesimal_looking_values_stay_strings():
    assert load('a: 1:30\nb: 1:30.5\n') == {'a': '1:30', 'b': '1:30.5'}


def test_only_true_and_false_are_booleans():
    data = load('a: yes\nb: no\nc: on\nd: off\ne: true\nf: False\ng: y\n')
    assert data == {'a': 'yes', 'b': 'no', 'c': 'on', 'd': 'off', 'e': True, 'f': False, 'g': 'y'}


def test_integers_are_decimal_hex_or_octal_as_in_yaml_1_2():
    data = load('a: 0x1f\nb: 010\nc: 0o17\nd: -5\ne: 1_000\nf: 0b11\n')
    assert data == {'a': 31, 'b': 10, 'c': 15, 'd': -5, 'e': '1_000', 'f': '0b11'}


def test_floats_nulls_and_dates_follow_the_core_schema():
    data = load('a: 1.5\nb: .inf\nc: -.Inf\nd: ~\ne:\nf: null\ng: 2001-12-14\nh: 1e3\n')
    assert data['a'] == 1.5 and data['b'] == math.inf and data['c'] == -math.inf
    assert data['d'] is data['e'] is data['f'] is None
    assert data['g'] == '2001-12-14' and data['h'] == 1000.0


def test_ip_addresses_and_prefixes_stay_strings():
    assert load('a: 172.16.1.1\nb: 172.16.1.0/24\nc: 10.0\n') == {
        'a': '172.16.1.1', 'b': '172.16.1.0/24', 'c': 10.0}


def test_mappings_and_lists_know_their_lines():
    data = load('interfaces:\n  vm1:\n    ipv4: 1.2.3.4\n    l:\n      - a\n      - b\n')
    assert isinstance(data, YamlMap) and isinstance(data['interfaces']['vm1']['l'], YamlList)
    vm1 = data['interfaces']['vm1']
    assert vm1.key_line('ipv4') == 3 and vm1.value_line('ipv4') == 3
    assert data['interfaces'].key_line('vm1') == 2
    assert vm1['l'].lines == [5, 6]


def test_line_at_follows_a_key_path_and_stops_at_the_deepest_known_part():
    data = load('interfaces:\n  vm1:\n    ipv4: 1.2.3.4\n    l: [a,\n      b]\n')
    assert line_at(data, ['interfaces', 'vm1', 'ipv4']) == 3
    assert line_at(data, ['interfaces', 'vm1', 'l', 1]) == 5
    assert line_at(data, ['interfaces', 'vm1', 'nope']) == 3
    assert line_at(data, []) == 1


def test_loaded_data_compares_equal_to_plain_python():
    assert load('a: [1, {b: c}]\n') == {'a': [1, {'b': 'c'}]}


def test_a_duplicate_key_is_a_problem_at_the_second_occurrence():
    data, problem = only_problem('interfaces:\n  vm1:\n    mac: a\n    mac: b\n')
    assert (problem.line, problem.path) == (4, 'interfaces.vm1.mac')
    assert 'duplicate key (first at line 3)' in problem.message
    assert data['interfaces']['vm1']['mac'] == 'a'


def test_duplicate_top_level_keys_are_found_too():
    _, problem = only_problem('networks: {}\ndatapaths: {}\nnetworks: {}\n')
    assert (problem.line, problem.path) == (3, 'networks')


def test_a_syntax_error_is_a_problem_with_the_line_pyyaml_reports():
    data, problem = only_problem('a: 1\nb: c: d\n')
    assert data is None
    assert (problem.line, problem.path) == (2, '')
    assert problem.message == 'invalid YAML: mapping values are not allowed here'


def test_an_unclosed_bracket_names_where_it_was_opened():
    _, problem = only_problem('a: [1,\n  2\n')
    assert 'while parsing a flow sequence at line 1' in problem.message


def test_a_tab_in_the_indentation_gets_a_hint():
    _, problem = only_problem('a:\n\tb: 1\n')
    assert problem.line == 2 and 'not allow tabs' in problem.message


@pytest.mark.parametrize('text', ['- a\n- b\n', 'just text\n', '42\n'])
def test_a_top_level_that_is_not_a_mapping_is_a_problem(text):
    data, problem = only_problem(text)
    assert data is None and problem.line == 1
    assert 'the top level must be a mapping' in problem.message


@pytest.mark.parametrize('text', ['', '\n\n', '# only a comment\n', '---\n'])
def test_an_empty_document_is_an_empty_mapping(text):
    assert load(text) == {}


@pytest.mark.parametrize('text, fragment', [
    ('a: !foo x\n', "unsupported tag '!foo'"),
    ('a: !!timestamp 2001-01-01\n', 'unsupported tag'),
    ('a: !!set {x}\n', 'unsupported tag'),
    ('a: !!int abc\n', "'abc' is not an integer"),
    ('a: !!bool maybe\n', "'maybe' is not true or false"),
    ('a: !!float x\n', "'x' is not a number"),
    ('a: !!null [1]\n', 'expected a scalar'),
    ('a: !!map [1]\n', 'expected a mapping'),
    ('a: !!seq x\n', 'expected a sequence'),
    ('a: &x [*x]\n', 'alias refers to the anchor that contains it'),
    ('a: 1\n---\nb: 2\n', 'found another document'),
    ('a: \x07\n', 'U+0007 is not allowed'),
])
def test_unusual_yaml_becomes_a_problem_not_an_exception(text, fragment):
    data, problem = only_problem(text)
    assert data is None and fragment in problem.message


def test_absurdly_deep_nesting_is_a_problem_not_a_crash():
    data, problem = only_problem('[' * 600)
    assert data is None and 'nested too deeply' in problem.message


def test_a_list_as_a_key_is_a_problem():
    data, problem = only_problem('? [1, 2]\n: 3\nb: 4\n')
    assert data == {'b': 4} and problem.line == 1 and 'cannot be a key' in problem.message


def test_aliases_are_expanded_and_their_duplicates_reported_once():
    data, problem = only_problem('a: &x {k: 1, k: 2}\nb: *x\n')
    assert data['a'] is data['b'] and problem.path == 'a.k'


# -- the fast path (libyaml) reads exactly what the pure loader reads ----------------

needs_libyaml = pytest.mark.skipif(yamlsource._CParser is None, reason='PyYAML built without libyaml')


def pure_load(text):
    """load_yaml with the pure-Python loader only (as without libyaml)."""
    saved, yamlsource._CParser = yamlsource._CParser, None
    try:
        return load_yaml(text, 'f.yml')
    finally:
        yamlsource._CParser = saved


def shape(value):
    """Everything load_yaml returns about a value: types, values and every line."""
    if isinstance(value, YamlMap):
        return ('map', value.line, repr(value.notes),
                [(repr(key), value.key_line(key), value.value_line(key), shape(child))
                 for key, child in value.items()])
    if isinstance(value, YamlList):
        return ('list', value.line, value.lines, [shape(child) for child in value])
    return (type(value).__name__, repr(value))


def assert_same_as_pure(text):
    data, problems = load_yaml(text, 'f.yml')
    pure_data, pure_problems = pure_load(text)
    assert problems == pure_problems
    assert shape(data) == shape(pure_data)


def generated(vifs, per_network=10):
    """A generated topology (lab.topogen), its gateways' services written with a quoted
    scalar and a trailing comment so that the loaders meet those throughout a big file."""
    text = topology_text(Spec(vifs, per_network))
    return text.replace('services: [router]', 'services: ["router"]  # the gateway')


EDGE_CASES = [
    'a: 1\r\nb:\r\n  c: 2\r\n  d: [x, y]\r\n', 'a: 1\rb: 2\n', 'a: 1\x85b: 2\n', 'a: 1\u2028b: 2\n',
    'a: "x\r\n  y"\nb: 1\n', "a: 'x\n\n  y'\n", 'a: b\n  c\n', 'a: "b\n\n\n  c"\n', 'a:   \n  b\n',
    'a:\n  - [1, 2,\n     3]\n  - {x: 1,\n     y: 2}\n', 'a: [x,\n  ]\n', 'a: {x: 1,\n}\n', 'a: [\n]\n',
    'a: [x]   # c\nb: 1 #c\n', 'a: b\n...\n', '--- # c\na: 1\n...\n', 'a: 1\n---\nb: 2\n',
    '%YAML 1.1\n---\na: 1\n', '%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n',
    ('é' * 1000) + ': 1\n', ('a' * 1025) + ': 1\n', '? ' + 'a' * 2000 + '\n: 1\n', 'a\u00a0: \u00a0x\n',
    'a: \x7f\n', 'a: "\U0001F600\n  b"\n', 'a:\n- b\n-  c\n', '- a\n', '"a": 1\n\'b\': 2\n"": 3\n',
    'a: 1\na: 2\na:\n  x: 1\n  x: 2\n', '1: a\n1: b\n0x1: c\ntrue: d\nnull: e\n~: f\n1.0: g\n',
    '? [1]\n: a\n? {x: 1}\n: b\n', 'a: [a:b, a: b, {a}, {a: }, [a: ], a:]\n', 'a: [a:\n  ]\n',
    'a: {b:\n  }\n', 'a: [1?]\n', 'a: b?\n', 'a: |\n  x\n', 'a: >#\n  x\n', 'a: >-\n  x\n\n  y\n',
    'a:\tb\n', 'k: x\t\n', 'a: "\\\'"\n', 'a: "\\t\\x41\\u263A\\/"\n', 'a: "\\ud83d\\ude00"\n',
    'a: "\\ud800"\n', 'a: "x\\\n  y \\\n\n  z"\n', 'a: b\\c\n', '\ufeffa: 1\n', 'a: 1\n\ufeffb: 2\n',
    'a: 1\n\ufeff\nb: 2\n', 'a: [1,\n\ufeff2]\n',
    'a:', 'a: 1', '? a\n: ?', 'a: &x 1\nb: *x\n', 'a: !!str 1\nb: !!int "2"\n', 'a: ! 1\n',
    'a: 0x1f\nb: 010\nc: 0o17\nd: .inf\ne: -.NaN\nf: 1e3\ng: 1:30\nh: 52:54:00:12:34:56\ni: yes\n',
    '', '\n', '# c\n', '- x\n', 'text\n', 'a: [' * 40 + ']' * 40 + '\n', generated(25),
]


@pytest.mark.parametrize('text', EDGE_CASES)
def test_the_fast_loader_agrees_with_the_pure_loader(text):
    assert_same_as_pure(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab1:-[]{}!&*?|>#\'"\\., \n\r\t')), max_size=60))
def test_the_fast_loader_agrees_with_the_pure_loader_on_random_text(text):
    assert_same_as_pure(text)


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_fast_loader_agrees_with_the_pure_loader_on_edited_files(rnd, edits):
    lines = generated(4, per_network=2).splitlines()
    for _ in range(edits):
        index = rnd.randrange(len(lines))
        action = rnd.choice(['drop', 'copy', 'indent', 'char', 'value'])
        if action == 'drop':
            del lines[index]
        elif action == 'copy':
            lines.insert(rnd.randrange(len(lines)), lines[index])
        elif action == 'indent':
            lines[index] = ' ' * rnd.choice([1, 2, 4]) + lines[index]
        elif action == 'char':
            at = rnd.randrange(len(lines[index]) + 1)
            lines[index] = lines[index][:at] + rnd.choice(list('ab1:-[]{},?#&*!|>\'" \n')) + lines[index][at:]
        elif ':' in lines[index]:
            key = lines[index].split(':')[0]
            lines[index] = key + ': ' + rnd.choice(['', '[]', '{}', '~', '[a, ]', '{a: }', '[a,\n  b]',
                                                    '"x\n  y"', "'x'", '[a:b]', '{a: [b, c]}', '- x', 'x: y',
                                                    '0x1f'])
        if not lines:
            break
    assert_same_as_pure('\n'.join(lines) + '\n')


@needs_libyaml
def test_a_plain_topology_takes_the_fast_path():
    text = generated(25)
    data, noted = yamlsource._fast_load(text)
    assert noted is False and shape(data) == shape(pure_load(text)[0])


@needs_libyaml
@pytest.mark.parametrize('text', [
    'a:\tb\n', 'a: b', 'a: [b?]\n', 'a: [b:\n  ]\n', 'a: |\n  b\n', 'a: &x b\n', 'a: !!str b\n',
    'a: 1\n\ufeff\nb: 2\n', '---\na: 1\n---\nb: 1\n', 'a: ' + '[' * 40 + ']' * 40 + '\n', '- a\n',
    '%YAML 1.1\n---\na: 1\n',
])
def test_the_fast_path_leaves_what_it_might_read_differently_to_the_pure_loader(text):
    assert yamlsource._fast_load(text) is yamlsource._SLOW


def test_deeply_nested_closed_brackets_are_a_problem_not_a_crash():
    # libyaml's own composer recurses in C and would crash the process here.
    data, problem = only_problem('a: ' + '[' * 50000 + ']' * 50000 + '\n')
    assert data is None and 'nested too deeply' in problem.message


def test_duplicates_in_a_big_file_are_found_with_their_lines():
    text = generated(300).replace('  vm7:\n', '  vm7:\n    port: x\n')
    text += '  vm3:\n    mac: 52:54:00:00:00:03\n'
    data, problems = load_yaml(text, 'f.yml')
    first_vm7_port = text.splitlines().index('  vm7:') + 7     # line of its original port
    assert sorted((p.line, p.path) for p in problems) == [
        (first_vm7_port, 'interfaces.vm7.port'), (len(text.splitlines()) - 1, 'interfaces.vm3')]
    assert data['interfaces']['vm7']['port'] == 'x'
