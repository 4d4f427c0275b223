"""Explaining the pipeline to an operator (vnetctl trace, diff, plan, graph).

    source   a topology with the file lines of its objects
    ports    the port numbers a datapath is compiled with, offline
    origin   the topology object behind a compiled flow, with key path and line
    packet   the frame an interface would send, from the topology
    walk     a frame through the compiled tables (ofsim), datapath by datapath
    verdict  where the frame ended: delivered, answered, punted, dropped (and why)
    live     the same, asked of the real switch (ofproto/trace), mapped back by cookie
    changes  the flow changes between two topologies, and the disruptive ones
    drawing  the topology as a Graphviz graph

Pure except `live` (which runs ovs-vsctl, ovs-ofctl and ovs-appctl).  It
reads the topology, compiles with the pipeline and runs the table
simulator of `controller.openflow`; nothing here talks to a controller.
"""
