"""The rules of topology file v1, section by section.

`read_sections` parses every entry (each key on its own), then runs the
cross-entry rules: references exist, uniqueness, addresses inside networks,
services per network, route-link consistency.  A duplicate is reported on the
later entry in file order and names the earlier one.  Rules only look at values
that parsed (`entry.values.get`), so one mistake does not cascade.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, Hashable, List, Optional, TypeVar

from controller.topology.dns import check_dns, read_dns_keys
from controller.topology.entries import Entry, Report, Sections
from controller.topology.model import DHCP, DNS, HOST, PHYSICAL, ROUTER, SIMULATED, VIF, VIRTUAL
from controller.topology.nat import check_nat, read_nat
from controller.topology.security_groups import (
    GROUP_KEYS,
    check_security_groups,
    read_interface_groups,
    read_security_groups,
)
from controller.topology.spans import check_tunnels
from controller.topology.values import (
    LEASE_MAX,
    LEASE_MIN,
    MTU_MAX,
    MTU_MIN,
    NETWORK_MAX_PREFIXLEN,
    VNI_MAX,
    choice,
    integer,
    known_names_hint,
    parse_domain_name,
    parse_dpid,
    parse_ipv4_address,
    parse_mac,
    parse_port,
    prefix,
    reference,
)

T = TypeVar('T')
TOP_KEYS = ('datapaths', 'networks', 'interfaces', 'route_links', 'security_groups')
DATAPATH_KEYS = ('dpid', 'tunnel_ip', 'tunnel_port')
NETWORK_KEYS = ('ipv4', 'mode', 'vni', 'dns_servers', 'domain_name', 'lease_time', 'mtu',
                'dns_upstream', 'dns_records')
INTERFACE_KEYS = ('network', 'mac', 'ipv4', 'mode', 'datapath', 'port', 'services',
                  'security_groups')
ROUTE_LINK_KEYS = ('routes', 'mac', 'nat')
ROUTE_KEYS = ('interface', 'ipv4', 'gateway')
DEFAULT_LEASE_TIME = 86400
DEFAULT_TUNNEL_PORT = 'vxlan0'
DEFAULT_MTU = 1450               # 1500 - VXLAN's 50 bytes of headers

# The parsers, made once (not once per entry: a topology has thousands).
NETWORK_PREFIX = prefix(NETWORK_MAX_PREFIXLEN)
NETWORK_MODE = choice(VIRTUAL, PHYSICAL)
VNI = integer(1, VNI_MAX, 'a VXLAN network identifier')
LEASE_TIME = integer(LEASE_MIN, LEASE_MAX, 'a number of seconds')
MTU = integer(MTU_MIN, MTU_MAX, 'an MTU in bytes')
NETWORK_NAME = reference('network')
DATAPATH_NAME = reference('datapath')
INTERFACE_NAME = reference('interface')
INTERFACE_MODE = choice(VIF, SIMULATED, HOST)
SERVICE = choice(DHCP, ROUTER, DNS)
ROUTE_PREFIX = prefix()


def read_sections(report: Report, data) -> Sections:
    top = Entry(report, '', 1, data, TOP_KEYS)
    s = Sections(
        datapaths=top.named_entries('datapaths', DATAPATH_KEYS, 'datapaths'),
        networks=top.named_entries('networks', NETWORK_KEYS, 'networks'),
        interfaces=top.named_entries('interfaces', INTERFACE_KEYS, 'interfaces'),
        route_links=top.named_entries('route_links', ROUTE_LINK_KEYS, 'route links'),
        security_groups=top.named_entries('security_groups', GROUP_KEYS, 'security groups'))
    read_security_groups(s)
    for entry in s.datapaths.values():
        read_datapath(entry)
    for entry in s.networks.values():
        read_network(entry)
    for entry in s.interfaces.values():
        read_interface(entry)
    for name, entry in s.route_links.items():
        routes = read_route_link(entry)
        if routes is not None:
            s.routes[name] = routes
        nat_rules = read_nat(entry)
        if nat_rules:
            s.nat[name] = nat_rules
    check_datapaths(s)
    check_networks(s)
    check_interfaces(s)
    check_route_links(s)
    check_nat(s)
    check_tunnels(s)
    check_dns(s)
    check_security_groups(s)
    return s


def claim(owners: Dict[Any, T], slot: Hashable, name: T) -> Optional[T]:
    """Give `slot` to `name`; return its earlier owner if it already had one."""
    if slot in owners:
        return owners[slot]
    owners[slot] = name
    return None


# -- reading each entry ---------------------------------------------------------

def read_datapath(e: Entry) -> None:
    e.required('dpid', parse_dpid)
    e.optional('tunnel_ip', parse_ipv4_address)
    e.optional('tunnel_port', parse_port, DEFAULT_TUNNEL_PORT)


def read_network(e: Entry) -> None:
    e.required('ipv4', NETWORK_PREFIX)
    e.optional('mode', NETWORK_MODE, VIRTUAL)
    e.optional('vni', VNI)
    e.optional_list('dns_servers', parse_ipv4_address)
    e.optional('domain_name', parse_domain_name)
    e.optional('lease_time', LEASE_TIME, DEFAULT_LEASE_TIME)
    e.optional('mtu', MTU, DEFAULT_MTU)
    read_dns_keys(e)


def read_interface(e: Entry) -> None:
    e.required('network', NETWORK_NAME)
    e.required('mac', parse_mac)
    mode = e.optional('mode', INTERFACE_MODE, VIF)
    read_interface_groups(e, mode)
    if mode == SIMULATED:
        e.required('ipv4', parse_ipv4_address)
        why = 'a simulated interface has no {}: the controller answers for it'
        e.forbid('datapath', why.format('datapath'))
        e.forbid('port', why.format('port'))
        e.optional_list('services', SERVICE, distinct=True)
        return
    e.optional('ipv4', parse_ipv4_address)
    if mode is None:        # unreadable mode: check what does not depend on it
        e.optional('datapath', DATAPATH_NAME)
        e.optional('port', parse_port)
        e.optional_list('services', SERVICE, distinct=True)
        return
    e.required('datapath', DATAPATH_NAME)
    e.required('port', parse_port)
    e.forbid('services', f'services are for simulated interfaces only, and this one is {mode}')


def read_route_link(e: Entry) -> Optional[List[Entry]]:
    e.forbid('mac', "a route link has no MAC of its own here (OpenVNet's route link MAC): each "
                    "datapath routes with the router interfaces' own MACs")
    routes = e.entries('routes', ROUTE_KEYS, 'routes, each with an interface')
    if routes is None:
        return None
    if len(routes) < 2:
        e.problem('routes', f'a route link joins networks, so it needs at least two routes; '
                            f'found {len(routes)}')
    for route in routes:
        route.required('interface', INTERFACE_NAME)
        route.optional('ipv4', ROUTE_PREFIX)
        route.optional('gateway', parse_ipv4_address)
    return routes


# -- rules across entries -------------------------------------------------------

def _check_unique(entries, key: str, describe) -> None:
    """Report each entry whose `key` value an earlier entry already has."""
    seen: dict = {}
    for name, e in entries.items():
        value = e.values.get(key)
        other = value is not None and claim(seen, value, name)
        if other:
            e.problem(key, describe(value, other))


def check_datapaths(s: Sections) -> None:
    _check_unique(s.datapaths, 'dpid',
                  lambda dpid, other: f'datapath id {dpid:#x} is already used by datapath {other}')
    _check_unique(s.datapaths, 'tunnel_ip',
                  lambda ip, other: f'{ip} is already the tunnel_ip of datapath {other}; each '
                                    'datapath needs its own VXLAN endpoint address')


def check_networks(s: Sections) -> None:
    _check_unique(s.networks, 'vni',
                  lambda vni, other: f'vni {vni} is already used by network {other}')


def check_interfaces(s: Sections) -> None:
    macs: Dict[Hashable, str] = {}
    addresses: Dict[Hashable, str] = {}
    ports: Dict[Hashable, str] = {}
    services: Dict[Hashable, str] = {}
    for name, e in s.interfaces.items():
        network = e.values.get('network')
        check_interface_references(s, e)
        check_interface_address(s, e)
        if network is None:
            continue
        mac = e.values.get('mac')
        other = claim(macs, (network, mac), name) if mac is not None else None
        if other:
            e.problem('mac', f'{mac} is already the MAC of interface {other} in network {network}; '
                             'MACs must be unique within a network')
        address = e.values.get('ipv4')
        other = claim(addresses, (network, address), name) if address is not None else None
        if other:
            e.problem('ipv4', f'{address} is already the address of interface {other} '
                              f'in network {network}')
        # Only DHCP is one per network: several routers in one network are
        # fine (each on its own route link; DHCP option 121 tells clients).
        if 'dhcp' in (e.values.get('services') or ()):
            other = claim(services, (network, 'dhcp'), name)
            if other:
                e.problem('services', f'network {network} already has a dhcp interface, '
                                      f'{other}; at most one per network')
        datapath, port = e.values.get('datapath'), e.values.get('port')
        other = claim(ports, (datapath, port), name) if datapath and port else None
        if other:
            e.problem('port', f'port {port} on datapath {datapath} is already interface {other}')


def check_interface_references(s: Sections, e: Entry) -> None:
    network, datapath = e.values.get('network'), e.values.get('datapath')
    if network is not None and network not in s.networks:
        e.problem('network', f'network {network} is not defined'
                             f'{known_names_hint(network, s.networks, "network")}')
    if datapath is not None and datapath not in s.datapaths:
        e.problem('datapath', f'datapath {datapath} is not defined'
                              f'{known_names_hint(datapath, s.datapaths, "datapath")}')
    network_mode = network_value(s, network, 'mode')
    if e.values.get('mode') == HOST and network_mode not in (None, PHYSICAL):
        e.problem('mode', f'host interfaces belong to physical networks, and network {network} '
                          f'is {network_mode}')


def check_interface_address(s: Sections, e: Entry) -> None:
    network, address = e.values.get('network'), e.values.get('ipv4')
    net = network_value(s, network, 'ipv4')
    if address is None or net is None:
        return
    if address not in net:
        e.problem('ipv4', f'{address} is outside network {network} ({net})')
    elif address == net.network_address and net.prefixlen < 32:
        e.problem('ipv4', f'{address} is the network address of {network} ({net}); '
                          'use a host address')
    elif address == net.broadcast_address and net.prefixlen < 31:
        e.problem('ipv4', f'{address} is the broadcast address of {network} ({net}); '
                          'use a host address')


def network_value(s: Sections, network: Optional[str], key: str):
    entry = s.networks.get(network) if network is not None else None
    return entry.values.get(key) if entry is not None else None


def check_route_links(s: Sections) -> None:
    link_of: Dict[str, str] = {}        # router interface -> its route link
    for link, routes in s.routes.items():
        by_interface: Dict[str, int] = {}
        by_prefix: Dict[ipaddress.IPv4Network, int] = {}
        for index, route in enumerate(routes):
            name = route.values.get('interface')
            if name is None:
                continue
            if name not in s.interfaces:
                route.problem('interface', f'interface {name} is not defined'
                                           f'{known_names_hint(name, s.interfaces, "interface")}')
                continue
            earlier = claim(by_interface, name, index)
            if earlier is not None:
                route.problem('interface', f'interface {name} is already routes[{earlier}] '
                                           'of this route link')
                continue
            other_link = claim(link_of, name, link)
            if other_link:
                route.problem('interface', f'interface {name} is already in route link {other_link}; '
                                           'a router interface belongs to one route link')
            if is_router_interface(s, route, name):
                check_route_prefix(s, route, name, routes, by_prefix, index)


def is_router_interface(s: Sections, route: Entry, name: str) -> bool:
    """False (and reported) if `name` cannot be a router; the route's other checks would only echo it."""
    values = s.interfaces[name].values
    mode, services = values.get('mode'), values.get('services')
    if mode is not None and mode != SIMULATED:
        route.problem('interface', f'interface {name} is a {mode} interface; a route needs a '
                                   'simulated interface with the router service')
        return False
    if mode == SIMULATED and services is not None and ROUTER not in services:
        route.problem('interface', f'interface {name} does not have the router service; '
                                   'add services: [router] to it')
        return False
    return True


