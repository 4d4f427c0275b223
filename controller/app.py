"""The os-ken application: a thin shell over the pure layers.

It turns switch events into calls on SwitchSession and keeps nothing else.
Start it with `ryu-manager controller.app` (see controller/launcher.py).
"""
import logging

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3

from controller import openflow, options
from controller.packet_in import PacketInHandler, packet_out
from controller.switch import SwitchSession
from controller.topology import load_topology

LOG = logging.getLogger('vnet')
MAX_RESYNCS_AFTER_ERRORS = 3


class VnetApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        options.register(self.CONF)
        self.topology_path = options.topology_path(self.CONF)
        self.topology = load_topology(self.topology_path)  # the launcher validated it
        self.sessions = {}
        self.packet_ins = PacketInHandler(LOG)
        LOG.info('topology %s: %d datapaths, %d networks, %d interfaces, %d route links',
                 self.topology_path, len(self.topology.datapaths), len(self.topology.networks),
                 len(self.topology.interfaces), len(self.topology.route_links))

    # -- connection ---------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev):
        dp = ev.datapath
        if ev.state == DEAD_DISPATCHER:
            session = self.sessions.get(dp.id)
            if session is not None and session.dp is dp:
                del self.sessions[dp.id]
                LOG.info('%s: disconnected', session.label)
            return
        conf = self.topology.datapath_by_dpid(dp.id)
        if conf is None:
            LOG.warning('datapath %#x is not in %s; leaving it alone', dp.id, self.topology_path)
            return
        session = SwitchSession(dp, conf.name, LOG, use_bundles=self.CONF.bundles)
        self.sessions[dp.id] = session
        LOG.info('%s: connected with %d ports', session.label, len(session.ports))
        session.start_reading()

    def _session(self, msg):
        return self.sessions.get(msg.datapath.id)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev):
        session = self._session(ev.msg)
        if session and session.on_flow_stats(ev.msg):
            session.sync(self.topology, 'connected')

    @set_ev_cls(ofp_event.EventOFPGroupDescStatsReply, MAIN_DISPATCHER)
    def _group_desc(self, ev):
        session = self._session(ev.msg)
        if session and session.on_group_desc(ev.msg):
            session.sync(self.topology, 'connected')

    @set_ev_cls(ofp_event.EventOFPMeterConfigStatsReply, MAIN_DISPATCHER)
    def _meter_config(self, ev):
        session = self._session(ev.msg)
        if session and session.on_meter_config(ev.msg):
            session.sync(self.topology, 'connected')

    # -- ports come and go --------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        session = self._session(ev.msg)
        if session is None:
            return
        ofp = ev.msg.datapath.ofproto
        deleted = ev.msg.reason == ofp.OFPPR_DELETE
        session.port_changed(ev.msg.desc, deleted)
        what = 'deleted' if deleted else 'added' if ev.msg.reason == ofp.OFPPR_ADD else 'modified'
        session.sync(self.topology, f'port {what}')

    # -- errors and the unexpected ------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev):
        msg, session = ev.msg, self._session(ev.msg)
        label = session.label if session else f'{msg.datapath.id:#x}'
        LOG.error('%s: switch refused a message: %s (first bytes: %s)', label,
                  openflow.describe_error(msg.datapath.ofproto, msg.type, msg.code),
                  bytes(msg.data or b'')[:48].hex())
        if session:
            session.errors_since_sync += 1

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier(self, ev):
        """After an error, re-read the switch and converge (a bounded number of times)."""
        session = self._session(ev.msg)
        if not session or not session.errors_since_sync:
            return
        session.errors_since_sync = 0
        session.resyncs = getattr(session, 'resyncs', 0) + 1
        if session.resyncs <= MAX_RESYNCS_AFTER_ERRORS:
            LOG.warning('%s: re-reading the switch after errors', session.label)
            session.start_reading()

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg, session = ev.msg, self._session(ev.msg)
        if session is None:
            return
        in_port = msg.match.get('in_port')
        iface = session.interface_at(self.topology, in_port)
        reply = self.packet_ins.handle(self.topology, session.label, iface, bytes(msg.data))
        if reply is not None:
            msg.datapath.send_msg(packet_out(msg.datapath, in_port, reply))
