"""A datapath's bridge as `ovs-vsctl` commands, and reading OVSDB values back (pure).

`vnetctl setup` prints `setup_argv` (what a user pastes) or, with --apply,
compares what OVS has (`flatten` of `ovs-vsctl --format=json` rows) with
`BridgeSpec` and runs only `changes`.  One transaction holds the bridge and
its controller: attaching a controller later makes OVS delete every flow
already on the bridge (DESIGN.md).  The bridge's service port (an internal
port, controller.pipeline.service_port) lets a controller on the same machine
answer DHCP and DNS through a socket instead of packet-ins.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from controller.pipeline.service_port import service_port_name
from controller.topology import Topology

VSCTL = 'ovs-vsctl'
NETDEV, SYSTEM = 'netdev', 'system'
DEFAULT_CONTROLLER = 'tcp:127.0.0.1:6633'
OVS_KERNEL_MODULE = '/sys/module/openvswitch'


class SetupError(Exception):
    """What is wrong, in one line for the user."""


@dataclass(frozen=True)
class BridgeSpec:
    """What one datapath's bridge must look like."""
    bridge: str
    dpid: int
    datapath_type: str
    controller: str
    tunnel_port: Optional[str] = None     # None: the datapath has no tunnel_ip
    tunnel_ip: Optional[str] = None
    service_port: bool = True             # False: DHCP and DNS by packet-ins only

    @property
    def service_port_name(self) -> Optional[str]:
        return service_port_name(self.bridge) if self.service_port else None

    def bridge_settings(self) -> Dict[str, str]:
        """Bridge columns (`column` or `column:key`) and their values.  In-band
        control is off: the controller is reached out of band, never through
        the ports this bridge forwards for VMs."""
        return {'datapath_type': self.datapath_type, 'fail_mode': 'secure',
                'protocols': 'OpenFlow13', 'other_config:datapath-id': f'{self.dpid:016x}',
                'other_config:disable-in-band': 'true'}

    def tunnel_settings(self) -> Dict[str, str]:
        """The flow-based VXLAN port's Interface columns (DESIGN.md)."""
        return {'type': 'vxlan', 'options:remote_ip': 'flow', 'options:key': 'flow',
                'options:local_ip': str(self.tunnel_ip)}


def bridge_spec(topology: Topology, datapath: str, bridge: Optional[str] = None,
                datapath_type: Optional[str] = None,
                controller: str = DEFAULT_CONTROLLER, service_port: bool = True) -> BridgeSpec:
    """The spec of `datapath` of the topology; SetupError for an unknown one."""
    dp = topology.datapaths.get(datapath)
    if dp is None:
        known = ', '.join(sorted(topology.datapaths)) or 'none'
        raise SetupError(f'{topology.source}: no datapath {datapath!r} (datapaths: {known})')
    tunnel = dp.tunnel_ip is not None
    return BridgeSpec(bridge=bridge or datapath, dpid=dp.dpid,
                      datapath_type=datapath_type or default_datapath_type(),
                      controller=controller, tunnel_port=dp.tunnel_port if tunnel else None,
                      tunnel_ip=str(dp.tunnel_ip) if tunnel else None, service_port=service_port)


def default_datapath_type(module_dir: str = OVS_KERNEL_MODULE) -> str:
    """`system` where the OVS kernel module is loaded, else `netdev` (userspace)."""
    return SYSTEM if os.path.isdir(module_dir) else NETDEV


# -- commands ---------------------------------------------------------------

def _assign(column_key: str, value: str) -> str:
    """`other_config:datapath-id` -> `other-config:datapath-id=...` (as OVS's manuals spell it)."""
    column, sep, key = column_key.partition(':')
    column = 'other-config' if column == 'other_config' else column
    return f'{column}{sep}{key}={value}'


def _set(table: str, record: str, settings: Dict[str, str]) -> List[str]:
    return ['--', 'set', table, record, *(_assign(k, v) for k, v in settings.items())]


def bridge_create_args(spec: BridgeSpec) -> List[str]:
    """The bridge and, unless `spec.controller` is '', its controller target."""
    args = ['--', '--may-exist', 'add-br', spec.bridge,
            *_set('Bridge', spec.bridge, spec.bridge_settings())]
    return args + (['--', 'set-controller', spec.bridge, spec.controller] if spec.controller else [])


def tunnel_create_args(spec: BridgeSpec) -> List[str]:
    assert spec.tunnel_port is not None
    return ['--', '--may-exist', 'add-port', spec.bridge, spec.tunnel_port,
            *_set('Interface', spec.tunnel_port, spec.tunnel_settings())]


def service_port_args(spec: BridgeSpec) -> List[str]:
    """The service port: an internal port, its tap device where ovs-vswitchd runs."""
    name = spec.service_port_name
    assert name is not None
    return ['--', '--may-exist', 'add-port', spec.bridge, name,
            *_set('Interface', name, {'type': 'internal'})]


