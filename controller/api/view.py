"""A read-only view of the running app, as JSON-able dicts.

The API's threads call these while the app's event thread keeps changing
its sessions, so every dict or list of the app is copied (`list(d.items())`
is one C call under the GIL) before it is iterated, and the immutable
Topology is taken once per call.  Nothing here changes the app.
"""
from __future__ import annotations

from collections import Counter
from importlib import metadata
from typing import Any, Dict, List, Optional, Protocol

from controller.api.history import History
from controller.api.portstats import PortStats
from controller.pipeline.punt import Reason
from controller.topology import HOST, SIMULATED, VIF, Topology

OFPPC_PORT_DOWN = 1 << 0      # port config: administratively down
OFPPS_LINK_DOWN = 1 << 0      # port state: no link


class AppState(Protocol):
    """What the view reads of the app (controller.app.VnetApp)."""
    topology: Topology
    topology_path: str
    sessions: Dict[int, Any]
    retiring: Dict[int, Any]
    strangers: Dict[int, Any]
    history: History
    services: Any
    port_stats: PortStats


def version() -> str:
    try:
        return metadata.version('ryu-vnet')
    except metadata.PackageNotFoundError:
        return 'unknown'


def _sessions_by_name(app: AppState) -> Dict[str, Any]:
    return {s.name: s for s in list(app.sessions.values())}


# -- status ---------------------------------------------------------------------

def status(app: AppState) -> dict:
    topology = app.topology
    history = app.history.snapshot()
    sessions = _sessions_by_name(app)
    changes = history['changes']
    last = _with_timing(changes[-1], sessions) if changes else None
    return {
        'version': version(),
        'topology': {'source': app.topology_path, 'digest': last and last['digest'],
                     'revision': history['revision'],
                     'datapaths': len(topology.datapaths), 'networks': len(topology.networks),
                     'interfaces': len(topology.interfaces),
                     'route_links': len(topology.route_links)},
        'datapaths': {'connected': sum(1 for n in topology.datapaths if n in sessions),
                      'total': len(topology.datapaths)},
        'unknown_datapaths': [f'{dpid:#x}' for dpid in sorted(list(app.strangers))],
        'last_change': last,
        'changes': [_public(c) for c in changes],
        'last_refused': history['refused'],
    }


def _public(change: dict) -> dict:
    return {k: v for k, v in change.items() if k != 'started'}


def _with_timing(change: dict, sessions: Dict[str, Any]) -> dict:
    """The change, with how long it took: from reading the file to the last
    switch it touched confirming it (None, with the datapaths still pending,
    until every connected one has).  A later sync of the same switch (a port
    added, say) would stretch it; such a sync is rarely that close behind."""
    names = change['datapaths'] if change['datapaths'] is not None else list(sessions)
    done, pending = [], []
    for name in names:
        session = sessions.get(name)
        if session is None:
            continue
        record = session.last_sync
        if record is None or record.started < change['started']:
            pending.append(name)
        else:
            done.append(record.started + record.seconds)
    out = _public(change)
    out['pending'] = sorted(pending)
    out['applied_seconds'] = (None if pending else
                              max(done, default=change['started']) - change['started'])
    return out


# -- datapaths ------------------------------------------------------------------

def datapaths(app: AppState) -> List[dict]:
    topology, sessions = app.topology, _sessions_by_name(app)
    gone = app.history.snapshot()['disconnected']
    return [_datapath(topology, name, sessions.get(name), gone, detail=False)
            for name in sorted(topology.datapaths)]


def datapath(app: AppState, name: str) -> Optional[dict]:
    topology = app.topology
    if name not in topology.datapaths:
        return None
    gone = app.history.snapshot()['disconnected']
    return _datapath(topology, name, _sessions_by_name(app).get(name), gone, detail=True)


def _datapath(topology: Topology, name: str, session, gone: Dict[int, float], detail: bool) -> dict:
    conf = topology.datapaths[name]
    here = topology.ports_on(name)
    out: Dict[str, Any] = {
        'name': name, 'dpid': f'{conf.dpid:#x}',
        'tunnel_ip': str(conf.tunnel_ip) if conf.tunnel_ip else None,
        'connected': session is not None,
        'since': session.since if session is not None else gone.get(conf.dpid),
        'state': session.state.value if session is not None else 'disconnected',
        'tunnels': tunnels(topology, name),
    }
    ports = _ports(session)
    by_name = {p['name']: p for p in ports}
    out['ports'] = [dict(p, interface=(here[p['name']].name if p['name'] in here else None))
                    for p in ports]
    out['interfaces'] = [{'name': i.name, 'network': i.network, 'port': i.port,
                          'up': by_name[i.port]['up'] if i.port in by_name else None}
                         for i in sorted(here.values(), key=lambda i: i.name)]
    out['tunnel_port'] = {'name': conf.tunnel_port,
                          'needed': bool(out['tunnels']),
                          'found': None if session is None else conf.tunnel_port in by_name}
    record = session.last_sync if session is not None else None
    out['last_sync'] = None if record is None else {
        'reason': record.reason, 'at': record.at, 'seconds': record.seconds,
        'flow_mods': record.flow_mods, 'ok': record.ok}
    if session is not None:
        installed = session.installed
        tables = Counter(key[0] for key in list(installed.flows.values()))
        out['flows'] = sum(tables.values())
        out['flows_per_table'] = {str(t): n for t, n in sorted(tables.items())}
        out['groups'], out['meters'] = len(installed.groups), len(installed.meters)
    else:
        out['flows'], out['flows_per_table'], out['groups'], out['meters'] = None, {}, None, None
    if not detail:
        del out['ports']
    return out


