"""Asking each connected switch for the counters of its drops: one aggregate
per reason, and a port's own drop flows only when someone asks for them.

Every POLL_SECONDS, and when someone reads the counters (a scrape, GET
/v1/drops) at most once per MIN_INTERVAL, each connected datapath gets, for
each drop reason (controller.pipeline.drops), one aggregate-stats request
in the reason's table, filtered by cookie and mask to exactly that reason's
drop flows (our tag, the drop bit, the reason's bits: see
controller.pipeline.flows).  The switch sums them and answers with three
numbers (packets, bytes, flows), so a poll costs the controller the same
whether the datapath has ten drop flows or fifty thousand; a flow-stats
reply for all of them cost about 45 µs a flow to parse (2 s at 10,000
interfaces: bench/drops.py).  Besides, one meter-stats request reads the
punts' meters (controller.observe.meters), which have no aggregate, at most
every POLL_SECONDS.  A switch being read back or programmed is not asked
until its change is confirmed.  A reader waits up to WAIT_SECONDS for the
answers, then gets what is there.

Per port, `port_rows` asks on demand: a flow-stats request with the drop
cookie mask and a match on the port's in_port, which the switch answers
with that port's few drop flows only, and the meter-stats of its DHCP
meter, if it has one.

The replies arrive on the app's thread, the flow stats like the session's
read-back; ours carry xids from a range of their own (XID_BASE...), which
the session's counter never reaches, and the app asks `on_reply` first.
Requests are sent from the poller's or a reader's thread with their xid
already set, so they never touch the datapath's own xid counter, which the
session uses on the app's thread.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from controller.observe.drops import DropCounters, FlowCount, row
from controller.observe.meters import meter_drop
from controller.openflow.session import State
from controller.pipeline.drops import TABLES, Drop, label_of
from controller.pipeline.flows import DROP_COOKIE, DROP_COOKIE_MASK, drop_reason

XID_BASE = 0xAB000000       # far above the datapath's own counter; portstats uses 0xA9...
XID_SPAN = 1 << 24
POLL_SECONDS = 5.0
MIN_INTERVAL = 1.0          # on-demand requests at most this often
WAIT_SECONDS = 0.5
PORT_WAIT_SECONDS = 2.0     # a port's own drop flows: one reader waits for one answer
FORGET_SECONDS = 30.0       # a request unanswered this long is given up
_REASON_SHIFT, _REASON_MASK = 40, 0x7f << 40
_LIVE = {State.READING, State.READY, State.GAVE_UP, State.RETIRING}


def reason_cookie(reason: Drop) -> Tuple[int, int]:
    """(cookie, mask) selecting exactly this reason's drop flows."""
    return DROP_COOKIE | int(reason) << _REASON_SHIFT, DROP_COOKIE_MASK | _REASON_MASK


@dataclass
class _Pending:
    part: str                  # 'aggregate', 'meters', or 'port' (flows and meter of one port)
    dpid: int
    datapath: str
    port_names: Dict[int, str]
    sent: float
    reason: Optional[Drop] = None
    outstanding: int = 1       # replies still to come (a port's: its flows and its meter)
    done: threading.Event = field(default_factory=threading.Event)
    counts: List[FlowCount] = field(default_factory=list)


