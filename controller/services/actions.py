"""What a service asks the switch session to do, as data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from controller.pipeline.flows import Flow


@dataclass(frozen=True)
class SendFrame:
    """Send `frame` out of OpenFlow port `port` (a packet-out)."""
    port: int
    frame: bytes


@dataclass(frozen=True)
class InstallFlow:
    """Install `flow` outside the desired state: its cookie carries another
    tag than the reconciler's, and the switch expires it when idle."""
    flow: Flow
    cookie: int
    idle_timeout: int


Action = Union[SendFrame, InstallFlow]
