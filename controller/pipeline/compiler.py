"""Topology + port numbers -> the desired flows, groups and meters of one datapath.

`Compiler` runs every stage (tables.STAGES, one module each) and checks
each flow against the stage list.  It owns its memo of per-port flows, so
two compilers (two apps, a test, a CLI) never share state.
"""
from __future__ import annotations

import contextlib
import gc
import weakref
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Mapping, NamedTuple, Optional, Protocol, Set

from controller.pipeline import drops, tables
from controller.pipeline.acl import acl_flows
from controller.pipeline.classifier import classifier_flows, classifier_port_flows
from controller.pipeline.context import DatapathView
from controller.pipeline.dns import dns_flows, dns_meters
from controller.pipeline.flows import Flow, Group, Meter
from controller.pipeline.l2 import flood_groups, host_port_flows, l2_flows, l2_port_flows
from controller.pipeline.l3 import l3_flows, l3_meters
from controller.pipeline.nat import nat_in_flows, nat_out_flows
from controller.pipeline.nexthop import nexthop_flows, nexthop_meters
from controller.pipeline.port_security import port_meter, port_security_flows, port_security_port_flows
from controller.pipeline.service_port import service_port_flows
from controller.pipeline.services import router_services_flows, services_flows
from controller.topology import Interface, Topology

# Stages whose flows depend on the whole datapath view, in table order.
VIEW_STAGES = (service_port_flows, classifier_flows, port_security_flows, services_flows,
               router_services_flows, dns_flows, nat_in_flows, l3_flows, nat_out_flows, nexthop_flows,
               l2_flows, host_port_flows, acl_flows)
VIEW_METER_STAGES = (l3_meters, nexthop_meters, dns_meters)       # per network; per-port meters: port_meter
PORT_FLOWS_LIMIT = 200_000
SINK_CHUNK = 2048            # flows per FlowSink.flows call


@dataclass(frozen=True)
class DesiredState:
    flows: Dict[int, Flow] = field(default_factory=dict)     # cookie -> flow
    groups: Dict[int, Group] = field(default_factory=dict)   # group id -> group
    meters: Dict[int, Meter] = field(default_factory=dict)   # meter id -> meter
    tunnel_port_missing: bool = False   # other datapaths need reaching, but the bridge has no tunnel port
    # A patched compile says what changed since the state it was patched
    # from (`base`, held weakly): the reconciler then plans in O(change).
    base: Optional[weakref.ref] = field(default=None, compare=False, repr=False)
    flows_added: FrozenSet[int] = field(default=frozenset(), compare=False, repr=False)
    flows_removed: FrozenSet[int] = field(default=frozenset(), compare=False, repr=False)
    meters_touched: FrozenSet[int] = field(default=frozenset(), compare=False, repr=False)

    def patched_from(self, other: Optional['DesiredState']) -> bool:
        return other is not None and self.base is not None and self.base() is other


def _checked(flows: Iterable[Flow], passed: Optional[Set[tuple]] = None) -> Dict[int, Flow]:
    """cookie -> flow, each flow checked against the stage list.  The checks
    (tables.check_goto, drops.check) depend only on (table, goto, drop,
    whether there are actions): `passed` remembers the combinations already
    checked (the compiler's own set; 120,000 flows have a few dozen).  A
    check that looks at more of a flow must add it to `shape`."""
    found: Dict[int, Flow] = {}
    passed = set() if passed is None else passed
    for f in flows:
        table, _, _, actions, goto, _, _, drop = f
        shape = (table, goto, drop, not actions)
        if shape not in passed:
            tables.check_goto(table, goto)
            if drop is not None or (goto is None and not actions):
                drops.check(f)               # every drop has its reason, in its table
            passed.add(shape)
        found[f.cookie] = f
    return found


class _PortPart(NamedTuple):
    """What one local interface adds to its datapath."""
    flows: Dict[int, Flow]
    meter: Optional[Meter]


@dataclass
class _Compiled:
    """A datapath's last compile, for patching the next one."""
    topology: Topology
    ports: Dict[str, int]
    dhcp_networks: FrozenSet[str]
    view_flows: Dict[int, Flow]
    view_meters: Dict[int, Meter]
    parts: Dict[str, _PortPart]                 # local interface name -> its part
    state: DesiredState


