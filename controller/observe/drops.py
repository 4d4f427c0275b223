"""Drop counters per datapath, table and reason, from the switches' own
counters, kept monotonic.

The drop flows are counted by the switch itself, one aggregate per reason
(controller.observe.dropstats asks for the sum over the reason's drop
flows: packets, bytes and how many flows), so what is kept here is a few
numbers per datapath and reason, however many interfaces there are.  The
punts' meters (controller.observe.meters) are read one by one, as meters
have no aggregate, and summed here per reason.

A switch starts a flow's counters again at zero when it is reinstalled (an
edit that changes or removes it, a renumbered port, OVS restarted); a meter's
likewise.  A sum that falls would read to Prometheus as a counter reset, and
it would count the whole remaining sum again.  With an aggregate we see only
the sum, not which flows went, so a fall is taken as "flows were removed or
reinstalled" and absorbed in a base offset: the total holds at its last
value and grows from there.  Totals therefore never fall while the
controller runs and are never over-counted; in a poll interval in which
flows carrying x packets were removed, the total rises by what the others
counted minus x (at least 0), so up to x new drops can go uncounted.  (Adding
the whole last sum instead, as for a full reset, would double the total when
one vif of thousands is removed.)  A meter that vanishes or counts backwards
hands what it had counted at the last poll to its reason, exactly.  The
totals start from what the switch reports at the first poll (drops from
before the controller started included) and fall back only when the
controller restarts, which Prometheus sees as the reset it is.

Pure and thread-safe: the `update_*` calls come with replies on the app's
thread, `snapshot`/`series` from the API's.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from controller.pipeline import tables

# (dpid, table, reason label)
SeriesKey = Tuple[int, int, str]


@dataclass(frozen=True)
class FlowCount:
    """One flow's or meter's counters, as a stats reply gives them."""
    cookie: int                  # the flow's cookie, or the meter's id
    table: int
    reason: str                  # the label: spoofed_ipv4, dhcp_rate_limited, ...
    port: Optional[str]          # the port the flow matches (in_port) or the meter limits
    packets: int
    bytes: int


@dataclass
class _Sum:
    """One reason's aggregate as last reported, and what falls have kept."""
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    base_packets: int = 0
    base_bytes: int = 0
    falls: int = 0


class DropCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: Dict[SeriesKey, _Sum] = {}
        self._meters: Dict[int, Dict[int, FlowCount]] = {}   # dpid -> meter id -> counts
        self._carried: Dict[SeriesKey, List[int]] = {}       # what vanished meters had counted
        self._names: Dict[int, str] = {}                     # dpid -> datapath name

    def update_sum(self, dpid: int, datapath: str, table: int, reason: str,
                   packets: int, nbytes: int, flows: int) -> None:
        """One reason's aggregate (all its drop flows on one datapath), as of now."""
        with self._lock:
            s = self._sums.setdefault((dpid, table, reason), _Sum())
            if packets < s.packets or nbytes < s.bytes:
                s.falls += 1
            s.base_packets += max(0, s.packets - packets)
            s.base_bytes += max(0, s.bytes - nbytes)
            s.packets, s.bytes, s.flows = packets, nbytes, flows
            self._names[dpid] = datapath

    def update_meters(self, dpid: int, datapath: str, counts: Iterable[FlowCount]) -> None:
        """Every punt meter of one datapath, as of now."""
        new = {c.cookie: c for c in counts}
        with self._lock:
            for meter_id, old in self._meters.get(dpid, {}).items():
                now = new.get(meter_id)
                if now is None or now.packets < old.packets or now.bytes < old.bytes:
                    carried = self._carried.setdefault((dpid, old.table, old.reason), [0, 0])
                    carried[0] += old.packets
                    carried[1] += old.bytes
            self._meters[dpid] = new
            self._names[dpid] = datapath

    def falls(self, dpid: int, table: int, reason: str) -> int:
        """How often this reason's sum fell (flows removed or reinstalled)."""
        with self._lock:
            s = self._sums.get((dpid, table, reason))
            return s.falls if s else 0

    def _totals(self) -> Dict[SeriesKey, List[int]]:
        with self._lock:
            totals = {key: list(v) for key, v in self._carried.items()}
            for key, s in self._sums.items():
                total = totals.setdefault(key, [0, 0])
                total[0] += s.base_packets + s.packets
                total[1] += s.base_bytes + s.bytes
                if not s.flows and key in totals and totals[key] == [0, 0]:
                    del totals[key]           # no such flows here, never any counted
            for dpid, meters in self._meters.items():
                for c in meters.values():
                    total = totals.setdefault((dpid, c.table, c.reason), [0, 0])
                    total[0] += c.packets
                    total[1] += c.bytes
        return totals

    def name(self, dpid: int) -> str:
        with self._lock:
            return self._names.get(dpid, f'{dpid:#x}')

    def snapshot(self) -> List[dict]:
        """One row per datapath, table and reason (port None: summed over the
        reason's flows and meters), as JSON-able dicts."""
        return [row(self.name(dpid), dpid, table, reason, None, packets, nbytes)
                for (dpid, table, reason), (packets, nbytes) in sorted(self._totals().items())]

    def series(self) -> Dict[Tuple[str, int, str], Tuple[int, int]]:
        """(datapath, table, reason label) -> (packets, bytes)."""
        return {(self.name(dpid), table, reason): (packets, nbytes)
                for (dpid, table, reason), (packets, nbytes) in self._totals().items()}


def row(datapath: str, dpid: int, table: int, reason: str, port: Optional[str],
        packets: int, nbytes: int) -> dict:
    """A row of GET /v1/drops."""
    stage = tables.BY_TABLE.get(table)
    return {'datapath': datapath, 'dpid': f'{dpid:#x}', 'table': table,
            'stage': stage.name if stage else None, 'reason': reason, 'port': port,
            'packets': packets, 'bytes': nbytes}
