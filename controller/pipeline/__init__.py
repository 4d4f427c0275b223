"""Topology + port numbers -> the desired flows and groups of one datapath.

Pure functions: no sockets, no os-ken.  `compile_datapath` is the whole
pipeline; each table's stage lives in its own module (see tables.STAGES).
"""
from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Dict, Mapping

from controller.pipeline.classifier import classifier_flows, classifier_port_flows
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import Flow, Group, Meter
from controller.pipeline.l2 import flood_groups, host_port_flows, l2_flows, l2_port_flows
from controller.pipeline.l3 import l3_flows, l3_meters, nexthop_flows, router_services_flows
from controller.pipeline.port_security import (
    has_dhcp,
    port_security_flows,
    port_security_meters,
    port_security_port_flows,
)
from controller.pipeline.services import services_flows
from controller.topology import Topology


@dataclass(frozen=True)
class DesiredState:
    flows: Dict[int, Flow] = field(default_factory=dict)     # cookie -> flow
    groups: Dict[int, Group] = field(default_factory=dict)   # group id -> group
    meters: Dict[int, Meter] = field(default_factory=dict)   # meter id -> meter


# Nine flows in ten belong to one port and depend only on these inputs, so
# they are remembered: recompiling 10,000 interfaces after a one-interface
# edit rebuilds one interface's flows and looks up the rest.
_PORT_FLOWS: Dict[tuple, Dict[int, Flow]] = {}
_PORT_FLOWS_LIMIT = 200_000


def _port_flows(iface, ofport: int, vni: int, dhcp_here: bool) -> Dict[int, Flow]:
    key = (iface, ofport, vni, dhcp_here)
    found = _PORT_FLOWS.get(key)
    if found is None:
        if len(_PORT_FLOWS) >= _PORT_FLOWS_LIMIT:
            _PORT_FLOWS.clear()
        found = {}
        for stage in (classifier_port_flows(iface, ofport, vni),
                      port_security_port_flows(iface, ofport, dhcp_here),
                      l2_port_flows(iface, ofport, vni)):
            for f in stage:
                found[f.cookie] = f
        _PORT_FLOWS[key] = found
    return found


@contextlib.contextmanager
def _collector_paused():
    """Flows hold no reference cycles, yet making 100,000 of them would run
    the cyclic collector dozens of times over everything alive."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_datapath(topology: Topology, datapath: str, ports: Mapping[str, int]) -> DesiredState:
    with _collector_paused():
        return _compile(topology, datapath, ports)


def _compile(topology: Topology, datapath: str, ports: Mapping[str, int]) -> DesiredState:
    view = DatapathView(topology, datapath, dict(ports))
    flows = {}
    for stage in (classifier_flows, port_security_flows, services_flows, router_services_flows,
                  l3_flows, nexthop_flows, l2_flows, host_port_flows):
        for f in stage(view):
            flows[f.cookie] = f
    for name, ofport in view.local.items():
        iface = view.interface(name)
        flows.update(_port_flows(iface, ofport, view.vni(iface.network),
                                 has_dhcp(view, iface.network)))
    groups = {g.group_id: g for g in flood_groups(view)}
    meters = {m.meter_id: m for stage in (port_security_meters, l3_meters) for m in stage(view)}
    return DesiredState(flows, groups, meters)
