"""The incremental revalidator gives exactly what full validation gives.

Random edit sequences (interfaces added, removed and changed, collisions,
bad references, broken YAML, comments anywhere, edits in other sections)
go through a Revalidator and through validate_text; the topology, or every
problem, must be the same.  Separately: a one-interface edit takes the fast
path and keeps the other interfaces' objects.
"""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.topology import TopologyError, validate_text
from controller.topology.incremental import Revalidator

HEAD = """# a test topology
datapaths:
  br0:
    dpid: 0x10
    tunnel_ip: 198.18.0.1
  br1:
    dpid: 0x11

networks:
  net1:
    ipv4: 172.16.1.0/24
  net2:
    ipv4: 172.16.2.0/24
  lan:
    ipv4: 10.0.0.0/24
    mode: physical

interfaces:
"""
GATEWAYS = """  net1-gw:
    network: net1
    mode: simulated
    mac: 52:54:00:74:01:fe
    ipv4: 172.16.1.254
    services: [router, dhcp]
  net2-gw:
    network: net2
    mode: simulated
    mac: 52:54:00:74:02:fe
    ipv4: 172.16.2.254
    services: [router]
"""
TAIL = """
# routing between the two
route_links:
  rl1:
    routes:
      - {interface: net1-gw}
      - {interface: net2-gw}
"""


def vif(k: int, network: str = 'net1', datapath: str = 'br0', mac: int = -1, ip: int = -1,
        port: str = '') -> str:
    net = {'net1': '172.16.1', 'net2': '172.16.2', 'lan': '10.0.0', 'nope': '1.2.3'}[network]
    mode = '    mode: host\n' if network == 'lan' else ''
    return (f'  vm{k}:\n    network: {network}\n{mode}    mac: 52:54:00:00:00:{(mac if mac >= 0 else k) % 256:02x}\n'
            f'    ipv4: {net}.{(ip if ip >= 0 else k) % 250 + 1}\n    datapath: {datapath}\n'
            f'    port: {port or f"p{k}"}\n')


def base_entries(n: int = 12):
    return [vif(k, 'net1' if k % 2 else 'net2') for k in range(n)]


def render(entries, head=HEAD, tail=TAIL, gateways=GATEWAYS) -> str:
    return head + ''.join(entries) + gateways + tail


def outcome(fn, text):
    try:
        return 'ok', fn(text)
    except TopologyError as err:
        return 'error', str(err)


# One random edit of the entries (or of the text around them).
EDITS = ('add', 'add', 'remove', 'change', 'collide', 'comment', 'blank', 'other_section',
         'break', 'unknown_network', 'tunnel', 'duplicate_name', 'remove_gateway', 'host')


def edit(rng: random.Random, entries: list, parts: dict, k: int) -> None:
    kind = rng.choice(EDITS)
    at = rng.randrange(len(entries) + 1)
    if kind == 'add':
        entries.insert(at, vif(100 + k, rng.choice(['net1', 'net2'])))
    elif kind == 'remove' and entries:
        entries.pop(min(at, len(entries) - 1))
    elif kind == 'change' and entries:
        i = min(at, len(entries) - 1)
        entries[i] = entries[i].replace('    port: p', '    port: q', 1)
    elif kind == 'collide':
        entries.insert(at, vif(200 + k, 'net1', mac=rng.randrange(12), ip=rng.randrange(12),
                               port=f'p{rng.randrange(12)}'))
    elif kind == 'comment':
        where = rng.choice(['head', 'entries', 'tail'])
        if where == 'entries':
            entries.insert(at, f'  # note {k}\n')
        else:
            parts[where] = parts[where].replace('\n', f'\n# note {k}\n', 1)
    elif kind == 'blank':
        entries.insert(at, '\n')
    elif kind == 'other_section':
        parts['head'] = parts['head'].replace('10.0.0.0/24', rng.choice(['10.0.0.0/24', '10.0.1.0/24']))
    elif kind == 'break':
        entries.insert(at, '   vmx:\n  network: net1\n')
    elif kind == 'unknown_network':
        entries.insert(at, vif(300 + k, 'nope'))
    elif kind == 'tunnel':
        entries.insert(at, vif(400 + k, 'net1', datapath='br1'))
    elif kind == 'duplicate_name' and entries:
        entries.insert(at, entries[rng.randrange(len(entries))])
    elif kind == 'remove_gateway':
        parts['gateways'] = rng.choice([GATEWAYS, GATEWAYS.split('  net2-gw:')[0]])
    elif kind == 'host':
        entries.insert(at, vif(500 + k, 'lan'))


