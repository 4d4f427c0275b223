"""A first install, on its way to the switch while it is still being compiled.

When a switch has nothing of ours (a new bridge, an OVS restart, tables
wiped), every flow of the compile is an add.  Compiling 100,000 flows, then
encoding them, then sending them, then waiting for OVS to check and stage
each one would add the four times up.  Instead the session hands the
compiler a `FirstInstall` (a `controller.pipeline.compiler.FlowSink`): the meters go
out first, outside the bundle as always (OVS cannot bundle meter mods), then
the bundle opens with the groups, and the flows follow as bundle-adds a
chunk at a time, so OVS checks and stages them while the rest compiles.

Nothing reaches the tables before the commit, so the change is still atomic:
the session commits only after the barrier that follows the last add, and
only if no add was refused (`SwitchSession.on_barrier`).  If the compile
fails halfway, `abort` discards the bundle.  After the compile the session
plans the desired state against what was streamed: whatever the stream did
not cover goes into the same bundle before its barrier, so the switch ends
up with exactly the compiled state either way.
"""
from __future__ import annotations

import time
from operator import itemgetter
from typing import Callable, List, Mapping, Optional, Set, Tuple

from controller.openflow import wire
from controller.openflow.reconcile import Installed, Plan, plan_changes
from controller.pipeline import DesiredState
from controller.pipeline.flows import Flow, Group, Meter

# Bytes handed to the connection at a time.  Each hand-over costs the
# sending thread a wait for the GIL (up to the 5 ms switch interval) while
# the compile runs, so chunks are large; OVS reads from the socket buffer
# in the meantime.
FLUSH_BYTES = 512 * 1024
_flow_key = itemgetter(0, 1, 2)       # Flow.key, without the property call


class FirstInstall:
    """Streams one install into one bundle; see the module doc."""

    def __init__(self, dp, next_xid: Callable[[], int], bundle_id: int, flags: int,
                 encode_add: Callable[[int, Flow], bytes]):
        self.dp = dp
        self.bundle_id = bundle_id
        self.flags = flags
        self.started: Optional[float] = None      # monotonic time of the first message
        self.plan = Plan()                        # what has been streamed
        self.add_xids: Set[int] = set()           # the bundle-adds' xids (refusals name them)
        self.after: List[bytes] = []              # stale meters' deletes, after the commit
        self._next_xid = next_xid
        self._encode_add = encode_add
        self._buf = bytearray()
        self._seen: Set[int] = set()

    # -- the compiler's side (FlowSink) ------------------------------------------
    def begin(self, meters: Mapping[int, Meter], groups: Mapping[int, Group]) -> None:
        self.started = time.monotonic()
        plan, buf = self.plan, self._buf
        plan.meter_adds = [meters[i] for i in sorted(meters)]
        plan.group_adds = [groups[i] for i in sorted(groups)]
        for m in plan.meter_adds:
            wire.append(buf, wire.meter_mod(m, wire.OFPMC_ADD), self._next_xid())
        wire.append(buf, wire.bundle_ctrl(self.bundle_id, wire.ONF_BCT_OPEN_REQUEST, self.flags),
                    self._next_xid())
        for g in plan.group_adds:
            self._bundle_add(wire.group_mod(g, wire.OFPGC_ADD))
        self._flush()

    def flows(self, flows: Mapping[int, Flow]) -> None:
        seen = self._seen
        new = flows if seen.isdisjoint(flows) else {c: f for c, f in flows.items() if c not in seen}
        seen.update(new)
        self.plan.add_cookies += new
        self.plan.flow_adds += new.values()
        # consecutive xids, taken from the datapath's counter as _next_xid does
        dp = self.dp
        first = dp.xid + 1
        dp.xid = (first - 1 + len(new)) & 0xffffffff
        xids = range(first, first + len(new))
        self.add_xids.update(xids if xids.stop <= 1 << 32 else (x & 0xffffffff for x in xids))
        buf, bundle_id, flags = self._buf, self.bundle_id, self.flags
        append, encode = wire.append_bundle_add, wire.flow_add
        for xid, (cookie, f) in enumerate(new.items(), first):
            append(buf, bundle_id, flags, encode(f, 0, cookie), xid & 0xffffffff)
        if len(buf) >= FLUSH_BYTES:
            self._flush()

    # -- the session's side ------------------------------------------------------
    def finish(self, desired: DesiredState, installed: Installed) -> Tuple[Plan, int]:
        """Send whatever of `desired` the stream did not cover into the
        bundle, then its barrier; record it all in `installed`.  The whole
        plan, and the barrier's xid (the session commits when its reply
        comes)."""
        streamed = self.plan
        if self._covered(desired):            # as always: the barrier now, bookkeeping after
            check = self._barrier()
            _record_adds(installed, streamed)
            return streamed, check
        _record_adds(installed, streamed)
        rest = plan_changes(desired, installed)
        before, bundled, self.after = wire.plan_messages(rest, self._encode_add)
        for msg in before:
            wire.append(self._buf, msg, self._next_xid())
        for msg in bundled:
            self._bundle_add(msg)
        check = self._barrier()
        installed.apply(rest)
        return _joined(streamed, rest), check

    def _covered(self, desired: DesiredState) -> bool:
        """Did the stream send exactly `desired`?  (The switch had nothing
        of ours, so nothing is stale.)"""
        plan = self.plan
        return (len(self._seen) == len(desired.flows) and not desired.flows.keys() - self._seen
                and {m.meter_id: m for m in plan.meter_adds} == desired.meters
                and {g.group_id: g for g in plan.group_adds} == desired.groups)

    def _barrier(self) -> int:
        check = self._next_xid()
        wire.append(self._buf, wire.barrier(), check)
        self._flush()
        return check

    def abort(self) -> None:
        """The compile failed: drop the open bundle (OVS would keep it until
        the connection closes) and whatever was not sent yet."""
        self._buf = bytearray()
        if self.started is not None:
            wire.append(self._buf, wire.bundle_ctrl(self.bundle_id, wire.ONF_BCT_DISCARD_REQUEST,
                                                    self.flags), self._next_xid())
            self._flush()

    def _bundle_add(self, msg: bytes) -> None:
        xid = self._next_xid()
        wire.append_bundle_add(self._buf, self.bundle_id, self.flags, msg, xid)
        self.add_xids.add(xid)

    def _flush(self) -> None:
        if self._buf:
            self.dp.send(self._buf)           # handed over whole: never touched again
            self._buf = bytearray()


def _record_adds(installed: Installed, streamed: Plan) -> None:
    """installed.apply(streamed), for a switch that had nothing of ours."""
    for m in streamed.meter_adds:
        installed.meters[m.meter_id] = m
    for g in streamed.group_adds:
        installed.groups[g.group_id] = g
    installed.add_flows(streamed.add_cookies, list(map(_flow_key, streamed.flow_adds)))
    installed.synced_to = None


def _joined(first: Plan, then: Plan) -> Plan:
    """One plan for what two sent in a row (for the log, metrics and records)."""
    return Plan(first.meter_adds + then.meter_adds, first.meter_mods + then.meter_mods,
                first.group_adds + then.group_adds, first.group_mods + then.group_mods,
                first.flow_adds + then.flow_adds, first.add_cookies + then.add_cookies,
                first.flow_deletes + then.flow_deletes, first.group_deletes + then.group_deletes,
                first.meter_deletes + then.meter_deletes)
