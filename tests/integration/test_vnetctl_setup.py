"""vnetctl setup on real OVS: the printed commands and --apply build the same
bridge, which the controller programs; --apply changes only what differs."""
from lab import Bridge, free_tcp_port, sh
from tests.integration.attachlab import AttachLab, ok


def vsctl_get(table: str, record: str, column: str) -> str:
    return sh(['ovs-vsctl', 'get', table, record, column]).stdout.strip()


def test_the_printed_commands_build_the_bridge_the_controller_programs_and_apply_then_finds_it_done(lab):
    al = AttachLab(lab, tunnel_ip='198.18.77.1')
    port = free_tcp_port()
    lab.controller(al.path, port=port)
    target = f'tcp:127.0.0.1:{port}'
    printed = ok('setup', al.bridge, *al.topology_args, '--controller', target)
    lab.track_bridge(al.bridge)
    sh(['sh', '-c', printed])                          # pasted into a shell
    bridge = Bridge(lab, al.bridge, al.dpid, port)
    bridge.wait_connected()
    bridge.wait_for_flows(1)
    assert vsctl_get('Bridge', al.bridge, 'datapath_type') == 'netdev'
    assert vsctl_get('Bridge', al.bridge, 'fail_mode') == 'secure'
    assert vsctl_get('Bridge', al.bridge, 'protocols') == '[OpenFlow13]'
    assert vsctl_get('Bridge', al.bridge, 'datapath_id') == f'"{al.dpid:016x}"'
    assert vsctl_get('Interface', al.tunnel_port, 'type') == 'vxlan'
    assert vsctl_get('Interface', al.tunnel_port, 'options') == \
        '{key=flow, local_ip="198.18.77.1", remote_ip=flow}'
    assert ok('setup', al.bridge, *al.topology_args, '--controller', target, '--apply') == \
        f'{al.bridge}: already set up (dpid {al.dpid:#x}, {target}); nothing changed\n'


def test_apply_creates_a_bridge_and_later_sets_only_what_differs(lab):
    al = AttachLab(lab)
    al.start()
    target = al.controller_target
    sh(['ovs-vsctl', 'set', 'Bridge', al.bridge, 'fail_mode=standalone', '--', 'set-controller',
        al.bridge, 'tcp:127.0.0.1:1'])
    out = ok('setup', al.bridge, *al.topology_args, '--controller', target, '--apply')
    assert out.splitlines()[:2] == [f'{al.bridge}: set fail_mode=secure',
                                    f'{al.bridge}: controller {target} (was tcp:127.0.0.1:1)']
    assert vsctl_get('Bridge', al.bridge, 'fail_mode') == 'secure'
    bridge = Bridge(lab, al.bridge, al.dpid, al.controller_port)
    bridge.wait_connected()
    bridge.wait_for_flows(1)
    assert 'nothing changed' in ok('setup', al.bridge, *al.topology_args, '--controller', target,
                                   '--apply')
