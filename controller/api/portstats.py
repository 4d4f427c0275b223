"""Port counters, asked of the switch when someone asks for them.

An API thread sends one OpenFlow port-stats request for one port and waits
(briefly) for the reply, which arrives on the app's event thread and is
handed over here by xid.  Nothing is polled in the background, so counters
cost nothing until they are read, and they are never stale.

The request gets an xid from a range of its own: the session numbers its
messages from the datapath's counter on the app thread, and taking from that
counter here too could hand two messages the same xid.
"""
from __future__ import annotations

import itertools
import threading
from typing import Dict, Optional

XID_BASE = 0xA9000000       # far above anything the datapath's own counter reaches
XID_SPAN = 1 << 24
TIMEOUT_SECONDS = 2.0


class PortStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: Dict[int, list] = {}     # xid -> [Event, reply stats or None]
        self._xids = itertools.count()

    def ask(self, dp, port_no: int, timeout: float = TIMEOUT_SECONDS) -> Optional[dict]:
        """The switch's counters of `port_no`, or None if it did not answer in time."""
        parser = dp.ofproto_parser
        request = parser.OFPPortStatsRequest(dp, 0, port_no)
        with self._lock:
            request.xid = XID_BASE + next(self._xids) % XID_SPAN
            slot = self._waiting[request.xid] = [threading.Event(), None]
        try:
            dp.send_msg(request)       # serialises here, queues for the datapath's sender
            slot[0].wait(timeout)
            return slot[1]
        finally:
            with self._lock:
                self._waiting.pop(request.xid, None)

    def on_reply(self, msg) -> bool:
        """A port-stats reply (app thread): True if it answered one of ours."""
        with self._lock:
            slot = self._waiting.get(msg.xid)
        if slot is None:
            return False
        slot[1] = counters(msg.body[0]) if msg.body else {}
        slot[0].set()
        return True


def counters(stat) -> dict:
    return {'rx_packets': stat.rx_packets, 'tx_packets': stat.tx_packets,
            'rx_bytes': stat.rx_bytes, 'tx_bytes': stat.tx_bytes,
            'rx_dropped': stat.rx_dropped, 'tx_dropped': stat.tx_dropped,
            'rx_errors': stat.rx_errors, 'tx_errors': stat.tx_errors,
            'duration_sec': stat.duration_sec}
