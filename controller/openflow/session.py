"""One connected datapath: its ports, what we installed, and how we sync it.

The session is a state machine; it owns every transition and its retry
policy, and the app only feeds it events:

    READING  --all read-back replies in-->  READY
    READY    --the switch refused part of a change, barrier-->  READING (re-read)
             (after MAX_REREADS re-reads without a clean change: GAVE_UP)
    GAVE_UP  --a change confirmed without errors-->  READY
    any      --retire()-->  RETIRING  --removal confirmed-->  RETIRED
    any      --the connection dropped-->  CLOSED

On connect we read back our own flows (by cookie), all groups and meters, so
a controller restart reconciles instead of wiping the switch; after that
every sync is `compile -> plan_changes -> send`, and `installed` follows.
"""
from __future__ import annotations

import itertools
import logging
import time
from typing import Dict, List, Optional

from controller.openflow import readback, wire
from controller.openflow.firstinstall import FirstInstall
from controller.openflow.observer import SessionObserver
from controller.openflow.reconcile import Installed, Plan, plan_changes
from controller.openflow.session_records import (
    Change,
    ReadBack,
    StagedBundle,
    State,
    SyncRecord,
    port_name,
)
from controller.pipeline import Compiler, DesiredState
from controller.pipeline.compiler import collector_paused
from controller.pipeline.flows import COOKIE_MASK, COOKIE_TAG, OFPP_LOCAL, Flow
from controller.pipeline.service_port import without_service_port
from controller.topology import HOST, Interface, Topology

# Groups and meters we may own: a flood group's id is its network's VNI, a
# DHCP meter's id is its port number.
OUR_GROUP_IDS = range(1, 1 << 24)
OUR_METER_IDS = range(1, 0xffff0000)
BUNDLE_FLAGS = 0x3             # ONF_BF_ATOMIC | ONF_BF_ORDERED
MAX_REREADS = 3                # re-reads after refused changes before giving up