def setup_argv(spec: BridgeSpec) -> List[str]:
    """The one `ovs-vsctl` command that sets the bridge up from nothing (idempotent)."""
    args = [VSCTL, *bridge_create_args(spec)[1:]]      # no '--' before the first clause
    if spec.tunnel_port:
        args += tunnel_create_args(spec)
    if spec.service_port:
        args += service_port_args(spec)
    return args


def shell_lines(argv: Sequence[str]) -> str:
    """`argv` quoted for a shell, one `--` clause per line (copy-pasteable)."""
    clauses: List[List[str]] = [[]]
    for i, word in enumerate(argv):
        if word == '--' and i > 1:
            clauses.append([])
        clauses[-1].append(word)
    return ' \\\n    '.join(' '.join(shlex.quote(w) for w in c) for c in clauses)


# -- what OVS has, and what to change -----------------------------------------

def ovsdb_atom(value) -> str:
    """One OVSDB JSON atom as ovs-vsctl would print it."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ('uuid', 'named-uuid'):
        return str(value[1])
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def flatten(headings: Sequence[str], row: Sequence) -> Dict[str, str]:
    """One row of `ovs-vsctl --format=json` as {column: value, column:key: value}.
    A set becomes its sorted members joined by commas ('' when empty)."""
    out: Dict[str, str] = {}
    for column, value in zip(headings, row):
        if isinstance(value, list) and value and value[0] == 'map':
            for k, v in value[1]:
                out[f'{column}:{ovsdb_atom(k)}'] = ovsdb_atom(v)
        elif isinstance(value, list) and value and value[0] == 'set':
            out[column] = ','.join(sorted(ovsdb_atom(v) for v in value[1]))
        else:
            out[column] = ovsdb_atom(value)
    return out


def rows(table_json: dict) -> List[Dict[str, str]]:
    """Every row of one `ovs-vsctl --format=json` table, flattened."""
    return [flatten(table_json['headings'], row) for row in table_json.get('data', [])]


@dataclass(frozen=True)
class Current:
    """What OVS has for a spec: the bridge's row (None: no bridge), its
    controller targets, the tunnel port's Interface row and the bridge that
    holds it (None: no such port), and the same two for the service port."""
    bridge: Optional[Dict[str, str]]
    controllers: Tuple[str, ...] = ()
    tunnel: Optional[Dict[str, str]] = None
    tunnel_bridge: Optional[str] = None
    service: Optional[Dict[str, str]] = None
    service_bridge: Optional[str] = None


def _differing(want: Dict[str, str], have: Dict[str, str]) -> Dict[str, str]:
    return {k: v for k, v in want.items() if have.get(k) != v}


def changes(spec: BridgeSpec, current: Current) -> List[Tuple[str, List[str]]]:
    """(what, ovs-vsctl clause) for everything that differs; [] when in shape.
    SetupError when the tunnel or service port's name is taken on another bridge."""
    if spec.tunnel_port and current.tunnel_bridge not in (None, spec.bridge):
        raise SetupError(f'port {spec.tunnel_port} belongs to bridge {current.tunnel_bridge}; '
                         f'remove it there or give datapath a different tunnel_port')
    if spec.service_port and current.service_bridge not in (None, spec.bridge):
        raise SetupError(f'port {spec.service_port_name} belongs to bridge '
                         f'{current.service_bridge}; remove it there, name the bridge differently '
                         'or leave the service port out (--no-service-port)')
    out: List[Tuple[str, List[str]]] = []
    if current.bridge is None:
        out.append((f'created bridge {spec.bridge} with its controller {spec.controller}',
                    bridge_create_args(spec)))
    else:
        diff = _differing(spec.bridge_settings(), current.bridge)
        if diff:
            out.append((f'set {", ".join(_assign(k, v) for k, v in diff.items())}',
                        _set('Bridge', spec.bridge, diff)))
        if current.controllers != (spec.controller,):
            was = ', '.join(current.controllers) or 'none'
            out.append((f'controller {spec.controller} (was {was})',
                        ['--', 'set-controller', spec.bridge, spec.controller]))
    if spec.tunnel_port:
        if current.tunnel is None:
            out.append((f'added tunnel port {spec.tunnel_port} (local_ip {spec.tunnel_ip})',
                        tunnel_create_args(spec)))
        else:
            diff = _differing(spec.tunnel_settings(), current.tunnel)
            if diff:
                out.append((f'set {spec.tunnel_port} {", ".join(_assign(k, v) for k, v in diff.items())}',
                            _set('Interface', spec.tunnel_port, diff)))
    return out + _service_port_changes(spec, current)


def _service_port_changes(spec: BridgeSpec, current: Current) -> List[Tuple[str, List[str]]]:
    name = spec.service_port_name
    if name is None:
        return []
    if current.service is None or current.service_bridge is None:
        return [(f'added service port {name} (type internal)', service_port_args(spec))]
    if current.service.get('type') != 'internal':
        was = current.service.get('type') or 'system'
        return [(f'set {name} type=internal (was {was})',
                 _set('Interface', name, {'type': 'internal'}))]
    return []
