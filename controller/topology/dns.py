"""The DNS keys of a network, and the rules that tie them to its dns interface.

    networks.NET.dns_upstream   [IPv4, ...]   where other names are forwarded
    networks.NET.dns_records    {name: IPv4 | [IPv4, ...]}   A records, relative to
                                domain_name (`www` is www.DOMAIN)

A simulated interface with the `dns` service answers NAME.DOMAIN for the
interfaces of its network (DOMAIN is the network's `domain_name`), these
records, and PTR for both.  The rules: at most one dns interface per
network; a network with one has a domain_name; dns_upstream and dns_records
need one; a record is not named like an interface of its network (that
name is the interface's already); an upstream is not the server itself.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from controller.topology.entries import Entry, Sections
from controller.topology.model import DNS
from controller.topology.values import Invalid, describe, parse_ipv4_address
from controller.topology.yamlsource import YamlList, YamlMap, join_path

MAX_UPSTREAMS = 4
_LABEL = re.compile(r'(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z')
ADD_ONE = 'add a simulated interface with services: [dns] to it'


def read_dns_keys(e: Entry) -> None:
    """dns_upstream and dns_records of one network entry, into e.values."""
    upstream = e.optional_list('dns_upstream', parse_ipv4_address, distinct=True)
    if upstream is not None and len(upstream) > MAX_UPSTREAMS:
        e.problem('dns_upstream', f'{len(upstream)} servers; at most {MAX_UPSTREAMS} '
                                  '(each is asked in turn until one answers)')
    e.values['dns_records'] = _read_records(e)


def _read_records(e: Entry) -> Optional[Tuple[Tuple[str, Tuple], ...]]:
    raw = e.data.get('dns_records')
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        e.problem('dns_records', f'expected a mapping of names to IPv4 addresses '
                                 f'(www: 172.16.1.80); found {describe(raw)}')
        return None
    records: List[Tuple[str, Tuple]] = []
    seen: Dict[str, str] = {}
    ok = True
    for name, value in raw.items():
        path = join_path(e.path_of('dns_records'), name)
        line = raw.key_line(name) if isinstance(raw, YamlMap) else e.line_of('dns_records')
        try:
            key = parse_record_name(name)
            addresses = _record_addresses(value)
        except Invalid as exc:
            e.report.add(path, line, str(exc))
            ok = False
            continue
        if key in seen:
            e.report.add(path, line, f'{name} is record {seen[key]} already (names are not '
                                     'case-sensitive); list both addresses under one name')
            ok = False
            continue
        seen[key] = str(name)
        records.append((key, addresses))
    return tuple(records) if ok else None


def parse_record_name(value) -> str:
    """A name relative to the network's domain, lower-cased: www, api.v2."""
    if not isinstance(value, str):
        raise Invalid(f'a record name is a string like www; found {describe(value)}')
    labels = value.split('.')
    if len(value) > 200 or not all(_LABEL.match(label) for label in labels):
        raise Invalid(f'{value!r} is not a record name: dot-separated labels of letters, digits, '
                      '"_" and "-", relative to the network\'s domain_name (www, not '
                      'www.example.internal.)')
    return value.lower()


def _record_addresses(value) -> Tuple:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise Invalid('expected an IPv4 address or a list of them; found an empty list')
    found = []
    for item in items:
        address = parse_ipv4_address(item)
        if address in found:
            raise Invalid(f'{address} is listed twice')
        found.append(address)
    return tuple(found)


# -- rules across entries --------------------------------------------------------

def check_dns(s: Sections) -> None:
    servers = _dns_servers(s)
    for name, e in s.networks.items():
        server = servers.get(name)
        if server is None:
            for key in ('dns_upstream', 'dns_records'):
                if e.values.get(key):
                    e.problem(key, f'network {name} has no dns interface to serve it; {ADD_ONE}, '
                                   f'or remove {key}')
            continue
        if e.values.get('domain_name') is None and 'domain_name' not in _unreadable(e):
            e.report.add(e.path_of('domain_name'), e.line,
                         f'missing: interface {server} gives network {name} the dns service, which '
                         f'answers NAME.DOMAIN for its interfaces; add domain_name: {name}.internal, '
                         'say')
        _check_upstreams(s, e, server)
        _check_record_names(s, e, name)


def _unreadable(e: Entry) -> set:
    """Keys present in the file whose value did not parse (already reported)."""
    return {k for k in e.data if k not in e.values}


def _dns_servers(s: Sections) -> Dict[str, str]:
    """network -> its dns interface; a second one is reported."""
    found: Dict[str, str] = {}
    for name, e in s.interfaces.items():
        network = e.values.get('network')
        if network is None or DNS not in (e.values.get('services') or ()):
            continue
        if network in found:
            e.problem('services', f'network {network} already has a dns interface, '
                                  f'{found[network]}; at most one per network')
            continue
        found[network] = name
    return found


def _check_upstreams(s: Sections, e: Entry, server: str) -> None:
    own = s.interfaces[server].values.get('ipv4')
    for index, address in enumerate(e.values.get('dns_upstream') or ()):
        if address == own:
            raw = e.data.get('dns_upstream')
            line = raw.item_line(index) if isinstance(raw, YamlList) else e.line_of('dns_upstream')
            e.report.add(f'{e.path_of("dns_upstream")}[{index}]', line,
                         f'{address} is the dns interface {server} itself; an upstream is another '
                         'server, which answers the names outside the domain')


def _check_record_names(s: Sections, e: Entry, network: str) -> None:
    taken = {n.lower(): n for n, i in s.interfaces.items() if i.values.get('network') == network}
    raw = e.data.get('dns_records') or {}
    for key, _ in e.values.get('dns_records') or ():
        if key in taken:
            original = next((k for k in raw if isinstance(k, str) and k.lower() == key), key)
            line = raw.key_line(original) if isinstance(raw, YamlMap) else e.line_of('dns_records')
            e.report.add(join_path(e.path_of('dns_records'), original), line,
                         f'{taken[key]} is an interface of network {network}, which the dns '
                         f'service answers as {key}.DOMAIN already; name the record otherwise')


def touches_dns(topology, removed: Dict[str, Entry], added: Dict[str, Entry]) -> bool:
    """Whether an interface edit can break a dns rule (one server per network,
    its domain_name, record names): the incremental revalidator then reads
    the whole file.  Entries re-read unchanged do not count."""
    changed = [e for name, e in removed.items() if name not in added or added[name].values != e.values]
    changed += [e for name, e in added.items() if name not in removed or removed[name].values != e.values]
    for e in changed:
        v = e.values
        if DNS in (v.get('services') or ()):
            return True
        net = topology.networks.get(v.get('network'))
        if net is not None and net.dns_records:
            return True
    return False
