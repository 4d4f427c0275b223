"""Topology file v1 -> `Topology`, or `TopologyError` with every problem at once.

    load_topology(path)               the file on disk (read_text + validate_text)
    validate_text(text, source_name)  the same for text in hand (tests, reloads)
    validate_parts(text, source_name) the same, with the YAML and entries it read
    default_vni(name)                 the VNI a network gets when it names none

Layers: yamlsource (YAML with lines, duplicate keys) -> validate_entry (one
mapping key by key) with validate_values (single values) -> validate_rules
(rules across entries) -> here: the immutable model, built only when the file
has no problem at all.  Nothing but TopologyError ever escapes.
"""
from __future__ import annotations

import zlib
from typing import Any, Dict, Iterable, Mapping, Tuple

from controller.topology.entries import Report
from controller.topology.errors import Problem, TopologyError
from controller.topology.model import Datapath, Interface, Network, Route, RouteLink, Topology
from controller.topology.nat import build_nat
from controller.topology.rules import Sections, read_sections
from controller.topology.security_groups import build_security_groups
from controller.topology.values import VNI_MAX
from controller.topology.yamlsource import load_yaml

MAX_FILE_BYTES = 16 << 20    # 10,000 interfaces take about 1 MB


def load_topology(path: str) -> Topology:
    """Read and validate the topology file at `path`."""
    return validate_text(read_text(path), str(path))


def read_text(path: str) -> str:
    """The file's text, or TopologyError (unreadable, too large, not UTF-8)."""
    try:
        with open(path, 'rb') as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise TopologyError([Problem(str(path), None, '', f'the file is larger than '
                                         f'{MAX_FILE_BYTES >> 20} MiB, the limit (10,000 interfaces take '
                                         'about 1 MiB); is it the right file?')])
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TopologyError([Problem(str(path), None, '', f'cannot read the file: {reason}')]) from None
    try:
        return raw.decode('utf-8-sig')     # tolerate a byte-order mark
    except UnicodeDecodeError as exc:
        line = raw.count(b'\n', 0, exc.start) + 1
        raise TopologyError([Problem(str(path), line, '',
                                     'not UTF-8 text (byte {:#04x})'.format(raw[exc.start]))]) from None


validate_file = load_topology     # the name vnetctl and the tests know it by


# A save caught before its first line, or an emptied file, must not remove
# every flow; an operator who means it says so with an explicit section.
EMPTY_FILE = ('the file is empty (or only comments): applying it would remove every flow of every '
              'datapath. If you mean that, write it out: datapaths: {}')


def validate_text(text: str, source_name: str = '<text>') -> Topology:
    """Validate topology text; `source_name` is the file name shown in problems."""
    return validate_parts(text, source_name)[0]


def validate_parts(text: str, source_name: str) -> Tuple[Topology, Any, Sections]:
    """validate_text, also returning what it read on the way (the YAML with
    its lines, and every entry): the incremental revalidator starts from them."""
    data, problems = load_yaml(text, source_name)
    if data is None:
        raise TopologyError(problems)
    if not data and not problems:
        raise TopologyError([Problem(source_name, None, '', EMPTY_FILE)])
    report = Report(source_name, problems)
    sections = read_sections(report, data)
    if report.problems:
        raise TopologyError(report.problems)
    return build_topology(source_name, sections), data, sections


# -- VNIs -----------------------------------------------------------------------

def default_vni(name: str) -> int:
    """The preferred VNI of a network that names none: from its name alone.

    crc32(name) mod (2**24 - 2) + 1, i.e. 1 .. 16777214.  Depending on nothing
    but the name keeps it stable when other networks are added or removed.
    """
    return zlib.crc32(name.encode('utf-8')) % (VNI_MAX - 1) + 1


def assign_vnis(explicit: Mapping[str, int], implicit: Iterable[str]) -> Dict[str, int]:
    """VNIs for the networks in `implicit` (those without one), avoiding all others.

    Explicit VNIs always win.  Networks without one take `default_vni(name)` in
    sorted name order; on a collision (with an explicit VNI or an earlier
    default) they probe upwards, 16777215 wrapping to 1.  So a default only
    moves if a colliding name is added (about 1 in 8 million per pair); set
    `vni` explicitly where stability must be guaranteed.
    """
    used = set(explicit.values())
    assigned = {}
    for name in sorted(implicit):
        vni = default_vni(name)
        while vni in used:
            vni = vni % VNI_MAX + 1
        used.add(vni)
        assigned[name] = vni
    return assigned


# -- the model --------------------------------------------------------------------

def build_topology(source: str, s: Sections) -> Topology:
    """The model of a file that passed every rule (so every value is present)."""
    explicit = {name: e.values['vni'] for name, e in s.networks.items() if e.values['vni']}
    vnis = {**explicit, **assign_vnis(explicit, (n for n in s.networks if n not in explicit))}
    return Topology(
        source=source,
        datapaths={name: Datapath(name, e.values['dpid'], e.values['tunnel_ip'],
                                  e.values['tunnel_port'])
                   for name, e in s.datapaths.items()},
        networks={name: Network(name, v['ipv4'], v['mode'], vnis[name], v['dns_servers'],
                                v['domain_name'], v['lease_time'], v['mtu'], v['dns_upstream'],
                                v['dns_records'])
                  for name, v in ((n, e.values) for n, e in s.networks.items())},
        interfaces={name: build_interface(name, e.values) for name, e in s.interfaces.items()},
        route_links={name: RouteLink(name, tuple(_route(s, r.values) for r in s.routes[name]),
                                     tuple(build_nat(r.values) for r in s.nat.get(name, ())))
                     for name in s.route_links},
        security_groups=build_security_groups(s))


def build_interface(name: str, v: Mapping) -> Interface:
    return Interface(name, v['network'], v['mac'], v['ipv4'], v['mode'], v.get('datapath'),
                     v.get('port'), v.get('services', ()), v.get('security_groups') or ())


def _route(s: Sections, values: dict) -> Route:
    interface = s.interfaces[values['interface']].values
    network = s.networks[interface['network']].values
    return Route(values['interface'], values['ipv4'] or network['ipv4'], values['gateway'])
