"""What a switch session reports as it works, for whoever counts it.

The session calls these at the moment things happen; this default does
nothing.  The app passes `controller.observe.metrics.SESSIONS`, which
counts them for Prometheus (observe sits above this layer, so it is handed
in, never imported).
"""
from __future__ import annotations


class SessionObserver:
    def sent(self, datapath: str, flow_mods: int) -> None:
        """`flow_mods` flow adds and deletes went to the switch."""

    def applied(self, datapath: str, seconds: float, messages: int, ok: bool,
                bundled: bool) -> None:
        """The switch confirmed a change of `messages` messages, `seconds`
        after it was sent; `ok` unless it refused part of it (a refused
        bundle applies nothing); `bundled` if it went in a bundle."""
