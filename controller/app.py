"""The os-ken application: a thin shell over the pure layers.

It turns switch events into calls on SwitchSession, packet-ins into calls
on the services registry, and topology file changes into a reload that
every session syncs to.  Everything runs in the app's one event thread (the
file watcher only posts an event), so a reload never races a switch event.
Start it with `ryu-manager controller.app`.
"""
import gc
import logging
import signal
import time
from typing import Dict, Optional

from os_ken.base import app_manager
from os_ken.controller import event, ofp_event
from os_ken.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from controller import ha, options, sources
from controller.api import ApiServer, History, PortStats
from controller.observe import metrics
from controller.observe.dropstats import DropStats
from controller.openflow import readback
from controller.openflow.session import State, SwitchSession
from controller.pipeline import Compiler
from controller.pipeline.punt import REASON_REG
from controller.services import PacketIn, build_registry
from controller.services.actions import Action, InstallFlow, SendFrame
from controller.services.service_port import ServicePorts
from controller.topology import Topology, TopologyError
from controller.topology.diff import affected_datapaths, describe
from controller.watch import POLL_SECONDS

LOG = logging.getLogger('vnet')


class EventTopologyFile(event.EventBase):
    """The topology file has new content, already read and validated by the
    watcher thread (so a big file never holds up a packet-in): `topology`,
    or the `error` that refused it."""

    def __init__(self, topology: Optional[Topology] = None, error: Optional[TopologyError] = None,
                 digest: Optional[str] = None, started: float = 0.0, origin: str = ''):
        super().__init__()
        self.topology, self.error = topology, error
        self.origin = origin        # the file, or etcd://.../topology@REVISION
        self.digest, self.started = digest, started     # content hash; monotonic, reading began


class EventSendFrame(event.EventBase):
    """A frame a service sends later, from another thread (the dns
    forwarder's upstream answers): a packet-out from the event thread."""

    def __init__(self, dpid: int, port: int, frame: bytes):
        super().__init__()
        self.dpid, self.port, self.frame = dpid, port, frame


class VnetApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        preloaded: Optional[options.Preloaded] = kwargs.pop(options.PRELOADED_CONTEXT, None)
        super().__init__(*args, **kwargs)
        options.register(self.CONF)
        self.topology_path = options.topology_path(self.CONF)
        # the file or etcd:// (controller.sources): the first topology, then its edits
        self.source = sources.open_source(self.topology_path, sources.cache_dir(self.CONF),
                                          preloaded)
        self.topology, digest = self.source.topology, self.source.digest
        self.compiler = Compiler()
        self.sessions: Dict[int, SwitchSession] = {}
        self.retiring: Dict[int, SwitchSession] = {}   # left the topology; removal in flight
        self.strangers: Dict[int, object] = {}         # connected but not in the topology
        self._hup = False
        try:
            signal.signal(signal.SIGHUP, self._on_sighup)
        except ValueError:            # not the main thread (embedded use): watch only
            pass
        self.services = build_registry(LOG, lambda dpid, port, frame: self.send_event(
            self.name, EventSendFrame(dpid, port, frame)))
        # DHCP and DNS answered on bridges' service ports, each by a thread of its own
        self.service_ports = ServicePorts(self.services, lambda: self.topology, self._later, LOG,
                                          by_device=self.CONF.answers_by_device)
        # several controllers: leader election and OpenFlow roles (None: the only one)
        self.failover = ha.Failover.configure(
            self.CONF.election, self.topology_path, self.CONF.election_ttl,
            self.CONF.ofp_tcp_listen_port, lambda o: self.send_event(self.name, ha.EventLeadership(o)),
            LOG)
        self.history = History()         # for the API: changes, refusals, disconnections
        self.history.applied('started', digest, 'start', None, time.monotonic())
        self.port_stats = PortStats()
        self.drops = DropStats(lambda: list(self.sessions.values()))   # /v1/drops and /metrics
        metrics.bind(self)
        self.api = ApiServer.start_for(self, options.api_listen(self.CONF),
                                       self.CONF.api_token_file, LOG)
        LOG.info('topology %s: %d datapaths, %d networks, %d interfaces, %d route links',
                 self.topology_path, len(self.topology.datapaths), len(self.topology.networks),
                 len(self.topology.interfaces), len(self.topology.route_links))

    def start(self):
        thread = super().start()
        self.threads.append(hub.spawn(self._watch_loop))
        self.threads.append(hub.spawn(self.drops.run, lambda: self.is_active))
        if self.failover is not None:
            self.threads.append(hub.spawn(self.failover.run))
        if self.api is not None:
            self.threads.append(hub.spawn(self.api.serve))
        return thread

    def stop(self):
        self.service_ports.close_all()
        if self.failover is not None:
            self.failover.stop()
        if self.api is not None:
            self.api.close()
        super().stop()

    # -- topology file ----------------------------------------------------------
    def _on_sighup(self, signum, frame):
        self._hup = True

    def _watch_loop(self):
        LOG.info('watching %s for edits (%s)', self.source.name, self.source.mode)
        while self.is_active:
            forced, self._hup = self._hup, False
            for new in self.source.poll(POLL_SECONDS, forced):
                self.send_event(self.name, EventTopologyFile(new.topology, new.error, new.digest,
                                                             new.started, new.origin))

    @set_ev_cls(EventTopologyFile)
    def _topology_file(self, ev):
        if ev.error is not None:
            LOG.error('refusing the edit of %s; the last good topology keeps running:\n%s',
                      ev.origin or self.topology_path, ev.error)
            self.history.refused(ev.error.problems, ev.digest, 'file')
            metrics.reload('refused')
            return
        new = ev.topology
        affected = affected_datapaths(self.topology, new)
        summary = describe(self.topology, new)
        LOG.info('topology %s changed: %s (%s)', ev.origin or self.topology_path, summary,
                 'every datapath may change' if affected is None else
                 f'{len(affected)} of {len(new.datapaths)} datapaths may change')
        self.topology = new
        self.history.applied(summary, ev.digest, 'file', affected,
                             ev.started, time.monotonic() - ev.started)
        metrics.reload('unchanged' if affected is not None and not affected else 'applied')
        self._resync_all('topology change', affected)
        # What survives an apply lives long (100,000 flows, their encodings):
        # out of the collector's reach, a full collection no longer walks it
        # (that took 0.3-0.5 s at 10,000 interfaces, in the middle of edits).
        gc.freeze()

    def _resync_all(self, reason, affected=None):
        """Sync every session (or those of the `affected` datapaths: the
        others would compile to the same flows)."""
        for dpid, session in list(self.sessions.items()):
            conf = self.topology.datapath_by_dpid(dpid)
            if conf is None:
                LOG.info('%s: no longer in the topology; removing our flows', session.label)
                del self.sessions[dpid]
                self.service_ports.close(dpid)
                session.retire(reason)
                self._forget_if_retired(session)
                continue
            if affected is not None and conf.name == session.name and conf.name not in affected:
                continue
            session.name = conf.name
            session.sync(self.topology, reason)
        for dpid, dp in list(self.strangers.items()):
            if self.topology.datapath_by_dpid(dpid) is not None:
                del self.strangers[dpid]
                self._adopt(dp)

    def _forget_if_retired(self, session: SwitchSession) -> None:
        """A retired session's switch stays connected: it becomes a stranger
        (adopted again if an edit brings its datapath back)."""
        if session.state is State.RETIRED:
            self.retiring.pop(session.dpid, None)
            self.strangers[session.dpid] = session.dp
            if self.topology.datapath_by_dpid(session.dpid) is not None:
                del self.strangers[session.dpid]
                self._adopt(session.dp)
        else:
            self.retiring[session.dpid] = session

    # -- connection ---------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev):
        dp = ev.datapath
        if ev.state == DEAD_DISPATCHER:
            self.strangers.pop(dp.id, None)
            for table in (self.sessions, self.retiring):
                session = table.get(dp.id)
                if session is not None and session.dp is dp:
                    del table[dp.id]
                    self.service_ports.close(dp.id)          # (nothing, if none is open)
                    session.closed()
                    self.history.disconnected(dp.id)
                    LOG.info('%s: disconnected', session.label)
            return
        self._adopt(dp)

    def _adopt(self, dp):
        conf = self.topology.datapath_by_dpid(dp.id)
        if conf is None:
            LOG.warning('datapath %#x is not in %s; leaving it alone', dp.id, self.topology_path)
            self.strangers[dp.id] = dp
            return
        session = SwitchSession(dp, conf.name, LOG, use_bundles=self.CONF.bundles,
                                compiler=self.compiler, observer=metrics.SESSIONS)
        self.sessions[dp.id] = session
        LOG.info('%s: connected with %d ports', session.label, len(session.ports))
        self.service_ports.update(session)
        if self.failover is not None:
            self.failover.keeper.adopt(session)       # the role request goes before the reads
        session.start_reading()

    def _session(self, msg) -> Optional[SwitchSession]:
        dpid = msg.datapath.id
        return self.sessions.get(dpid) or self.retiring.get(dpid)

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPGroupDescStatsReply,
                 ofp_event.EventOFPMeterConfigStatsReply], MAIN_DISPATCHER)
    def _read_back(self, ev):
        """Our flows, the groups and the meters as the switch has them; once
        all three are in, reconcile."""
        if self.drops.on_reply(ev.msg):           # drop counters (controller.observe.dropstats)
            return
        session = self._session(ev.msg)
        if session and session.on_read_back(ev.msg):
            session.sync(self.topology, session.read_reason)
            gc.freeze()           # see _topology_file

    # -- ports come and go --------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        session = self.sessions.get(ev.msg.datapath.id)
        if session is None:
            return
        ofp = ev.msg.datapath.ofproto
        deleted = ev.msg.reason == ofp.OFPPR_DELETE
        session.port_changed(ev.msg.desc, deleted)
        self.service_ports.update(session)
        what = 'deleted' if deleted else 'added' if ev.msg.reason == ofp.OFPPR_ADD else 'modified'
        metrics.port_changed(session.name, what)
        session.sync(self.topology, f'port {what}')

    # -- what the switch answers ------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev):
        msg, session = ev.msg, self._session(ev.msg)
        if session and self.failover is not None and self.failover.keeper.on_error(session, msg):
            return
        label = session.label if session else f'{msg.datapath.id:#x}'
        LOG.error('%s: switch refused a message: %s (first bytes: %s)', label,
                  readback.describe_error(msg.datapath.ofproto, msg.type, msg.code),
                  bytes(msg.data or b'')[:48].hex())
        if session:
            session.on_error(msg)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier(self, ev):
        session = self._session(ev.msg)
        if session is None:
            return
        session.on_barrier(ev.msg)
        if session.dpid in self.retiring:
            self._forget_if_retired(session)

    @set_ev_cls(ofp_event.EventOFPPortStatsReply, MAIN_DISPATCHER)
    def _port_stats(self, ev):
        self.port_stats.on_reply(ev.msg)       # asked by the API (controller.api.portstats)

    @set_ev_cls(ofp_event.EventOFPMeterStatsReply, MAIN_DISPATCHER)
    def _meter_stats(self, ev):
        self.drops.on_reply(ev.msg)            # what meters dropped (controller.observe.dropstats)

    @set_ev_cls(ofp_event.EventOFPAggregateStatsReply, MAIN_DISPATCHER)
    def _aggregate_stats(self, ev):
        self.drops.on_reply(ev.msg)            # one drop reason's sum (controller.observe.dropstats)

    # -- failover: the election's outcome, the switch's answer ----------------------
    @set_ev_cls(ha.EventLeadership)
    def _leadership(self, ev):
        self.failover.keeper.leadership(ev.outcome, list(self.sessions.values()))

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def _role_reply(self, ev):
        session = self._session(ev.msg)
        if session and self.failover is not None:
            self.failover.keeper.on_reply(session, ev.msg)

    def _later(self, dpid: int, action: Action) -> None:
        """What a service port's thread leaves to the event thread."""
        if isinstance(action, SendFrame):
            self.send_event(self.name, EventSendFrame(dpid, action.port, action.frame))
        else:
            LOG.warning('%#x: a service asked for %r from a service port; ignored', dpid, action)

    @set_ev_cls(EventSendFrame)
    def _send_frame(self, ev):
        session = self.sessions.get(ev.dpid)
        if session is not None and session.writable:     # only the master answers
            session.dp.send_msg(packet_out(session.dp, ev.port, ev.frame))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        session = self.sessions.get(msg.datapath.id)
        if session is None or not session.writable:     # only the master answers
            return
        match = msg.match
        packet = PacketIn(self.topology, session, match.get('in_port'),
                          self.topology.network_by_vni(match.get('metadata', 0)),
                          bytes(msg.data), time.monotonic(),
                          waited=max(0.0, time.time() - ev.timestamp))   # os-ken stamps arrival
        for action in self.services.dispatch(match.get(REASON_REG, 0), packet):
            if isinstance(action, SendFrame):
                msg.datapath.send_msg(packet_out(msg.datapath, action.port, action.frame))
            elif isinstance(action, InstallFlow):
                session.install_flow(action.flow, action.cookie, action.idle_timeout)


def packet_out(dp, port: int, frame: bytes):
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port, 0)], data=frame)
