"""Desired versus installed: the fewest changes that make a switch right.

A flow's cookie fingerprints its whole content (controller.pipeline.flows),
so "installed" only needs cookies and keys.  A changed flow is an ADD that
overwrites the old entry (same table, priority and match); no DELETE is sent
for what an ADD already replaced.  Groups and meters are keyed by id.  The
plan is ordered so that nothing ever refers to what is missing, even without
a bundle: meters and groups first, then flows, then stale flows, then stale
groups and meters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from controller.pipeline import DesiredState
from controller.pipeline.flows import Flow, FlowKey, Group, Meter


@dataclass
class Plan:
    meter_adds: List[Meter] = field(default_factory=list)
    meter_mods: List[Meter] = field(default_factory=list)
    group_adds: List[Group] = field(default_factory=list)
    group_mods: List[Group] = field(default_factory=list)
    flow_adds: List[Flow] = field(default_factory=list)
    add_cookies: List[int] = field(default_factory=list)    # flow_adds' cookies, same order
    flow_deletes: List[Tuple[int, FlowKey]] = field(default_factory=list)  # (cookie, key)
    group_deletes: List[int] = field(default_factory=list)
    meter_deletes: List[int] = field(default_factory=list)

    def __len__(self):
        return sum(len(v) for k, v in vars(self).items() if k != 'add_cookies')

    def adds_with_cookies(self):
        """(cookie, flow) pairs; a cookie is a hash, computed once per flow."""
        if len(self.add_cookies) != len(self.flow_adds):
            self.add_cookies = [f.cookie for f in self.flow_adds]
        return zip(self.add_cookies, self.flow_adds)

    def lines(self) -> List[str]:
        """Every change, one line each (for a debug log)."""
        out = [f'meter {m.meter_id}: {m.rate_pps} pps, burst {m.burst}'
               for m in self.meter_adds + self.meter_mods]
        out += [f'group {g.group_id}: {len(g.buckets)} buckets' for g in self.group_adds + self.group_mods]
        out += [f'add {f.describe()}' for f in self.flow_adds]
        out += [f'delete table={table} priority={priority} {dict(match)} (cookie {cookie:#x})'
                for cookie, (table, priority, match) in self.flow_deletes]
        out += [f'delete group {gid}' for gid in self.group_deletes]
        return out + [f'delete meter {mid}' for mid in self.meter_deletes]

    def summary(self) -> str:
        text = (f'+{len(self.flow_adds)} -{len(self.flow_deletes)} flows, '
                f'+{len(self.group_adds)} ~{len(self.group_mods)} -{len(self.group_deletes)} groups')
        if self.meter_adds or self.meter_mods or self.meter_deletes:
            text += (f', +{len(self.meter_adds)} ~{len(self.meter_mods)} '
                     f'-{len(self.meter_deletes)} meters')
        return text


@dataclass
class Installed:
    """What we believe is on a switch: our flows by cookie, groups and meters by id.

    A group or meter read back from a switch that we could not decode is
    stored as None, which never equals a desired one (so it is rewritten).
    Flows are also indexed by key, so applying a plan costs the size of the
    plan, not of the table.
    """
    flows: Dict[int, FlowKey] = field(default_factory=dict)
    groups: Dict[int, Optional[Group]] = field(default_factory=dict)
    meters: Dict[int, Optional[Meter]] = field(default_factory=dict)

    # The desired state this was last made equal to (set by whoever applied
    # it; any other change clears it): a state patched from that one is
    # planned from its list of changes alone.
    synced_to: Optional[DesiredState] = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        self._by_key = {key: cookie for cookie, key in self.flows.items()}

    def add_flow(self, cookie: int, key: FlowKey) -> None:
        replaced = self._by_key.get(key)
        if replaced is not None and replaced != cookie:
            del self.flows[replaced]          # an ADD replaces the entry with its key
        self.flows[cookie] = key
        self._by_key[key] = cookie

    def add_flows(self, cookies: List[int], keys: List[FlowKey]) -> None:
        """add_flow for each pair, in order; into an empty table (a first
        install) at C speed when no cookie and no key comes twice."""
        if not self.flows:
            flows, by_key = dict(zip(cookies, keys)), dict(zip(keys, cookies))
            if len(flows) == len(by_key) == len(cookies):
                self.flows, self._by_key = flows, by_key
                return
        for cookie, key in zip(cookies, keys):
            self.add_flow(cookie, key)

    def remove_flow(self, cookie: int) -> None:
        key = self.flows.pop(cookie, None)
        if key is not None and self._by_key.get(key) == cookie:
            del self._by_key[key]

    def apply(self, plan: Plan) -> None:
        self.synced_to = None
        for m in plan.meter_adds + plan.meter_mods:
            self.meters[m.meter_id] = m
        for g in plan.group_adds + plan.group_mods:
            self.groups[g.group_id] = g
        for cookie, f in plan.adds_with_cookies():
            self.add_flow(cookie, f.key)
        for cookie, _ in plan.flow_deletes:
            self.remove_flow(cookie)
        for gid in plan.group_deletes:
            self.groups.pop(gid, None)
        for mid in plan.meter_deletes:
            self.meters.pop(mid, None)


def _diff_by_id(desired: Mapping, installed: Mapping):
    adds = [obj for i, obj in sorted(desired.items()) if i not in installed]
    mods = [obj for i, obj in sorted(desired.items()) if i in installed and installed[i] != obj]
    deletes = [i for i in sorted(installed) if i not in desired]
    return adds, mods, deletes


def plan_changes(desired: DesiredState, installed: Installed) -> Plan:
    """The fewest changes, in a deterministic order."""
    plan = Plan()
    plan.group_adds, plan.group_mods, plan.group_deletes = _diff_by_id(desired.groups,
                                                                       installed.groups)
    have, want = installed.flows, desired.flows
    if desired.patched_from(installed.synced_to):
        # The switch has the base state: only what the patch touched can differ.
        new = {c for c in desired.flows_added if c not in have}
        stale = {c for c in desired.flows_removed if c in have and c not in want}
        meters = {i: desired.meters[i] for i in desired.meters_touched if i in desired.meters}
        plan.meter_adds, plan.meter_mods, plan.meter_deletes = _diff_by_id(
            meters, {i: installed.meters[i] for i in desired.meters_touched if i in installed.meters})
    else:
        # Set differences run in C: 100,000 flows cost a few milliseconds.
        new = want.keys() - have.keys()
        stale = have.keys() - want.keys()
        plan.meter_adds, plan.meter_mods, plan.meter_deletes = _diff_by_id(desired.meters,
                                                                           installed.meters)
    # Adds keep the compiled order when most flows are new (a first
    # install), and table order otherwise.
    if len(new) * 4 > len(want):
        plan.add_cookies = [c for c in want if c in new]
    else:
        plan.add_cookies = sorted(new, key=lambda c: (want[c].table, -want[c].priority, c))
    plan.flow_adds = [want[c] for c in plan.add_cookies]
    replaced = {f.key for f in plan.flow_adds}
    plan.flow_deletes = [(c, have[c]) for c in sorted(stale, key=lambda c: (have[c], c))
                         if have[c] not in replaced]
    return plan
