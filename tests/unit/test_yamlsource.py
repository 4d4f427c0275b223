"""YAML loading: 1.2-core scalars, line numbers, duplicate keys, syntax errors as Problems."""
import math

import pytest

from controller.yamlsource import YamlList, YamlMap, line_at, load_yaml


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
