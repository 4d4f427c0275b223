"""One connected datapath: its ports, what we installed, and how we sync it.

Lifecycle: on connect we read back our own flows (by cookie) and all groups,
so a controller restart reconciles instead of wiping the switch; after that
every sync is `compile -> plan_changes -> send`, and `installed` follows.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

from controller.openflow import readback as openflow
from controller.openflow import wire
from controller.openflow.reconcile import Installed, Plan, plan_changes
from controller.pipeline import DesiredState, compile_datapath
from controller.pipeline.flows import COOKIE_MASK, COOKIE_TAG, LEARNED_COOKIE_TAG
from controller.pipeline.l3 import learned_next_hop
from controller.services.resolver import LEARNED_IDLE_SECONDS
from controller.topology import HOST

READING, READY = 'reading', 'ready'
# Groups and meters we may own: a flood group's id is its network's VNI, a
# DHCP meter's id is its port number.
OUR_GROUP_IDS = range(1, 1 << 24)
OUR_METER_IDS = range(1, 0xffff0000)
_bundle_ids = itertools.count(1)
BUNDLE_FLAGS = 0x3             # ONF_BF_ATOMIC | ONF_BF_ORDERED


def port_name(port) -> str:
    name = port.name
    if isinstance(name, bytes):
        name = name.split(b'\0', 1)[0].decode('utf-8', 'replace')
    return name


class SwitchSession:
    def __init__(self, dp, name: str, log: logging.Logger, use_bundles: bool = True):
        self.dp = dp
        self.name = name
        self.log = log
        self.use_bundles = use_bundles
        self.ports = {port_name(p): p.port_no for p in dp.ports.values()}
        self._names = {number: name for name, number in self.ports.items()}
        self.installed = Installed()
        self.state = READING
        self.errors_since_sync = 0
        self.resyncs = 0
        self._awaiting = set()
        self._in_flight = {}          # barrier xid -> (start time, reason, flow-mod count)
        self._staged = {}             # check-barrier xid -> bundle waiting for its commit
        self._encoded = {}            # cookie -> encoded flow-mod, reused on re-sends

    @property
    def label(self) -> str:
        return f'{self.name} (dpid {self.dp.id:#x})'

    # -- reading back what is installed ------------------------------------
    def start_reading(self) -> None:
        ofp, parser = self.dp.ofproto, self.dp.ofproto_parser
        self.state = READING
        self._read = Installed()
        flows = parser.OFPFlowStatsRequest(self.dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY,
                                           ofp.OFPG_ANY, COOKIE_TAG, COOKIE_MASK,
                                           parser.OFPMatch())
        groups = parser.OFPGroupDescStatsRequest(self.dp, 0)
        meters = parser.OFPMeterConfigStatsRequest(self.dp, 0, ofp.OFPM_ALL)
        self._awaiting = {'flows', 'groups', 'meters'}
        for request in (flows, groups, meters):
            self.dp.send_msg(request)

    def on_read_back(self, msg) -> bool:
        """One part of a read-back reply; True once every part has arrived."""
        kind = type(msg).__name__
        if kind == 'OFPFlowStatsReply':
            for stat in msg.body:
                self._read.add_flow(stat.cookie, openflow.key_from_stats(stat))
            return self._reply_done('flows', msg)
        if kind == 'OFPGroupDescStatsReply':
            for desc in msg.body:
                if desc.group_id in OUR_GROUP_IDS:
                    self._read.groups[desc.group_id] = openflow.group_from_desc(desc)
            return self._reply_done('groups', msg)
        for config in msg.body:
            if config.meter_id in OUR_METER_IDS:
                self._read.meters[config.meter_id] = openflow.meter_from_config(config)
        return self._reply_done('meters', msg)

    def _reply_done(self, what: str, msg) -> bool:
        """True once every part of every read-back reply has arrived."""
        if self.state != READING or msg.flags & self.dp.ofproto.OFPMPF_REPLY_MORE:
            return False
        self._awaiting.discard(what)
        if self._awaiting:
            return False
        self.installed, self.state = self._read, READY
        self.log.info('%s: found %d of our flows, %d groups and %d meters installed',
                      self.label, len(self.installed.flows), len(self.installed.groups),
                      len(self.installed.meters))
        return True

    # -- ports --------------------------------------------------------------
    def port_changed(self, port, deleted: bool) -> None:
        name = port_name(port)
        if deleted:
            self._names.pop(self.ports.pop(name, None), None)
        else:
            self._names.pop(self.ports.get(name), None)
            self.ports[name] = port.port_no
            self._names[port.port_no] = name

    def interface_at(self, topology, ofport):
        """The topology interface plugged into `ofport` here, or None."""
        return topology.ports_on(self.name).get(self._names.get(ofport))

    def host_ports(self, topology, network: str):
        """Port numbers of `network`'s host interfaces plugged in here."""
        return sorted(self.ports[i.port] for i in topology.ports_on(self.name).values()
                      if i.network == network and i.mode == HOST and i.port in self.ports)

    # -- syncing ---------------------------------------------------------------
    def sync(self, topology, reason: str) -> Plan:
        """Make the switch match `topology` (None: remove everything of ours)."""
        if self.state != READY:
            return Plan()
        if topology is None or self.name not in topology.datapaths:
            desired = DesiredState()
        else:
            desired = compile_datapath(topology, self.name, self.ports)
        plan = plan_changes(desired, self.installed)
        if plan:
            started = time.monotonic()
            xid = self._send(plan)
            self._in_flight[xid] = (started, reason, len(plan))
            self.installed.apply(plan)
            self.log.info('%s: %s: %s (%d flow-mods%s)', self.label, reason, plan.summary(),
                          len(plan), ', one bundle' if self.use_bundles else '')
        else:
            level = logging.INFO if reason == 'connected' else logging.DEBUG
            self.log.log(level, '%s: %s: already in sync', self.label, reason)
        return plan

    def _send(self, plan: Plan) -> int:
        """Send the plan; returns the xid of the barrier that confirms it.

        Messages are encoded straight to bytes (controller/wire.py, byte for
        byte what os-ken would send) and written at once: at 100,000 flows
        os-ken's message objects and 16-message send queue cost seconds.
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

    def learn_next_hop(self, vni: int, ip, mac: str) -> None:
        """Install a next hop resolved by ARP.  Its own cookie tag keeps the
        reconciler away from it; the switch expires it when idle."""
        f = learned_next_hop(vni, ip, mac)
        self.dp.send(wire.flow_add(f, self._next_xid(), cookie=LEARNED_COOKIE_TAG | int(ip),
                                   idle_timeout=LEARNED_IDLE_SECONDS))

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
        bid = next(_bundle_ids)
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
        self._staged[check] = _StagedBundle(bid, xids, after)
        return check

    def _log_plan(self, plan: Plan) -> None:
        for m in plan.meter_adds + plan.meter_mods:
            self.log.debug('%s: -> meter %d: %d pps, burst %d', self.name, m.meter_id,
                           m.rate_pps, m.burst)
        for g in plan.group_adds + plan.group_mods:
            self.log.debug('%s: -> group %d: %d buckets', self.name, g.group_id, len(g.buckets))
        for f in plan.flow_adds:
            self.log.debug('%s: -> add %s', self.name, f.describe())
        for cookie, (table, priority, match) in plan.flow_deletes:
            self.log.debug('%s: -> delete table=%d priority=%d %s (cookie %#x)', self.name,
                           table, priority, dict(match), cookie)
        for gid in plan.group_deletes:
            self.log.debug('%s: -> delete group %d', self.name, gid)
        for mid in plan.meter_deletes:
            self.log.debug('%s: -> delete meter %d', self.name, mid)

    def on_error(self, msg) -> None:
        self.errors_since_sync += 1
        for staged in self._staged.values():
            if msg.xid in staged.add_xids:
                staged.refused += 1

    def on_barrier(self, msg) -> None:
        """The switch has processed everything sent before this barrier."""
        staged = self._staged.pop(msg.xid, None)
        if staged is not None:
            self._finish_bundle(msg.xid, staged)
            return
        started, reason, count = self._in_flight.pop(msg.xid, (None, None, 0))
        if started is not None:
            self.log.info('%s: %s: applied in %.1f ms (%d flow-mods)', self.label, reason,
                          (time.monotonic() - started) * 1000, count)

    def _finish_bundle(self, check_xid, staged) -> None:
        buf = bytearray()
        if staged.refused:
            wire.append(buf, wire.bundle_ctrl(staged.bundle_id, wire.ONF_BCT_DISCARD_REQUEST,
                                              BUNDLE_FLAGS), self._next_xid())
            self.dp.send(bytes(buf))
            self._encoded.clear()         # whatever was refused must not be cached
            self.log.error('%s: the switch refused %d messages of a change; nothing of it was '
                           'applied', self.label, staged.refused)
            self._in_flight.pop(check_xid, None)
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


@dataclass
class _StagedBundle:
    bundle_id: int
    add_xids: set
    after: list
    refused: int = 0
