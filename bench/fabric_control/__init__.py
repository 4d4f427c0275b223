"""Control-plane benchmark of a fabric: many datapaths, networks across them.

    .venv/bin/python -m bench.fabric_control          # 100 datapaths x 100 vifs
    .venv/bin/python -m bench.fabric_control --datapaths 4 --per-datapath 10 --span 2   # smoke
    .venv/bin/python -m bench.fabric_control --json

The fabric (lab.topogen's layout, ``topo.Shape``): ``--datapaths`` datapaths
with ``--per-datapath`` vifs each; every network spans ``--span`` datapaths
and each datapath holds ``--networks-per-datapath`` networks, so by default
100 networks of 100 vifs, 10 on each of 10 datapaths, and in every network a
simulated gateway and DHCP interface.  Each datapath has a tunnel_ip and its
own VXLAN port ``vx<d>`` (``tunnel_port``: port names are unique in one
ovs-vswitchd, so not all can be ``vxlan0``).

The bridges all live on ONE private ovs-vswitchd (lab.ovsinstance, netdev,
fail_mode=secure, OpenFlow13, their own dpids) in a namespace of its own,
and the controller runs in that namespace (its bridges reach it at
127.0.0.1).  Vifs are patch ports without a peer (an OpenFlow number, no
device); everything is created in one OVSDB transaction (switches.py).

Measured:

1. programming every datapath from empty, ``--rounds`` times: the bridges'
   controller targets are removed (OVS then deletes their flows, groups and
   meters), the controller is started and, as soon as it listens, every
   bridge is given it as target in one transaction (bridges that had been
   refused or timed out a few times come only after OVS's reconnection
   back-off, 2 s, 4 s and more, whatever max_backoff says: the restart
   shows it).  "all visible" is
   the time from starting the controller process until ``ovs-ofctl
   dump-aggregate`` (cookie 0x766e000000000000/0xffff000000000000) counts,
   on every bridge, exactly the flows ``controller.pipeline.Compiler``
   compiles for it with the port numbers the switch assigned.  A bridge is
   asked once the controller has logged that its change was applied (its
   bundle commits at once), so polling costs little CPU, but it lags: the
   last bridges are confirmed up to ~1 s after the last "applied".  The
   controller's log splits the time (listening, connections, the last
   "applied"); CPU of the controller and of the OVS daemons too.
2. a restart of the controller with everything installed, the bridges
   keeping their target: every datapath should be found in sync (nothing
   sent); with ovs-vswitchd's connection events meanwhile.
3. ``--edits`` one-interface edits: the topology file is rewritten
   atomically with one vif more in network n0 (its port exists already),
   then without it.  From the controller's log lines ``<dp> (dpid ...):
   topology change: +A -D flows ... (N flow-mods, one bundle)``: which
   datapaths received flow-mods and how many; from ovs-ofctl: the time from
   the write until one flow of the change (by cookie) is on, or gone from,
   every datapath whose desired flows the edit changes.  Afterwards every
   bridge's flow count is checked against the compiler.

Targets (verdicts at the end): all datapaths programmed in < 10 s; the edit
touches only the datapaths of its network; O(1) flow-mods on each.  No
timed assertion: exit 0 when measured, 2 when the set-up fails.
"""
