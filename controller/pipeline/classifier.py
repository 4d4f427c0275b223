"""Table CLASSIFIER: which network does a frame belong to?

The in_port decides: each port stamps its network id (VNI) into metadata.
On vif ports the frame must also carry the interface's own source MAC, so a
VM cannot impersonate another, and no VLAN tag: a tagged frame (at any tag
depth, 802.1Q or 802.1ad) would carry its payload past the checks that
look at the ethertype behind the first tag.  Host ports (uplinks to a
physical LAN) carry many MACs and skip the source checks, but they too
must be untagged: a tagged frame from the LAN would otherwise be routed
or switched into our networks with its tag (a VLAN trunk is not an uplink).

From the tunnel port, the VNI and the tunnel source decide: a frame is
accepted only for a network with ports here, and only from a datapath that
may send into it (it has interfaces in that network, or in one routed to
it).  It was switched (and routed) where it entered, so it goes straight to
L2, marked as from the tunnel so that L2 delivers it here only.  Anything
else from the tunnel is dropped by a flow of its own, whose counters show
forged or stray tunnel traffic.

Anything else is dropped here, which is also what isolates the rest of the
bridge from our networks.  Each drop says why (controller.pipeline.drops):
a tagged frame from any port, a vif's frame with another source MAC (a flow
per vif, so its counters name the port), forged tunnel traffic, and a port
the topology does not know (the table's last flow).
"""
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import SetField, flow
from controller.pipeline.tunnel import TUNNEL_SRC_FIELD, VNI_FIELD
from controller.topology import VIF

PORT_PRIORITY, TUNNEL_PRIORITY, TUNNEL_DROP_PRIORITY = 100, 100, 95
TAGGED_PRIORITY, SPOOFED_MAC_PRIORITY = 90, 80
OFPVID_NONE = 0x0000          # OpenFlow 1.3: vlan_vid=0 matches frames without a VLAN tag
OFPVID_PRESENT = 0x1000       # ... and vlan_vid=0x1000/0x1000 those with one
FROM_TUNNEL = (SetField(tables.FROM_TUNNEL_REG, 1),)


def classifier_flows(view: DatapathView):
    yield flow(tables.CLASSIFIER, 0, drop=Drop.UNKNOWN_PORT)
    yield flow(tables.CLASSIFIER, TAGGED_PRIORITY, drop=Drop.TAGGED_FRAME,
               vlan_vid=(OFPVID_PRESENT, OFPVID_PRESENT))
    yield from tunnel_flows(view)


def classifier_port_flows(iface, ofport: int, vni: int):
    stamp = (vni, tables.NETWORK_MASK)
    if iface.mode == VIF:
        yield flow(tables.CLASSIFIER, PORT_PRIORITY, in_port=ofport, eth_src=iface.mac,
                   vlan_vid=OFPVID_NONE, write_metadata=stamp, goto=tables.PORT_SECURITY)
        yield flow(tables.CLASSIFIER, SPOOFED_MAC_PRIORITY, drop=Drop.SPOOFED_MAC, in_port=ofport)
    else:
        yield flow(tables.CLASSIFIER, PORT_PRIORITY, in_port=ofport, vlan_vid=OFPVID_NONE,
                   write_metadata=stamp, goto=tables.SERVICES)


def tunnel_flows(view: DatapathView):
    port = view.tunnel_port
    if port is None or not view.needs_tunnel:
        return
    yield flow(tables.CLASSIFIER, TUNNEL_DROP_PRIORITY, drop=Drop.BAD_TUNNEL_SOURCE, in_port=port)
    for name, net in view.local_networks.items():
        for sender in view.senders_to(name):
            yield flow(tables.CLASSIFIER, TUNNEL_PRIORITY, FROM_TUNNEL,
                       write_metadata=(net.vni, tables.NETWORK_MASK), goto=tables.L2,
                       in_port=port, **{VNI_FIELD: net.vni,
                                        TUNNEL_SRC_FIELD: str(view.tunnel_ip_of(sender))})
