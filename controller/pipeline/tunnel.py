"""How a frame reaches another datapath: VXLAN through the bridge's one
flow-based tunnel port (options:remote_ip=flow options:key=flow), with the
network's VNI as the key and the datapath's tunnel_ip as the destination.
Used by the classifier (what to accept) and L2 (where to send)."""
from __future__ import annotations

from typing import Tuple

from controller.pipeline.flows import Action, Output, SetField

VNI_FIELD = 'tunnel_id'
TUNNEL_SRC_FIELD = 'tun_ipv4_src'
TUNNEL_DST_FIELD = 'tun_ipv4_dst'


def to_datapath(vni: int, tunnel_ip, tunnel_port: int) -> Tuple[Action, ...]:
    """The actions that send a frame of network `vni` to the datapath at `tunnel_ip`."""
    return (SetField(VNI_FIELD, vni), SetField(TUNNEL_DST_FIELD, str(tunnel_ip)), Output(tunnel_port))
