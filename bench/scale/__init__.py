"""Control-plane scale benchmark: 100, 1,000 and 10,000 interfaces on one datapath.

    .venv/bin/python -m bench.scale                     # sizes 100,1000,10000
    .venv/bin/python -m bench.scale --sizes 100,1000 --json
    .venv/bin/python -m bench.scale --sizes 10000 --strict

For each size N a topology is generated (lab.topogen): one datapath, N vif
interfaces in networks of ``--per-network`` (default 100) vifs each, and in every network a
simulated gateway (services [router]) and a simulated DHCP interface
(services [dhcp]).  Every vif has its own OVS port: a *patch* port without a
peer (``type=patch options:peer=<name that does not exist>``).  OVS gives such
a port an OpenFlow number and announces it with its name like any other port,
but creates no kernel device, so 10,000 of them cost a few seconds.  They are
created straight through the OVSDB socket in large transactions with the
``ovs`` library (ovs-vsctl spends O(n) client time per ``add-port`` on a big
database: 1,000 ports per call took 20-30 s there).

Measured, per size:

1. the pure layer, in-process: ``controller.topology.validate.validate_file(path)``
   (parse + validate) and ``controller.pipeline.Compiler().compile(topology,
   'br0', ports)``, cold (a new Compiler) and warm (the same one again, per-port
   flows remembered as after an edit); median of a few runs (fewer when one
   run is slow).
2. programming the datapath from empty: the controller (the lab's
   ``Controller``, i.e. ``ryu-manager --ofp-tcp-listen-port P
   --ofp-listen-host 127.0.0.1 --topology FILE controller.app``) is started
   with the bridge already holding all ports and no flows, groups or meters.
   "install s" is the wall time from the bridge's connection (the controller's
   ``connected with N ports`` log line) until ``ovs-ofctl dump-aggregate``
   (cookie 0x766e000000000000/0xffff000000000000) counts every expected flow.
   The controller's own ``applied in X ms`` (first message sent -> barrier
   reply) is reported too, and the log timestamps split the wall time into
   read-back, compile+plan, building/serialising/sending, and the switch.
3. the limit: our installed flows, groups and meters are dumped
   (``dump-flows --no-stats``, ``dump-groups``, ``dump-meters``); with the
   controller stopped, flows and groups are deleted from the same bridge
   (same ports) and re-installed with ``ovs-ofctl --bundle add-groups`` and
   ``ovs-ofctl -O OpenFlow14 --bundle add-flows``; the add-flows wall time is
   the comparison (flows/s, and the ratio ours/ovs-ofctl = ovs-ofctl time /
   our install time).  Meters are left in place for it: ovs-ofctl has no
   batch ``add-meters`` (one process per meter, ~15 ms each here).  The
   result is checked to be identical to what the controller installed.
4. a one-interface edit: the topology file is rewritten atomically (temp file
   + os.replace) with one vif more in the first network (its patch port was
   created with the others).  Reported: the controller's flow-mod count K and
   its ``applied in X ms``, and the time from the write until the new flows
   are visible in ``ovs-ofctl`` (this includes the 200 ms file poll, and the
   controller re-validating and re-compiling the whole topology).  Small sizes
   alternate add / revert edits; the table shows the adds.

Targets: at 10,000 interfaces ratio >= 0.8; every edit applied in < 100 ms
and with the same K at every size.  Exit status 0 when measured (with
--strict: 1 when a measured target is missed); 2 when the setup fails.

Which ovs-vswitchd (``--ovs``):

* ``private`` (default): our own ovsdb-server and ovs-vswitchd
  (lab.ovsinstance) -- the same
  OVS 3.1 binaries, bridges ``datapath_type=netdev`` -- with the vswitchd in a
  network namespace of ours, so its tap devices (``ovs-netdev``, the bridge's
  LOCAL port) and its 127.0.0.1 (where the controller, started in the same
  namespace, listens) clash with nothing.  It is killed (by PID) at the end of
  each size, which removes every bridge and port in a second.  The machine's
  ovs-vswitchd is never touched, and other users restarting it or loading it
  do not disturb the measurement.
* ``shared``: the machine's ovs-vswitchd.  Removing the ports afterwards is
  then the slow part: OVS (ofproto-dpif ``port_destruct``) copies its whole
  translation config for every port it removes, so deleting n ports costs
  O(n^2) -- about 6 minutes for 10,000 ports here, with ovs-vswitchd busy for
  everyone.  A restart of that ovs-vswitchd by someone else during a
  measurement is detected (its PID changes) and the measurement repeated.

Controller CPU time (from /proc) and how busy the machine was are recorded for
the install and the edits, so contention from other work can be told apart
from the controller's own cost.

Needs root and a running Open vSwitch installation (``make setup``; the
lab's checks).  No traffic is sent.  Everything created here is removed at
exit.

Modules: ``cli`` (arguments, the sizes, output), ``pure`` (the generated
topology of a size; validate and compile timed), ``run`` (the switch part
of a size: installs, ovs-ofctl, edits), ``switch`` (shared or private
ovs-vswitchd and the ovs-ofctl queries), ``ovsdb`` (ports through OVSDB),
``controllog`` (reading the controller's log), ``report`` (summary, targets,
table and notes).
"""