class SwitchSession:
    def __init__(self, dp, name: str, log: logging.Logger, use_bundles: bool = True,
                 compiler: Optional[Compiler] = None, observer: Optional[SessionObserver] = None):
        self.dp = dp
        self.name = name
        self.log = log
        self.use_bundles = use_bundles
        self.compiler = compiler or Compiler()
        self.observer = observer or SessionObserver()     # metrics (controller.observe)
        self.ports: Dict[str, int] = {port_name(p): p.port_no for p in dp.ports.values()}
        self._names = {number: name for name, number in self.ports.items()}
        self.macs: Dict[str, str] = {port_name(p): getattr(p, 'hw_addr', '') for p in dp.ports.values()}
        self.installed = Installed()
        self.state = State.READING
        self.rereads = 0
        self._read = ReadBack()
        self._in_flight: Dict[int, Change] = {}      # barrier xid -> change it confirms
        self._staged: Dict[int, StagedBundle] = {}   # check-barrier xid -> bundle to commit
        self._encoded: Dict[int, bytes] = {}          # cookie -> encoded flow-mod, reused
        self._bundle_ids = itertools.count(1)
        self.tunnel_port_missing = False
        # With several controllers only the confirmed master writes (see
        # controller/ha): while this is False the session sends nothing but
        # reads, and keeps its view of the switch for when it takes over.
        self.writable = True
        # the app answers on the bridge's service port (controller.services.service_port)
        self.service_port_open = False
        self.read_reason = 'connected'
        self.since = time.time()                      # connected (or adopted) at
        self.last_sync: Optional[SyncRecord] = None

    @property
    def label(self) -> str:
        return f'{self.name} (dpid {self.dp.id:#x})'

    @property
    def dpid(self) -> int:
        return self.dp.id

    def _become(self, state: State) -> None:
        if state is not self.state:
            self.log.debug('%s: %s -> %s', self.label, self.state.value, state.value)
            self.state = state

    # -- reading back what is installed ------------------------------------
    def start_reading(self, reason: str = 'connected') -> None:
        ofp, parser = self.dp.ofproto, self.dp.ofproto_parser
        self.read_reason = reason
        self._become(State.READING)
        self._read = ReadBack()
        flows = parser.OFPFlowStatsRequest(self.dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY,
                                           ofp.OFPG_ANY, COOKIE_TAG, COOKIE_MASK,
                                           parser.OFPMatch())
        groups = parser.OFPGroupDescStatsRequest(self.dp, 0)
        meters = parser.OFPMeterConfigStatsRequest(self.dp, 0, ofp.OFPM_ALL)
        for request in (flows, groups, meters):
            self.dp.send_msg(request)

    def on_read_back(self, msg) -> bool:
        """One part of a read-back reply; True once every part has arrived
        (the session is then READY and the app should sync it)."""
        kind = type(msg).__name__
        found = self._read.found
        if kind == 'OFPFlowStatsReply':
            for stat in msg.body:
                found.add_flow(stat.cookie, readback.key_from_stats(stat))
            return self._reply_done('flows', msg)
        if kind == 'OFPGroupDescStatsReply':
            for desc in msg.body:
                if desc.group_id in OUR_GROUP_IDS:
                    found.groups[desc.group_id] = readback.group_from_desc(desc)
            return self._reply_done('groups', msg)
        for config in msg.body:
            if config.meter_id in OUR_METER_IDS:
                found.meters[config.meter_id] = readback.meter_from_config(config)
        return self._reply_done('meters', msg)

    def _reply_done(self, what: str, msg) -> bool:
        if self.state is not State.READING or msg.flags & self.dp.ofproto.OFPMPF_REPLY_MORE:
            return False
        self._read.awaiting.discard(what)
        if self._read.awaiting:
            return False
        self.installed = self._read.found
        self._become(State.GAVE_UP if self.rereads > MAX_REREADS else State.READY)
        self.log.info('%s: found %d of our flows, %d groups and %d meters installed',
                      self.label, len(self.installed.flows), len(self.installed.groups),
                      len(self.installed.meters))
        return True

    # -- ports --------------------------------------------------------------
    def port_changed(self, port, deleted: bool) -> None:
        name = port_name(port)
        if deleted:
            self._names.pop(self.ports.pop(name, -1), None)
            self.macs.pop(name, None)
        else:
            self.macs[name] = getattr(port, 'hw_addr', '')   # test fakes have none
            self._names.pop(self.ports.get(name, -1), None)
            self.ports[name] = port.port_no
            self._names[port.port_no] = name

    def port_name(self, number: int) -> Optional[str]:
        return self._names.get(number)

    def interface_at(self, topology: Topology, ofport: int) -> Optional[Interface]:
        """The topology interface plugged into `ofport` here, or None."""
        name = self._names.get(ofport)
        return topology.ports_on(self.name).get(name) if name is not None else None

    def host_ports(self, topology: Topology, network: str) -> List[int]:
        """Port numbers of `network`'s host interfaces plugged in here."""
        return sorted(self.ports[i.port] for i in topology.ports_on(self.name).values()
                      if i.network == network and i.mode == HOST and i.port in self.ports)

    # -- syncing ---------------------------------------------------------------
    def sync(self, topology: Optional[Topology], reason: str) -> Plan:
        """Make the switch match `topology` (None: remove everything of ours)."""
        if self.state not in (State.READY, State.GAVE_UP) or not self.writable:
            return Plan()
        with collector_paused(freeze=True):     # 100,000 flows compiled, planned and encoded
            return self._sync(topology, reason)

    def _sync(self, topology: Optional[Topology], reason: str) -> Plan:
        stream = None
        if topology is None or self.name not in topology.datapaths:
            desired = DesiredState()
        else:
            stream = self._first_install()
            desired = self._compile(topology, stream)
            self._check_tunnel_port(topology, desired.tunnel_port_missing)
        if stream is not None and stream.started is not None:
            started = stream.started
            plan, xid = stream.finish(desired, self.installed)
            self._staged[xid] = StagedBundle(stream.bundle_id, stream.add_xids, stream.after)
            if self.log.isEnabledFor(logging.DEBUG):
                self._log_plan(plan)
        else:
            plan = plan_changes(desired, self.installed)
            started = time.monotonic()
            if plan:
                xid = self._send(plan)
                self.installed.apply(plan)
        if plan:
            self._in_flight[xid] = Change(started, reason, len(plan), bundled=xid in self._staged)
            self.observer.sent(self.name, len(plan.flow_adds) + len(plan.flow_deletes))
            self.log.info('%s: %s: %s (%d flow-mods%s)', self.label, reason, plan.summary(),
                          len(plan), ', one bundle' if self.use_bundles else '')
        else:
            now = time.monotonic()
            self.last_sync = SyncRecord(reason, time.time(), 0.0, 0, True, now)
            level = logging.INFO if reason in ('connected', 'became master') else logging.DEBUG
            self.log.log(level, '%s: %s: already in sync', self.label, reason)
        self.installed.synced_to = desired    # the next compile's patch is planned from this
        return plan

    def _first_install(self) -> Optional[FirstInstall]:
        """A switch with nothing of ours gets its flows while they compile."""
        have = self.installed
        if not self.use_bundles or have.flows or have.groups or have.meters:
            return None
        return FirstInstall(self.dp, self._next_xid, next(self._bundle_ids), BUNDLE_FLAGS,
                            self._encoded_add)

    def _compile(self, topology: Topology, stream: Optional[FirstInstall]) -> DesiredState:
        try:
            ports = self.ports if self.service_port_open else without_service_port(self.ports)
            return self.compiler.compile(topology, self.name, ports, stream)
        except BaseException:
            if stream is not None:
                stream.abort()
            raise

    def _check_tunnel_port(self, topology: Topology, missing: bool) -> None:
        """Say once, with the command that fixes it, that the bridge lacks its
        VXLAN port (and once when it is back)."""
        if missing == self.tunnel_port_missing:
            return
        self.tunnel_port_missing = missing
        conf = topology.datapaths[self.name]
        if not missing:
            self.log.info('%s: tunnel port %s found; forwarding to other datapaths', self.label,
                          conf.tunnel_port)
            return
        bridge = self._names.get(OFPP_LOCAL, self.name)
        self.log.warning(
            '%s: the bridge has no tunnel port %s, so nothing reaches other datapaths; add it with: '
            'ovs-vsctl add-port %s %s -- set interface %s type=vxlan options:remote_ip=flow '
            'options:key=flow options:local_ip=%s', self.label, conf.tunnel_port, bridge,
            conf.tunnel_port, conf.tunnel_port, conf.tunnel_ip or '<tunnel_ip>')

    def retire(self, reason: str) -> None:
        """The datapath left the topology: remove exactly our flows, and stay
        until the switch confirms it (a bundle needs its barrier to commit)."""
        self.sync(None, reason)
        self._become(State.RETIRING if self._in_flight or self._staged else State.RETIRED)

    def set_writable(self, writable: bool) -> None:
        """Roles: only the master writes.  Losing that drops what is in
        flight (the next master reconciles from what the switch has)."""
        self.writable = writable
        if not writable:
            self._staged.clear()
            self._in_flight.clear()

    def closed(self) -> None:
        self._become(State.CLOSED)

    @property
    def changing(self) -> bool:
        """Reading the switch back, or a change not yet confirmed: the
        event thread is busy with this switch, and counters can wait."""
        return self.state is State.READING or bool(self._in_flight or self._staged)

    def install_flow(self, f: Flow, cookie: int, idle_timeout: int) -> None:
        """Install a flow outside the desired state (its own cookie tag keeps
        the reconciler away from it; the switch expires it when idle)."""
        if not self.writable:
            return
        self.dp.send(wire.flow_add(f, self._next_xid(), cookie=cookie, idle_timeout=idle_timeout))
        self.observer.sent(self.name, 1)

    def _send(self, plan: Plan) -> int:
        """Send the plan; returns the xid of the barrier that confirms it.

        Messages are encoded straight to bytes (wire.py, byte for byte what
        os-ken would send) and written at once: at 100,000 flows os-ken's
        message objects and 16-message send queue cost seconds.
        """
        if self.log.isEnabledFor(logging.DEBUG):
            self._log_plan(plan)
        before, bundled, after = wire.plan_messages(plan, self._encoded_add)
        for cookie, _ in plan.flow_deletes:
            self._encoded.pop(cookie, None)
        buf = bytearray()
        for msg in before:
            wire.append(buf, msg, self._next_xid())
        if self.use_bundles and bundled:
            return self._stage_bundle(buf, bundled, after)
        for msg in bundled + after:
            wire.append(buf, msg, self._next_xid())
        check = self._next_xid()
        wire.append(buf, wire.barrier(), check)
        self.dp.send(bytes(buf))
        return check

    def _encoded_add(self, cookie: int, f) -> bytes:
        msg = self._encoded.get(cookie)
        if msg is None:
            msg = self._encoded[cookie] = wire.flow_add(f, cookie=cookie)
        return msg

    def _next_xid(self) -> int:
        """Take the next xid from the datapath's own counter, as send_msg does."""
        self.dp.xid = (self.dp.xid + 1) & 0xffffffff
        return self.dp.xid

    def _stage_bundle(self, buf: bytearray, msgs, after) -> int:
        """Open a bundle and add every flow/group change, then a barrier.

        OVS checks each message when it is added and would commit the rest
        if one were refused; so the commit waits for the barrier, and goes
        ahead only if no add was refused (see on_barrier).  Either all of
        the change reaches the tables at once, or none of it.
        """
        bid = next(self._bundle_ids)
        wire.append(buf, wire.bundle_ctrl(bid, wire.ONF_BCT_OPEN_REQUEST, BUNDLE_FLAGS),
                    self._next_xid())
        xids = set()
        for msg in msgs:
            xid = self._next_xid()
            wire.append_bundle_add(buf, bid, BUNDLE_FLAGS, msg, xid)
            xids.add(xid)
        check = self._next_xid()
        wire.append(buf, wire.barrier(), check)
        self.dp.send(bytes(buf))
        self._staged[check] = StagedBundle(bid, xids, after)
        return check

    def _log_plan(self, plan: Plan) -> None:
        for line in plan.lines():
            self.log.debug('%s: -> %s', self.name, line)

    # -- what the switch answers ----------------------------------------------
    def on_error(self, msg) -> None:
        """The switch refused a message: count it against the change it belongs to."""
        for staged in self._staged.values():
            if msg.xid in staged.add_xids:
                staged.refused += 1
        for change in self._in_flight.values():
            change.errors += 1

    def on_barrier(self, msg) -> None:
        """The switch has processed everything sent before this barrier."""
        staged = self._staged.pop(msg.xid, None)
        if staged is not None:
            self._finish_bundle(msg.xid, staged)
            return
        change = self._in_flight.pop(msg.xid, None)
        if change is None:
            return
        self._record(change)
        if change.errors:
            self._after_refusal()
        else:
            self.log.info('%s: %s: applied in %.1f ms (%d flow-mods)', self.label, change.reason,
                          (time.monotonic() - change.started) * 1000, change.count)
            self._after_success()

    def _record(self, change: Change) -> None:
        took = time.monotonic() - change.started
        self.last_sync = SyncRecord(change.reason, time.time() - took, took, change.count,
                                    not change.errors, change.started)
        self.observer.applied(self.name, took, change.count, not change.errors, change.bundled)

    def _after_success(self) -> None:
        if self.state is State.RETIRING and not self._in_flight and not self._staged:
            self._become(State.RETIRED)
        elif self.state is State.GAVE_UP:
            self.rereads = 0
            self._become(State.READY)

    def _after_refusal(self) -> None:
        """Part of a change was refused: what we believe is installed may be
        wrong, so re-read the switch and converge (a bounded number of times)."""
        if self.state in (State.RETIRING, State.RETIRED, State.CLOSED):
            self._after_success()
            return
        self.rereads += 1
        if self.rereads <= MAX_REREADS:
            self.log.warning('%s: re-reading the switch after errors', self.label)
            self.start_reading()
        else:
            self.log.error('%s: changes keep being refused; not re-reading again until one '
                           'succeeds', self.label)
            self._become(State.GAVE_UP)

    def _finish_bundle(self, check_xid: int, staged: StagedBundle) -> None:
        buf = bytearray()
        if staged.refused:
            wire.append(buf, wire.bundle_ctrl(staged.bundle_id, wire.ONF_BCT_DISCARD_REQUEST,
                                              BUNDLE_FLAGS), self._next_xid())
            self.dp.send(bytes(buf))
            self._encoded.clear()         # whatever was refused must not be cached
            self.log.error('%s: the switch refused %d messages of a change; nothing of it was '
                           'applied', self.label, staged.refused)
            refused = self._in_flight.pop(check_xid, None)
            if refused is not None:
                refused.errors = max(refused.errors, staged.refused)
                self._record(refused)
            self._after_refusal()
            return
        wire.append(buf, wire.bundle_ctrl(staged.bundle_id, wire.ONF_BCT_COMMIT_REQUEST,
                                          BUNDLE_FLAGS), self._next_xid())
        for msg in staged.after:
            wire.append(buf, msg, self._next_xid())
        done = self._next_xid()
        wire.append(buf, wire.barrier(), done)
        self.dp.send(bytes(buf))
        if check_xid in self._in_flight:
            self._in_flight[done] = self._in_flight.pop(check_xid)

