"""What a switch session records: its state, the last sync for operators,
and the bookkeeping of a change in flight (controller.openflow.session)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Set

from controller.openflow.reconcile import Installed


class State(enum.Enum):
    READING = 'reading'        # waiting for what the switch has
    READY = 'ready'            # `installed` is what the switch has (or will, once confirmed)
    GAVE_UP = 'gave up'        # changes keep being refused; sync on, but no more re-reads
    RETIRING = 'retiring'      # removing our flows from a switch that left the topology
    RETIRED = 'retired'        # removal confirmed; the app may forget the session
    CLOSED = 'closed'          # the connection is gone


def port_name(port) -> str:
    name = port.name
    if isinstance(name, bytes):
        name = name.split(b'\0', 1)[0].decode('utf-8', 'replace')
    return name


@dataclass
class StagedBundle:
    bundle_id: int
    add_xids: Set[int]
    after: List[bytes]
    refused: int = 0


@dataclass
class Change:
    started: float
    reason: str
    count: int
    errors: int = 0
    bundled: bool = False


@dataclass(frozen=True)
class SyncRecord:
    """The last sync of a session, for operators: why, when (wall clock),
    how long until the switch confirmed it, how many flow-mods, and whether
    the switch took all of it."""
    reason: str
    at: float
    seconds: float
    flow_mods: int
    ok: bool
    started: float = 0.0      # monotonic


@dataclass
class ReadBack:
    awaiting: Set[str] = field(default_factory=lambda: {'flows', 'groups', 'meters'})
    found: Installed = field(default_factory=Installed)
