"""One connected datapath: its ports, what we installed, and how we sync it.

Lifecycle: on connect we read back our own flows (by cookie) and all groups,
so a controller restart reconciles instead of wiping the switch; after that
every sync is `compile -> plan_changes -> send`, and `installed` follows.
"""
from __future__ import annotations

import itertools
import logging
import time

from controller import openflow
from controller.pipeline import DesiredState, compile_datapath
from controller.pipeline.flows import COOKIE_MASK, COOKIE_TAG
from controller.reconcile import Installed, Plan, plan_changes
from controller.topology import HOST

READING, READY = 'reading', 'ready'
# Groups and meters we may own: a flood group's id is its network's VNI, a
# DHCP meter's id is its port number.
OUR_GROUP_IDS = range(1, 1 << 24)
OUR_METER_IDS = range(1, 0xffff0000)
_bundle_ids = itertools.count(1)


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
        self.installed = Installed()
        self.state = READING
        self.errors_since_sync = 0
        self.resyncs = 0
        self._awaiting = set()
        self._in_flight = {}          # barrier xid -> (start time, reason, flow-mod count)

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

    def on_flow_stats(self, msg) -> bool:
        for stat in msg.body:
            self._read.flows[stat.cookie] = openflow.key_from_stats(stat)
        return self._reply_done('flows', msg)

    def on_group_desc(self, msg) -> bool:
        for desc in msg.body:
            if desc.group_id in OUR_GROUP_IDS:
                self._read.groups[desc.group_id] = openflow.group_from_desc(desc)
        return self._reply_done('groups', msg)

    def on_meter_config(self, msg) -> bool:
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
            self.ports.pop(name, None)
        else:
            self.ports[name] = port.port_no

    def interface_at(self, topology, ofport):
        """The topology interface plugged into `ofport` here, or None."""
        for name, number in self.ports.items():
            if number == ofport:
                return topology.ports_on(self.name).get(name)
        return None

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

    def _send(self, plan: Plan) -> None:
        before, bundled, after = openflow.plan_messages(self.dp, plan)
        if self.log.isEnabledFor(logging.DEBUG):
            for m in before + bundled + after:
                self.log.debug('%s: -> %s', self.name, _describe(m))
        for m in before:
            self.dp.send_msg(m)
        if self.use_bundles and bundled:
            self._send_bundle(bundled)
        else:
            for m in bundled:
                self.dp.send_msg(m)
        for m in after:
            self.dp.send_msg(m)
        barrier = self.dp.ofproto_parser.OFPBarrierRequest(self.dp)
        self.dp.send_msg(barrier)
        return barrier.xid

    def on_barrier(self, msg) -> None:
        """The switch has applied everything sent before this barrier."""
        started, reason, count = self._in_flight.pop(msg.xid, (None, None, 0))
        if started is not None:
            self.log.info('%s: %s: applied in %.1f ms (%d flow-mods)', self.label, reason,
                          (time.monotonic() - started) * 1000, count)

    def _send_bundle(self, msgs) -> None:
        """All flow and group changes at once: no packet sees half of them."""
        ofp, parser = self.dp.ofproto, self.dp.ofproto_parser
        bid, flags = next(_bundle_ids), ofp.ONF_BF_ATOMIC | ofp.ONF_BF_ORDERED
        self.dp.send_msg(parser.ONFBundleCtrlMsg(self.dp, bid, ofp.ONF_BCT_OPEN_REQUEST, flags, []))
        for m in msgs:
            self.dp.send_msg(parser.ONFBundleAddMsg(self.dp, bid, flags, m, []))
        self.dp.send_msg(parser.ONFBundleCtrlMsg(self.dp, bid, ofp.ONF_BCT_COMMIT_REQUEST, flags, []))


def _describe(msg) -> str:
    name = type(msg).__name__
    if name == 'OFPFlowMod':
        return (f'flow_mod cmd={msg.command} table={msg.table_id} prio={msg.priority} '
                f'cookie={msg.cookie:#x} match={dict(msg.match.items())}')
    if name == 'OFPMeterMod':
        return f'meter_mod cmd={msg.command} meter={msg.meter_id}'
    if name == 'OFPGroupMod':
        return f'group_mod cmd={msg.command} group={msg.group_id} buckets={len(msg.buckets)}'
    return name
