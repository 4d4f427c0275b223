"""A first install big enough to leave in many writes while it is still
compiling reaches a real switch whole: exactly the compiled flows, groups and
meters.  On our own ovs-vswitchd (bench/scale's PrivateOvs), whose 1,000
patch ports are made in one OVSDB transaction and go with it in a second."""
import re

from bench.scale.pure import DATAPATH, ScaleTopology
from bench.scale.switch import PrivateOvs
from controller.openflow import firstinstall, wire
from controller.pipeline import Compiler
from controller.topology.validate import validate_file
from lab import free_tcp_port, wait_for


def test_a_first_install_sent_in_many_writes_while_compiling_reaches_the_switch_whole(lab):
    topo = ScaleTopology(1000, 100, lab.prefix)
    path = lab.path('scale.yml')
    path.write_text(topo.text)
    desired = Compiler().compile(validate_file(str(path)), DATAPATH, topo.ofports)
    size = sum(len(wire.flow_add(f, cookie=c)) + 24 for c, f in desired.flows.items())
    assert size > 2 * firstinstall.FLUSH_BYTES          # several writes before the compile ends
    ovs = PrivateOvs(lab)
    ctl = None
    try:
        ovs.start()
        port = free_tcp_port()
        br = ovs.add_bridge(topo.dpid, port)
        ovs.db.add_patch_ports(br, topo.ofports)
        ctl = ovs.controller(path, port, lab.path('controller.log'))
        wait_for(lambda: re.search(r': connected: applied in', ctl.log_text()), timeout=60,
                 what='the first install to be confirmed', state=lambda: ctl.log_tail(10))
        flows = ovs.dump_lines(br, 'flows')
        cookies = sorted(int(m.group(1), 16) for m in
                         (re.search(r'cookie=(0x[0-9a-f]+)', ln) for ln in flows) if m)
        assert cookies == sorted(desired.flows)
        assert len(ovs.dump_lines(br, 'groups')) == len(desired.groups)
        assert len(ovs.dump_lines(br, 'meters')) == len(desired.meters)
        assert 'refused' not in ctl.log_text()
    finally:
        if ctl is not None:
            ctl.stop()
        ovs.stop()
