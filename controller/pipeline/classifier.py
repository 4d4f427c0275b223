"""Table CLASSIFIER: which network does a frame belong to?

The in_port decides: each port stamps its network id (VNI) into metadata.
On vif ports the frame must also carry the interface's own source MAC, so a
VM cannot impersonate another; host ports (uplinks to a physical LAN) carry
many MACs and skip the source checks.  Anything else is dropped here, which
is also what isolates the rest of the bridge from our networks.
"""
from controller.pipeline import tables
from controller.pipeline.context import DatapathView
from controller.pipeline.flows import flow
from controller.topology import VIF


def classifier_flows(view: DatapathView):
    yield flow(tables.CLASSIFIER, 0)                       # unknown port or MAC: drop


def classifier_port_flows(iface, ofport: int, vni: int):
    stamp = (vni, tables.NETWORK_MASK)
    if iface.mode == VIF:
        yield flow(tables.CLASSIFIER, 100, in_port=ofport, eth_src=iface.mac,
                   write_metadata=stamp, goto=tables.PORT_SECURITY)
    else:
        yield flow(tables.CLASSIFIER, 100, in_port=ofport,
                   write_metadata=stamp, goto=tables.SERVICES)
