"""Topology + port numbers -> the desired flows, groups and meters of one datapath.

`Compiler` runs every stage (tables.STAGES, one module each) and checks
each flow against the stage list.  It owns its memo of per-port flows, so
two compilers (two apps, a test, a CLI) never share state.
"""
from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Dict, Iterable, Mapping

from controller.pipeline import tables
from controller.pipeline.classifier import classifier_flows, classifier_port_flows
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import Flow, Group, Meter
from controller.pipeline.l2 import flood_groups, host_port_flows, l2_flows, l2_port_flows
from controller.pipeline.l3 import l3_flows, l3_meters
from controller.pipeline.nexthop import nexthop_flows, nexthop_meters
from controller.pipeline.port_security import (
    has_dhcp,
    port_security_flows,
    port_security_meters,
    port_security_port_flows,
)
from controller.pipeline.services import router_services_flows, services_flows
from controller.topology import Interface, Topology

# Stages whose flows depend on the whole datapath view, in table order.
VIEW_STAGES = (classifier_flows, port_security_flows, services_flows, router_services_flows,
               l3_flows, nexthop_flows, l2_flows, host_port_flows)
METER_STAGES = (port_security_meters, l3_meters, nexthop_meters)
PORT_FLOWS_LIMIT = 200_000


@dataclass(frozen=True)
class DesiredState:
    flows: Dict[int, Flow] = field(default_factory=dict)     # cookie -> flow
    groups: Dict[int, Group] = field(default_factory=dict)   # group id -> group
    meters: Dict[int, Meter] = field(default_factory=dict)   # meter id -> meter
    tunnel_port_missing: bool = False   # other datapaths need reaching, but the bridge has no tunnel port


def _checked(flows: Iterable[Flow]) -> Dict[int, Flow]:
    found = {}
    for f in flows:
        tables.check_goto(f.table, f.goto)
        found[f.cookie] = f
    return found


class Compiler:
    """Compiles datapaths, remembering per-port flows between compiles.

    Nine flows in ten belong to one port and depend only on (interface,
    port number, VNI, whether its network has DHCP), so recompiling 10,000
    interfaces after a one-interface edit rebuilds one interface's flows and
    looks up the rest.
    """

    def __init__(self, port_flows_limit: int = PORT_FLOWS_LIMIT):
        self._port_flows: Dict[tuple, Dict[int, Flow]] = {}
        self._limit = port_flows_limit

    def compile(self, topology: Topology, datapath: str, ports: Mapping[str, int]) -> DesiredState:
        with _collector_paused():
            view = DatapathView(topology, datapath, dict(ports))
            flows = _checked(f for stage in VIEW_STAGES for f in stage(view))
            for name, ofport in view.local.items():
                iface = view.interface(name)
                flows.update(self._flows_of_port(iface, ofport, view.vni(iface.network),
                                                 has_dhcp(view, iface.network)))
            groups = {g.group_id: g for g in flood_groups(view)}
            meters = {m.meter_id: m for stage in METER_STAGES for m in stage(view)}
            missing = view.needs_tunnel and view.tunnel_port is None
            return DesiredState(flows, groups, meters, missing)

    def _flows_of_port(self, iface: Interface, ofport: int, vni: int, dhcp_here: bool):
        key = (iface, ofport, vni, dhcp_here)
        found = self._port_flows.get(key)
        if found is None:
            if len(self._port_flows) >= self._limit:
                self._port_flows.clear()
            found = self._port_flows[key] = _checked(
                f for stage in (classifier_port_flows(iface, ofport, vni),
                                port_security_port_flows(iface, ofport, dhcp_here),
                                l2_port_flows(iface, ofport, vni))
                for f in stage)
        return found


def compile_datapath(topology: Topology, datapath: str, ports: Mapping[str, int]) -> DesiredState:
    """One compile with a fresh Compiler (tests, tools)."""
    return Compiler().compile(topology, datapath, ports)


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
