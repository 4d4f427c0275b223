"""Many datapaths on one private ovs-vswitchd, and the controller beside it.

The vswitchd (lab.ovsinstance) runs in a namespace of its own: the machine's
vswitchd already owns the netdev datapath of the root namespace.  Its
bridges reach the controller at 127.0.0.1 of that namespace, so the
controller runs there too (the lab's Controller with netns=).

Bridges and ports are made in ONE OVSDB transaction, sent as JSON-RPC
straight to the database socket: ovs-vsctl spends O(database) client time
per command, and a 10,000-port ``transact`` is too long for a command line.
Vif ports are patch ports whose peer does not exist (an OpenFlow number, no
device); each bridge's tunnel port is a real flow-based VXLAN port with the
datapath's tunnel_ip as local_ip (OVS accepts many in one vswitchd when
their names and local_ip differ; a second ``vxlan0`` is refused).

Controller targets are attached to and removed from all bridges at once,
in one transaction each.  Removing them makes OVS empty the bridges.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Mapping

from bench.fabric_control.topo import BridgePlan
from lab import VNET_COOKIE, Controller, Lab, NetlabError, sh
from lab.ovsinstance import OvsInstance

COOKIE_FILTER = f'cookie={VNET_COOKIE}'
POLL_WORKERS = 4


def bridge_ops(plans: Iterable[BridgePlan]) -> list[dict]:
    """The OVSDB operations that create ``plans``' bridges and ports (no
    controller target: see attach_ops)."""
    ops: list[dict] = []
    bridges = []

    def insert(table: str, row: dict) -> list:
        name = f'r{len(ops)}'
        ops.append({'op': 'insert', 'table': table, 'row': row, 'uuid-name': name})
        return ['named-uuid', name]

    def port(name: str, type_: str, options: dict[str, str]) -> list:
        iface = insert('Interface', {'name': name, 'type': type_,
                                     'options': ['map', [list(kv) for kv in sorted(options.items())]]})
        return insert('Port', {'name': name, 'interfaces': iface})

    for p in plans:
        ports = [port(name, 'patch', {'peer': name + '-x'}) for name in p.ports]
        ports.append(port(p.tunnel_port, 'vxlan', {'remote_ip': 'flow', 'key': 'flow',
                                                   'local_ip': p.tunnel_ip}))
        ports.append(port(p.name, 'internal', {}))
        bridges.append(insert('Bridge', {
            'name': p.name, 'datapath_type': 'netdev', 'fail_mode': 'secure',
            'protocols': ['set', ['OpenFlow13']],
            'other_config': ['map', [['datapath-id', f'{p.dpid:016x}'],
                                     ['disable-in-band', 'true']]],
            'ports': ['set', ports]}))
    ops.append({'op': 'mutate', 'table': 'Open_vSwitch', 'where': [],
                'mutations': [['bridges', 'insert', ['set', bridges]]]})
    return ops


def attach_ops(bridges: Iterable[str], target: str) -> list[dict]:
    """Give every bridge the controller target (as ``set-controller`` and
    ``connection-mode=out-of-band max_backoff=1000`` would)."""
    ops: list[dict] = []
    for i, name in enumerate(bridges):
        ops.append({'op': 'insert', 'table': 'Controller', 'uuid-name': f'c{i}',
                    'row': {'target': target, 'connection_mode': 'out-of-band',
                            'max_backoff': 1000}})
        ops.append({'op': 'update', 'table': 'Bridge', 'where': [['name', '==', name]],
                    'row': {'controller': ['named-uuid', f'c{i}']}})
    return ops


DETACH_OPS = [{'op': 'update', 'table': 'Bridge', 'where': [], 'row': {'controller': ['set', []]}}]


def transact(sock_path: Path, ops: list[dict], timeout: float = 120) -> list:
    """One OVSDB transaction (JSON-RPC over the unix socket); its results."""
    request = json.dumps({'method': 'transact', 'params': ['Open_vSwitch', *ops], 'id': 1})
    decoder, buf = json.JSONDecoder(), ''
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(request.encode())
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                raise NetlabError('ovsdb-server closed the connection mid-reply')
            buf += chunk.decode()
            try:
                reply, _ = decoder.raw_decode(buf.lstrip())
            except json.JSONDecodeError:
                continue
            if reply.get('id') == 1:
                break
            buf = ''                       # a notification or echo: not ours
    failed = [r for r in reply.get('result') or [] if isinstance(r, dict) and 'error' in r]
    if reply.get('error') or failed:
        raise NetlabError(f'ovsdb transaction failed: {reply.get("error") or failed[:3]}')
    return reply['result']


class FabricSwitches:
    """A private ovs-vswitchd holding every datapath of the fabric."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.ns = f'{lab.prefix}-fab'
        self.ovs = OvsInstance(lab.path('ovs-fabric'), netns=self.ns, track=lab.track_process)

    def start(self) -> None:
        self.lab.track_netns(self.ns)          # removed with the lab, also after a crash
        sh(['ip', 'netns', 'add', self.ns])
        sh(['ip', 'netns', 'exec', self.ns, 'ip', 'link', 'set', 'lo', 'up'])
        self.ovs.start()

    def stop(self) -> None:
        self.ovs.stop()

    def create(self, plans: list[BridgePlan], timeout: float = 300) -> None:
        """Every bridge with its ports, in one transaction; returns once
        ovs-vswitchd has applied it."""
        self._apply(bridge_ops(plans), timeout)

    def attach(self, bridges: Iterable[str], port: int, timeout: float = 60) -> None:
        """Point every bridge at the controller on 127.0.0.1:``port``, at once."""
        self._apply(attach_ops(bridges, f'tcp:127.0.0.1:{port}'), timeout, wait=False)

    def detach(self, timeout: float = 60) -> None:
        """Remove every bridge's controller target.  OVS then deletes the
        bridge's flows, groups and meters (a new controller set does that)."""
        self._apply(DETACH_OPS, timeout)

    def _apply(self, ops: list[dict], timeout: float, wait: bool = True) -> None:
        transact(self.ovs.db_sock, ops, timeout)
        if wait:    # a vsctl that changes something waits until vswitchd has caught up
            self.ovs.vsctl(f'--timeout={int(timeout)}', 'set', 'Open_vSwitch', '.',
                           f'external_ids:fabric-bench={time.time_ns()}', timeout=timeout)

    def port_numbers(self) -> dict[str, int]:
        """Every interface's OpenFlow number (-1: none, e.g. a refused port)."""
        out = self.ovs.vsctl('--format=csv', '--data=bare', '--no-headings',
                             '--columns=name,ofport', 'list', 'Interface', timeout=120)
        return {row[0]: int(row[1]) if row[1].lstrip('-').isdigit() else -1
                for row in csv.reader(io.StringIO(out)) if len(row) == 2}

    def interface_errors(self) -> list[str]:
        out = self.ovs.vsctl('--format=csv', '--data=bare', '--no-headings',
                             '--columns=name,error', 'list', 'Interface', timeout=120)
        return [f'{n}: {e}' for n, e in csv.reader(io.StringIO(out))
                if e and not e.startswith('No usable peer')]     # patch ports without a peer

    def flow_count(self, bridge: str, cookie_filter: str = COOKIE_FILTER) -> int:
        """How many flows of ``bridge`` match ``cookie_filter`` (ours by default)."""
        out = self.ovs.ofctl('dump-aggregate', bridge, cookie_filter, timeout=60)
        m = re.search(r'flow_count=(\d+)', out)
        if not m:
            raise NetlabError(f'no flow_count in dump-aggregate output of {bridge}: {out!r}')
        return int(m.group(1))

    def flow_counts(self, filters: Mapping[str, str]) -> dict[str, int]:
        """flow_count of several bridges (bridge -> cookie filter) at once:
        a few ovs-ofctl processes in parallel, so a poll round takes about one."""
        if not filters:
            return {}
        with ThreadPoolExecutor(max_workers=POLL_WORKERS) as pool:
            counts = pool.map(lambda item: self.flow_count(*item), filters.items())
            return dict(zip(filters, counts))

    def controller(self, topology: Path, port: int, log_path: Path) -> Controller:
        """The controller for ``topology``, started in our namespace (not waited for)."""
        c = Controller(topology, port=port, log_path=log_path, netns=self.ns)
        c.start(wait=False)
        if c.proc is not None:
            self.lab.track_process(c.proc)
        return c