def replay(seed: int, steps: int = 16) -> Revalidator:
    """Random edits from one seed, each checked against full validation."""
    rng = random.Random(seed)
    entries = base_entries()
    parts = {'head': HEAD, 'tail': TAIL, 'gateways': GATEWAYS}
    good = (list(entries), dict(parts))
    revalidator = Revalidator('t.yml')
    for k in range(steps):
        text = render(entries, parts['head'], parts['tail'], parts['gateways'])
        expected = outcome(lambda t: validate_text(t, 't.yml'), text)
        assert outcome(revalidator.load, text) == expected, text
        if expected[0] == 'error':      # an editor fixes a bad save: back to the last good one
            entries, parts = list(good[0]), dict(good[1])
        else:
            good = (list(entries), dict(parts))
        edit(rng, entries, parts, k)
    return revalidator


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_every_edit_sequence_validates_exactly_as_full_validation_does(seed):
    replay(seed)


def test_most_random_edits_take_the_fast_path():
    fast = sum(replay(seed).fast_loads for seed in range(40))
    assert fast > 40 * 16 // 4, fast


def test_adding_one_interface_reads_only_that_entry_and_keeps_the_other_objects():
    revalidator = Revalidator('t.yml')
    before = revalidator.load(render(base_entries()))
    after = revalidator.load(render(base_entries() + [vif(50)]))
    assert revalidator.fast_loads == 1
    assert revalidator.changed == frozenset({'vm50'})
    assert after == validate_text(render(base_entries() + [vif(50)]), 't.yml')
    assert all(after.interfaces[n] is before.interfaces[n] for n in before.interfaces)


def test_a_comment_edited_outside_the_section_with_an_interface_change_stays_on_the_fast_path():
    revalidator = Revalidator('t.yml')
    revalidator.load(render(base_entries()))
    entries = base_entries()
    entries[3] = vif(3, 'net2')
    text = render(entries, head=HEAD.replace('# a test topology', '# edited\n# twice'),
                  tail=TAIL.replace('# routing', '\n# routing'))
    assert revalidator.load(text) == validate_text(text, 't.yml')
    assert revalidator.fast_loads == 1 and revalidator.changed == frozenset({'vm3'})


@pytest.mark.parametrize('entry, message', [
    (vif(60, mac=1, ip=60), 'is already the MAC of interface vm1'),
    (vif(61, port='p4'), 'port p4 on datapath br0 is already interface vm4'),
    (vif(62, 'nope'), 'network nope is not defined'),
])
def test_a_bad_interface_edit_gets_full_validations_message(entry, message):
    revalidator = Revalidator('t.yml')
    revalidator.load(render(base_entries()))
    with pytest.raises(TopologyError) as err:
        revalidator.load(render(base_entries() + [entry]))
    assert message in str(err.value)
    assert str(err.value) == outcome(lambda t: validate_text(t, 't.yml'),
                                     render(base_entries() + [entry]))[1]


def test_removing_an_interface_a_route_link_names_is_refused_with_full_validations_message():
    revalidator = Revalidator('t.yml')
    revalidator.load(render(base_entries()))
    with pytest.raises(TopologyError, match='interface net2-gw is not defined'):
        revalidator.load(render(base_entries(), gateways=GATEWAYS.split('  net2-gw:')[0]))


def test_an_unchanged_text_is_no_change():
    revalidator = Revalidator('t.yml')
    first = revalidator.load(render(base_entries()))
    assert revalidator.load(render(base_entries())) is first
    assert revalidator.changed == frozenset()
