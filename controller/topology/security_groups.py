"""Security groups: the `security_groups:` section, read and checked.

    security_groups:
      web:
        ingress:                       # default: none (nothing comes in unasked)
          - {proto: tcp, ports: 80, from: 0.0.0.0/0}
          - {proto: tcp, ports: 8000-8100, from_group: app}
          - {proto: icmp, from: 10.0.0.0/8}
        egress: all                    # the default; or none, or a list (to, to_group)
    interfaces:
      vm1: {..., security_groups: [web]}

A rule allows IPv4 of `proto` (tcp, udp, icmp, or any: the default) to the
destination `ports` (a number or a range lo-hi; tcp and udp only) from a
prefix (`from`) or from the members of a group (`from_group`: follows
membership); egress rules say `to` / `to_group`.  Neither: from/to anywhere.
Rules are additive over an interface's groups, and stateful: replies pass.
Only vif interfaces take groups; one without groups keeps today's pipeline.

Each rule gets a 32-bit `tag` from its group, direction and content, never
from its position, so editing one rule leaves the others' tags (and the
connections they allowed) alone; the pipeline (controller.pipeline.acl)
stores the tag in conntrack and so cuts the connections of a removed rule.
"""
from __future__ import annotations

import hashlib
import ipaddress
import zlib
from typing import Dict, Iterable, List, Optional, Tuple

from controller.topology.entries import Entry, Sections
from controller.topology.model import VIF, SecurityGroup, SgRule, Topology
from controller.topology.values import Invalid, _wrong, choice, expects, known_names_hint, prefix, reference

GROUP_KEYS = ('ingress', 'egress')
RULE_KEYS = {'ingress': ('proto', 'ports', 'from', 'from_group'),
             'egress': ('proto', 'ports', 'to', 'to_group')}
REMOTE = {'ingress': ('from', 'from_group'), 'egress': ('to', 'to_group')}
DEFAULT = {'ingress': 'none', 'egress': 'all'}
PROTOCOLS = {'any': None, 'icmp': 1, 'tcp': 6, 'udp': 17}
PROTO = choice(*PROTOCOLS)
GROUP_NAME = reference('security group')
REMOTE_PREFIX = prefix()
ZONE_MIN, ZONE_MAX = 1, 0x7fff          # SG's conntrack zones (NAT has 0x8000-0xffff)


@expects('a port like 80 or a range like 8000-8100 (1 to 65535)')
def parse_ports(value) -> Tuple[int, int]:
    if isinstance(value, bool):
        raise _wrong(parse_ports, value)
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and value.count('-') == 1 and all(
            part.strip().isdigit() for part in value.split('-')):
        low, high = (int(part) for part in value.split('-'))
    else:
        raise _wrong(parse_ports, value)
    if not 1 <= low <= 65535 or not 1 <= high <= 65535:
        raise Invalid(f'{value} is not a port from 1 to 65535')
    if low > high:
        raise Invalid(f'the range {value} runs backwards; did you mean {high}-{low}?')
    return low, high


# -- reading ----------------------------------------------------------------------

def read_security_groups(s: Sections) -> None:
    for entry in s.security_groups.values():
        for direction in GROUP_KEYS:
            entry.values[direction] = _read_rules(entry, direction)


def _read_rules(group: Entry, direction: str):
    """'all', 'none' or a list of rule Entries (None when unreadable)."""
    raw = group.data.get(direction)
    if raw is None:
        return DEFAULT[direction]
    if raw in ('all', 'none'):
        return raw
    if isinstance(raw, str):
        group.problem(direction, f'{raw!r} is not a list of rules; write all, none or a list '
                                 f'like - {{proto: tcp, ports: 80, {REMOTE[direction][0]}: 0.0.0.0/0}}')
        return None
    rules = group.entries(direction, RULE_KEYS[direction], 'rules (proto, ports, '
                          + ', '.join(REMOTE[direction]) + ')')
    for rule in rules or ():
        proto = rule.optional('proto', PROTO, 'any')
        if rule.present('ports'):
            if proto in ('tcp', 'udp'):
                rule.optional('ports', parse_ports)
            elif proto is not None:
                rule.problem('ports', f'ports need proto tcp or udp, and this rule is {proto}')
        cidr, group_key = REMOTE[direction]
        if rule.present(cidr) and rule.present(group_key):
            rule.problem(group_key, f'a rule takes {cidr} or {group_key}, not both; '
                                    'write two rules for both')
        rule.optional(cidr, REMOTE_PREFIX)
        rule.optional(group_key, GROUP_NAME)
    return rules