class DropStats:
    """`sessions()` gives the app's current switch sessions."""

    def __init__(self, sessions: Callable[[], Iterable], clock=time.monotonic):
        self.counters = DropCounters()
        self._sessions = sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: Dict[int, Tuple[str, _Pending]] = {}   # xid -> (reply kind, request)
        self._xids = itertools.count()
        self._last_request = float('-inf')
        self._last_meters = float('-inf')

    def _live(self) -> list:
        return [s for s in list(self._sessions()) if s.state in _LIVE]

    def _settled(self) -> list:
        """Live sessions with no read-back or change in flight.  A switch
        being programmed is skipped (its counters keep their last values):
        parsing its replies would take the event thread from the install,
        and scrapes would then slow the install they are watching."""
        return [s for s in self._live() if not s.changing]

    # -- asking ----------------------------------------------------------------
    def request(self) -> List[threading.Event]:
        """Per live session, one aggregate request per reason and one
        meter-stats request; the events are set as each is answered."""
        now = self._clock()
        events = []
        with self._lock:
            self._last_request = now
            for xid in [x for x, (_, p) in self._pending.items() if now - p.sent > FORGET_SECONDS]:
                del self._pending[xid]
        meters_due = now - self._last_meters >= POLL_SECONDS
        for session in self._settled():
            ofp, parser = session.dp.ofproto, session.dp.ofproto_parser
            for reason in Drop:
                cookie, mask = reason_cookie(reason)
                ask = parser.OFPAggregateStatsRequest(session.dp, 0, TABLES[reason], ofp.OFPP_ANY,
                                                      ofp.OFPG_ANY, cookie, mask, parser.OFPMatch())
                events.append(self._ask(session, ask, 'aggregate', now, reason))
            if meters_due:      # no aggregate for meters: one entry per vif, so less often
                meters = parser.OFPMeterStatsRequest(session.dp, 0, ofp.OFPM_ALL)
                events.append(self._ask(session, meters, 'meters', now))
                self._last_meters = now
        return events

    def _ask(self, session, request, part: str, now: float, reason: Optional[Drop] = None,
             pending: Optional[_Pending] = None) -> threading.Event:
        if pending is None:
            names = {number: name for name, number in list(session.ports.items())}
            pending = _Pending(part, session.dpid, session.name, names, now, reason)
        kind = 'meters' if type(request).__name__ == 'OFPMeterStatsRequest' else part
        with self._lock:
            request.xid = XID_BASE + next(self._xids) % XID_SPAN
            self._pending[request.xid] = (kind, pending)
        session.dp.send_msg(request)  # serialises here; the datapath's sender queue is thread-safe
        return pending.done

    def refresh(self, wait: float = WAIT_SECONDS) -> None:
        """Ask again unless asked within MIN_INTERVAL, and wait for the
        answers (or for those already on their way) at most `wait` seconds."""
        with self._lock:
            now = self._clock()
            fresh = now - self._last_request < MIN_INTERVAL
            events = [p.done for _, p in self._pending.values() if p.part != 'port']
            if not fresh:
                self._last_request = now      # claimed: a reader beside us waits for these
        if not fresh:
            events = self.request()
        _wait_all(events, wait)

    def run(self, active: Callable[[], bool], period: float = POLL_SECONDS) -> None:
        """The poller's loop (a thread the app starts)."""
        while active():
            self.request()
            time.sleep(period)

    # -- one port, on demand --------------------------------------------------------
    def port_rows(self, port: str, wait: float = PORT_WAIT_SECONDS) -> Optional[List[dict]]:
        """The drops of one port (by name) on every live datapath that has
        it, per table and reason: its drop flows' counters as the switch has
        them now (since each flow was installed), and its DHCP meter's.
        None when no connected datapath has such a port; TimeoutError when
        one of them does not answer within `wait` seconds."""
        asked: List[_Pending] = []
        now = self._clock()
        for session in self._live():
            number = dict(session.ports).get(port)
            if number is None:
                continue
            dp = session.dp
            ofp, parser = dp.ofproto, dp.ofproto_parser
            names = {number: port}
            pending = _Pending('port', session.dpid, session.name, names, now)
            flows = parser.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                               DROP_COOKIE, DROP_COOKIE_MASK,
                                               parser.OFPMatch(in_port=number))
            if number in getattr(getattr(session, 'installed', None), 'meters', {}):
                pending.outstanding += 1       # asking for a meter the switch lacks is an error
                self._ask(session, parser.OFPMeterStatsRequest(dp, 0, number), 'port', now,
                          pending=pending)
            self._ask(session, flows, 'port', now, pending=pending)
            asked.append(pending)
        if not asked:
            return None
        _wait_all([p.done for p in asked], wait)
        late = [p.datapath for p in asked if not p.done.is_set()]
        if late:
            raise TimeoutError(f'{", ".join(late)} did not answer the flow-stats request for '
                               f'port {port} within {wait:g} s')
        return [r for p in asked for r in _port_rows(p, p.datapath)]

    # -- answers (the app's thread) ---------------------------------------------------
    def on_reply(self, msg) -> bool:
        """An aggregate-, flow- or meter-stats reply: True if it answers one of ours."""
        with self._lock:
            found = self._pending.get(msg.xid)
        if found is None:
            return False
        kind, pending = found
        if kind == 'aggregate' and pending.reason is not None:
            stats = msg.body            # one OFPAggregateStats: the switch summed them
            self.counters.update_sum(pending.dpid, pending.datapath, TABLES[pending.reason],
                                     pending.reason.label, stats.packet_count, stats.byte_count,
                                     stats.flow_count)
        else:
            read = _meter_counts if kind == 'meters' else _flow_counts
            pending.counts += read(msg.body, pending.port_names)
        if msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            return True
        with self._lock:
            self._pending.pop(msg.xid, None)
            pending.outstanding -= 1
            complete = pending.outstanding == 0
        if complete:
            if pending.part == 'meters':
                self.counters.update_meters(pending.dpid, pending.datapath, pending.counts)
            pending.done.set()
        return True

    # -- reading ---------------------------------------------------------------------
    def snapshot(self) -> List[dict]:
        """GET /v1/drops: fresh counters (at most a second old, when the
        switches answer within WAIT_SECONDS)."""
        self.refresh()
        return self.counters.snapshot()

    def series(self, refresh: bool = True) -> Dict:
        if refresh:
            self.refresh()
        return self.counters.series()


def _wait_all(events: List[threading.Event], wait: float) -> None:
    deadline = time.monotonic() + wait
    for event in events:
        event.wait(max(0.0, deadline - time.monotonic()))


def _port_rows(pending: _Pending, datapath: str) -> List[dict]:
    """One row per table and reason of a port's flows (rogue_dhcp has two)."""
    sums: Dict[Tuple[int, str, Optional[str]], List[int]] = {}
    for c in pending.counts:
        total = sums.setdefault((c.table, c.reason, c.port), [0, 0])
        total[0] += c.packets
        total[1] += c.bytes
    return [row(datapath, pending.dpid, table, reason, port, packets, nbytes)
            for (table, reason, port), (packets, nbytes) in sorted(
                sums.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ''))]


def _port(names: Dict[int, str], number: Optional[int]) -> Optional[str]:
    return None if number is None else names.get(number, str(number))


def _flow_counts(body, names: Dict[int, str]) -> List[FlowCount]:
    found = []
    for stat in body:
        reason = drop_reason(stat.cookie)
        if reason is not None:
            found.append(FlowCount(stat.cookie, stat.table_id, label_of(reason),
                                   _port(names, stat.match.get('in_port')),
                                   stat.packet_count, stat.byte_count))
    return found


def _meter_counts(body, names: Dict[int, str]) -> List[FlowCount]:
    found = []
    for stat in body:
        kind = meter_drop(stat.meter_id)
        if kind is None or not stat.band_stats:
            continue
        table, reason, by_port = kind
        band = stat.band_stats[0]           # ours have one band: drop over the rate
        found.append(FlowCount(stat.meter_id, table, reason,
                               _port(names, stat.meter_id) if by_port else None,
                               band.packet_band_count, band.byte_band_count))
    return found