def _ports(session) -> List[dict]:
    if session is None:
        return []
    found = []
    for number, port in list(session.dp.ports.items()):
        name = port.name.split(b'\0', 1)[0].decode('utf-8', 'replace') \
            if isinstance(port.name, bytes) else port.name
        found.append({'name': name, 'ofport': number, 'up': port_up(port),
                      'hw_addr': port.hw_addr})
    return sorted(found, key=lambda p: p['ofport'])


def port_up(port) -> bool:
    return not (port.config & OFPPC_PORT_DOWN) and not (port.state & OFPPS_LINK_DOWN)


def tunnels(topology: Topology, name: str) -> List[dict]:
    """The datapaths `name` exchanges VXLAN with, and for which networks."""
    peers: Dict[str, List[str]] = {}
    for network in sorted(topology.networks):
        span = topology.span_of(network)
        if name in span:
            for peer in span - {name}:
                peers.setdefault(peer, []).append(network)
    return [{'peer': peer, 'remote_ip': _tunnel_ip(topology, peer), 'networks': nets}
            for peer, nets in sorted(peers.items())]


def _tunnel_ip(topology: Topology, name: str) -> Optional[str]:
    ip = topology.datapaths[name].tunnel_ip
    return str(ip) if ip else None


# -- networks and interfaces ---------------------------------------------------------

def networks(app: AppState) -> List[dict]:
    topology, sessions = app.topology, _sessions_by_name(app)
    ports = _all_ports(sessions)
    return [_network(topology, name, sessions, ports) for name in sorted(topology.networks)]


def network(app: AppState, name: str) -> Optional[dict]:
    topology = app.topology
    if name not in topology.networks:
        return None
    sessions = _sessions_by_name(app)
    return _network(topology, name, sessions, _all_ports(sessions))


def _all_ports(sessions: Dict[str, Any]) -> Dict[str, Dict[str, dict]]:
    """datapath name -> port name -> port, for every connected datapath."""
    return {dp: {p['name']: p for p in _ports(s)} for dp, s in sessions.items()}


def _network(topology: Topology, name: str, sessions: Dict[str, Any],
             ports: Dict[str, Dict[str, dict]]) -> dict:
    net = topology.networks[name]
    links = [link.name for link in topology.route_links.values()
             if any(topology.interfaces[r.interface].network == name for r in link.routes)]
    return {
        'name': name, 'ipv4': str(net.ipv4), 'mode': net.mode, 'vni': net.vni, 'mtu': net.mtu,
        'datapaths': sorted(topology.span_of(name)), 'route_links': links,
        'routed_to': sorted(topology.joined_to(name) - {name}),
        'interfaces': [_interface(i, sessions, ports)
                       for i in sorted(topology.interfaces_of(name), key=lambda i: i.name)],
    }


def _interface(iface, sessions: Dict[str, Any], ports: Dict[str, Dict[str, dict]]) -> dict:
    out: Dict[str, Any] = {'name': iface.name, 'network': iface.network, 'mode': iface.mode,
                           'mac': iface.mac, 'ipv4': str(iface.ipv4) if iface.ipv4 else None,
                           'datapath': iface.datapath, 'port': iface.port}
    if iface.mode == SIMULATED:
        out['services'] = list(iface.services)
        out['where'] = 'answered by every datapath of its network'
        return out
    plugged = ports.get(iface.datapath or '', {}).get(iface.port or '')
    out['datapath_connected'] = iface.datapath in sessions
    out['ofport'] = plugged['ofport'] if plugged else None
    out['up'] = plugged['up'] if plugged else None
    out['where'] = (f'{iface.datapath} port {iface.port}' if plugged else
                    f'{iface.datapath} port {iface.port} (not plugged in)'
                    if iface.datapath in sessions else
                    f'{iface.datapath} port {iface.port} (datapath not connected)')
    return out


def interface(app: AppState, name: str, counters: bool = True) -> Optional[dict]:
    topology = app.topology
    iface = topology.interfaces.get(name)
    if iface is None:
        return None
    sessions = _sessions_by_name(app)
    session = sessions.get(iface.datapath or '')
    ports = {session.name: {p['name']: p for p in _ports(session)}} if session else {}
    out = _interface(iface, sessions, ports)
    if iface.mode in (VIF, HOST):
        out['counters'] = None
        if counters and session is not None and out['ofport'] is not None:
            out['counters'] = app.port_stats.ask(session.dp, out['ofport'])
            if out['counters'] is None:
                out['counters_error'] = 'the switch did not answer the port-stats request in time'
    return out


# -- DHCP leases ---------------------------------------------------------------------

def leases(app: AppState) -> List[dict]:
    dhcp = app.services.handler(Reason.DHCP_REQUEST)
    found = list(getattr(dhcp, 'leases', {}).values())
    return sorted((dict(lease) for lease in found), key=lambda lease: (lease['network'], lease['mac']))