def read_interface_groups(e: Entry, mode: Optional[str]) -> None:
    """The `security_groups` list of an interface (vif only)."""
    if mode in (VIF, None):
        e.optional_list('security_groups', GROUP_NAME, distinct=True)
    else:
        e.forbid('security_groups', f'security groups filter vif ports, and this interface is {mode}')


# -- rules across entries ---------------------------------------------------------

def check_security_groups(s: Sections) -> None:
    """Every group an interface names, and every from_group/to_group, exists."""
    groups = s.security_groups
    for e in s.interfaces.values():
        for name in e.values.get('security_groups') or ():
            if name not in groups:
                e.problem('security_groups', f'security group {name} is not defined'
                                             f'{known_names_hint(name, groups, "security group")}')
    for entry in groups.values():
        for direction in GROUP_KEYS:
            rules = entry.values.get(direction)
            for rule in rules if isinstance(rules, list) else ():
                key = REMOTE[direction][1]
                other = rule.values.get(key)
                if other is not None and other not in groups:
                    rule.problem(key, f'security group {other} is not defined'
                                      f'{known_names_hint(other, groups, "security group")}')


def touches_groups(entries: Iterable[Entry]) -> bool:
    """Whether any of these interface entries is (or was) in a security group:
    the incremental revalidator then validates the whole file."""
    return any(e.values.get('security_groups') for e in entries)


# -- the model ----------------------------------------------------------------------

def build_security_groups(s: Sections) -> Dict[str, SecurityGroup]:
    return {name: SecurityGroup(name, _build_rules(name, 'ingress', e.values['ingress']),
                                _build_rules(name, 'egress', e.values['egress']))
            for name, e in s.security_groups.items()}


def _build_rules(group: str, direction: str, rules) -> Tuple[SgRule, ...]:
    if rules == 'none':
        return ()
    if rules == 'all':
        return (make_rule(group, direction),)
    cidr, group_key = REMOTE[direction]
    made: List[SgRule] = []
    for r in rules:
        v = r.values
        low, high = v.get('ports') or (None, None)
        made.append(make_rule(group, direction, PROTOCOLS[v['proto']], low, high, v.get(cidr),
                              v.get(group_key)))
    return tuple(dict.fromkeys(made))                   # a rule written twice is one rule


def make_rule(group: str, direction: str, proto: Optional[int] = None, port_min: Optional[int] = None,
              port_max: Optional[int] = None, cidr: Optional[ipaddress.IPv4Network] = None,
              remote_group: Optional[str] = None) -> SgRule:
    """A rule with its tag: a hash of where it is and what it says, never 0
    (0 is conntrack's 'no rule yet')."""
    if cidr is not None and cidr.prefixlen == 0:
        cidr = None                                     # 0.0.0.0/0: anywhere, as if unsaid
    text = repr((group, direction, proto, port_min, port_max, str(cidr), remote_group))
    tag = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), 'big') or 1
    return SgRule(direction, proto, port_min, port_max, cidr, remote_group, tag)


def sg_zones(topology: Topology) -> Dict[str, int]:
    """The conntrack zone of each network with interfaces in groups: from
    the network's name (crc32 into 1..0x7fff), so other edits leave it be;
    on a collision the later name (sorted) probes upwards, as VNIs do."""
    networks = sorted({i.network for g in topology.security_groups for i in topology.members_of(g)})
    used: Dict[int, str] = {}
    zones = {}
    span = ZONE_MAX - ZONE_MIN + 1
    for name in networks:
        zone = zlib.crc32(name.encode('utf-8')) % span + ZONE_MIN
        while zone in used:
            zone = zone % ZONE_MAX + ZONE_MIN
        used[zone] = name
        zones[name] = zone
    return zones