class Compiler:
    """Compiles datapaths, remembering per-port parts between compiles.

    Nine flows in ten (and most meters) belong to one port and depend only on
    (interface, port number, VNI, whether its network has DHCP), so they are
    built once and looked up after.  When only interfaces changed since a
    datapath's last compile (same ports, datapaths, networks and route
    links), the last result is patched: the view-wide stages run again (a
    few hundred flows) and only the changed interfaces' parts are swapped,
    and the result says what changed, for the reconciler.
    """

    def __init__(self, port_flows_limit: int = PORT_FLOWS_LIMIT):
        self._parts: Dict[tuple, _PortPart] = {}
        self._limit = port_flows_limit
        self._last: Dict[str, _Compiled] = {}
        self._passed: Set[tuple] = set()            # flow shapes the stage checks accepted

    def compile(self, topology: Topology, datapath: str, ports: Mapping[str, int],
                sink: Optional['FlowSink'] = None) -> DesiredState:
        """The desired state.  A `sink` is handed a full (not patched)
        compile's output while it is being made (see FlowSink)."""
        with collector_paused():
            ports = dict(ports)
            view = DatapathView(topology, datapath, ports)
            view_flows = _checked((f for stage in VIEW_STAGES for f in stage(view)), self._passed)
            view_meters = {m.meter_id: m for stage in VIEW_METER_STAGES for m in stage(view)}
            groups = {g.group_id: g for g in flood_groups(view)}
            missing = view.needs_tunnel and view.tunnel_port is None
            dhcp = frozenset(view.dhcp_networks)
            last = self._last.get(datapath)
            if last is not None and _same_frame(last, topology, ports, dhcp):
                state, parts = self._patch(last, view, view_flows, view_meters, groups, missing)
            else:
                state, parts = self._full(view, view_flows, view_meters, groups, missing, sink)
            self._remember(datapath, _Compiled(topology, ports, dhcp, view_flows, view_meters, parts, state))
            return state

    def forget(self, datapath: str) -> None:
        self._last.pop(datapath, None)

    def _full(self, view: DatapathView, view_flows: Dict[int, Flow], view_meters: Dict[int, Meter],
              groups: Dict[int, Group], missing: bool, sink: Optional['FlowSink']):
        """Every local port's part, from the memo or built; a sink gets the
        meters and groups first, then the flows in order, SINK_CHUNK at a time."""
        flows, meters, parts = dict(view_flows), dict(view_meters), {}
        if sink is not None:
            ahead = dict(view_meters)     # port meters are cheap: all of them before any flow
            for name, ofport in view.local.items():
                iface, _, _, dhcp_target = self._part_key(view, name, ofport)
                meter = port_meter(iface, ofport, dhcp_target is not None)
                if meter is not None:
                    ahead[meter.meter_id] = meter
            sink.begin(ahead, groups)
            sink.flows(view_flows)
        chunk: Dict[int, Flow] = {}
        for name, ofport in view.local.items():
            part = parts[name] = self._part(view, name, ofport)
            flows.update(part.flows)
            if part.meter is not None:
                meters[part.meter.meter_id] = part.meter
            if sink is not None:
                chunk.update(part.flows)
                if len(chunk) >= SINK_CHUNK:
                    sink.flows(chunk)
                    chunk = {}
        if sink is not None and chunk:
            sink.flows(chunk)
        return DesiredState(flows, groups, meters, missing), parts

    def _patch(self, last: _Compiled, view: DatapathView, view_flows: Dict[int, Flow],
               view_meters: Dict[int, Meter], groups: Dict[int, Group], missing: bool):
        """Last time's state with the view-wide parts and the changed ports' swapped."""
        old, new = last.topology.interfaces, view.topology.interfaces
        changed = [n for n, iface in new.items() if old.get(n) is not iface and old.get(n) != iface]
        changed += old.keys() - new.keys()
        base = last.state
        flows, meters = dict(base.flows), dict(base.meters)
        gone, came = list(last.view_flows), list(view_flows)
        meters_touched = set(last.view_meters) | set(view_meters)
        for cookie in last.view_flows:
            del flows[cookie]
        for mid in last.view_meters:
            del meters[mid]
        flows.update(view_flows)
        meters.update(view_meters)
        parts = last.parts
        local = [n for n in changed if n in parts or n in view.local]
        if local:
            parts = dict(parts)
        for name in local:               # all removals first: a port may pass between interfaces
            before = parts.pop(name, None)
            if before is not None:
                gone += before.flows
                for cookie in before.flows:
                    del flows[cookie]
                if before.meter is not None:
                    meters_touched.add(before.meter.meter_id)
                    del meters[before.meter.meter_id]
        for name in local:
            if name in view.local:
                parts[name] = part = self._part(view, name, view.local[name])
                came += part.flows
                flows.update(part.flows)
                if part.meter is not None:
                    meters_touched.add(part.meter.meter_id)
                    meters[part.meter.meter_id] = part.meter
        state = DesiredState(flows, groups, meters, missing, weakref.ref(base),
                             frozenset(c for c in came if c not in base.flows),
                             frozenset(c for c in gone if c not in flows), frozenset(meters_touched))
        return state, parts

    def _remember(self, datapath: str, compiled: _Compiled) -> None:
        """Keep it for patching, unless two sources made the same flow or
        meter (then removing one source's could remove the other's)."""
        parts = compiled.parts.values()
        flows = len(compiled.view_flows) + sum(len(p.flows) for p in parts)
        meters = len(compiled.view_meters) + sum(p.meter is not None for p in parts)
        if (flows, meters) == (len(compiled.state.flows), len(compiled.state.meters)):
            self._last[datapath] = compiled
        else:
            self._last.pop(datapath, None)

    def _part(self, view: DatapathView, name: str, ofport: int) -> _PortPart:
        return self._port_part(*self._part_key(view, name, ofport))

    @staticmethod
    def _part_key(view: DatapathView, name: str, ofport: int):
        """(interface, port number, VNI, where its DHCP requests go, None
        without a DHCP service): all a port's part depends on."""
        iface = view.interface(name)
        return iface, ofport, view.vni(iface.network), view.dhcp_target(iface.network)

    def _port_part(self, iface: Interface, ofport: int, vni: int,
                   dhcp_target: Optional[int]) -> _PortPart:
        key = (iface, ofport, vni, dhcp_target)
        found = self._parts.get(key)
        if found is None:
            if len(self._parts) >= self._limit:
                self._parts.clear()
            flows = _checked((f for stage in (classifier_port_flows(iface, ofport, vni),
                                              port_security_port_flows(iface, ofport, dhcp_target),
                                              l2_port_flows(iface, ofport, vni))
                              for f in stage), self._passed)
            found = self._parts[key] = _PortPart(flows, port_meter(iface, ofport,
                                                                   dhcp_target is not None))
        return found