def check_route_prefix(s: Sections, route: Entry, name: str, routes: List[Entry],
                       by_prefix: Dict[ipaddress.IPv4Network, int], index: int) -> None:
    if 'ipv4' not in route.values or 'gateway' not in route.values:
        return              # unreadable; already reported
    network = s.interfaces[name].values.get('network')
    net = network_value(s, network, 'ipv4')
    destination = route.values['ipv4'] or net
    gateway = route.values['gateway']
    if destination is not None:
        earlier = claim(by_prefix, destination, index)
        if earlier is not None:
            other = routes[earlier].values.get('interface')
            implied = '' if route.values['ipv4'] else f' (the network of {name})'
            route.problem('ipv4', f'{destination}{implied} is already routed to routes[{earlier}] '
                                  f'({other}) of this route link; each route needs its own prefix')
    if net is None:
        return
    if gateway is not None:
        check_gateway(s, route, name, network, net, gateway)
    elif not destination.subnet_of(net):
        route.report.add(route.path_of('gateway'), route.line_of('ipv4'),
                         f'missing: {destination} is beyond network {network} ({net}) of interface '
                         f'{name}, so the route needs a gateway inside {net}')


def check_gateway(s: Sections, route: Entry, name: str, network: Optional[str],
                  net: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address) -> None:
    if gateway not in net:
        route.problem('gateway', f'{gateway} is outside network {network} ({net}) of interface '
                                 f'{name}; the gateway must be a neighbour on that network')
    elif gateway in (net.network_address, net.broadcast_address):
        route.problem('gateway', f'{gateway} is not a host address of network {network} ({net})')
    elif gateway == s.interfaces[name].values.get('ipv4'):
        route.problem('gateway', f'{gateway} is the address of interface {name} itself; '
                                 'the gateway is the next router')
