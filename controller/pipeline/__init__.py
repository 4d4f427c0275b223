"""The pipeline: topology + port numbers -> desired flows, groups and meters.

Pure: no sockets, no os-ken.  One module per table (see tables.STAGES):

    classifier  port_security  services  l3  nexthop  l2

plus `flows` (the data), `context` (one datapath's view of the topology),
`punt` (why a packet goes to the controller), `drops` (why a packet is
dropped) and `compiler` (runs the stages, checks each flow against the
stage list and that every drop has a reason).
"""
from controller.pipeline.compiler import Compiler, DesiredState, compile_datapath

__all__ = ['Compiler', 'DesiredState', 'compile_datapath']