def _same_frame(last: _Compiled, topology: Topology, ports: Mapping[str, int],
                dhcp: FrozenSet[str]) -> bool:
    """Everything but the interfaces is as it was last time."""
    old = last.topology
    return (ports == last.ports and dhcp == last.dhcp_networks
            and all(getattr(old, part) is getattr(topology, part)
                    or getattr(old, part) == getattr(topology, part)
                    for part in ('datapaths', 'networks', 'route_links')))


def compile_datapath(topology: Topology, datapath: str, ports: Mapping[str, int]) -> DesiredState:
    """One compile with a fresh Compiler (tests, tools)."""
    return Compiler().compile(topology, datapath, ports)


class FlowSink(Protocol):
    """Takes a full compile's output while it is made, so that it can be on
    its way to the switch before the compile ends (SwitchSession's first
    install).  `begin` gets every meter and group (all of them, before any
    flow that could use them); `flows` then gets the flows (cookie -> flow)
    in compiled order, a chunk at a time; a flow may come twice.  What the
    compile returns is still the whole truth: the sink's receiver plans
    against it afterwards."""

    def begin(self, meters: Mapping[int, Meter], groups: Mapping[int, Group]) -> None: ...

    def flows(self, flows: Mapping[int, Flow]) -> None: ...


@contextlib.contextmanager
def collector_paused(freeze: bool = False):
    """Flows hold no reference cycles, yet making 100,000 of them would run
    the cyclic collector dozens of times over everything alive.

    `freeze`: what was made lives long (a session's desired state, its
    encodings), so move it out of the collector's reach (gc.freeze, O(1))
    before the collector comes back; otherwise its first pass walks all of
    it (0.1 s at 100,000 flows), holding the GIL the connection's sending
    thread needs.  The session's sync uses it; the app freezes after every
    sync anyway (controller/app.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()
