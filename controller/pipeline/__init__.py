"""Topology + port numbers -> the desired flows and groups of one datapath.

Pure functions: no sockets, no os-ken.  `compile_datapath` is the whole
pipeline; each table's stage lives in its own module (see tables.STAGES).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping

from controller.pipeline.classifier import classifier_flows
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import Flow, Group, Meter
from controller.pipeline.l2 import flood_groups, host_port_flows, l2_flows
from controller.pipeline.l3 import l3_flows, l3_meters, nexthop_flows, router_services_flows
from controller.pipeline.port_security import port_security_flows, port_security_meters
from controller.pipeline.services import services_flows
from controller.topology import Topology


@dataclass(frozen=True)
class DesiredState:
    flows: Dict[int, Flow] = field(default_factory=dict)     # cookie -> flow
    groups: Dict[int, Group] = field(default_factory=dict)   # group id -> group
    meters: Dict[int, Meter] = field(default_factory=dict)   # meter id -> meter


def compile_datapath(topology: Topology, datapath: str, ports: Mapping[str, int]) -> DesiredState:
    view = DatapathView(topology, datapath, dict(ports))
    flows = {}
    for stage in (classifier_flows, port_security_flows, services_flows, router_services_flows,
                  l3_flows, nexthop_flows, l2_flows, host_port_flows):
        for f in stage(view):
            flows[f.cookie] = f
    groups = {g.group_id: g for g in flood_groups(view)}
    meters = {m.meter_id: m for stage in (port_security_meters, l3_meters) for m in stage(view)}
    return DesiredState(flows, groups, meters)
