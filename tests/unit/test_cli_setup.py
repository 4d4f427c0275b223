"""vnetctl setup: the ovs-vsctl commands for a datapath's bridge, and what --apply changes."""
import shlex

import pytest

from controller.cli import main
from controller.cli.ovscmd import (
    NETDEV,
    SYSTEM,
    Current,
    SetupError,
    bridge_spec,
    changes,
    default_datapath_type,
    flatten,
    rows,
    setup_argv,
    shell_lines,
)
from controller.topology import validate_text

TOPOLOGY = """\
datapaths:
  br0: {dpid: 0x1}
  host1: {dpid: 0x101, tunnel_ip: 198.18.1.1}
  host2: {dpid: 0x102, tunnel_ip: 198.18.1.2, tunnel_port: vx1}
networks:
  net1: {ipv4: 10.44.1.0/24}
  net2: {ipv4: 10.44.2.0/24}
interfaces:
  vm0: {network: net2, mac: 52:54:00:44:02:01, ipv4: 10.44.2.1, datapath: br0, port: p-vm0}
  vm1: {network: net1, mac: 52:54:00:44:01:01, ipv4: 10.44.1.1, datapath: host1, port: p-vm1}
  vm2: {network: net1, mac: 52:54:00:44:01:02, ipv4: 10.44.1.2, datapath: host2, port: p-vm2}
"""
TOPO = validate_text(TOPOLOGY, 't.yml')
IN_SHAPE = {'name': 'br0', 'datapath_type': 'netdev', 'fail_mode': 'secure', 'protocols': 'OpenFlow13',
            'other_config:datapath-id': '0000000000000001', 'other_config:disable-in-band': 'true'}
SERVICE_PORT = {'name': 'br0-svc', 'type': 'internal'}


def have(bridge=IN_SHAPE, controllers=('tcp:127.0.0.1:6633',), **kw):
    """What OVS has: by default br0 in shape, with its service port."""
    kw.setdefault('service', SERVICE_PORT)
    kw.setdefault('service_bridge', 'br0')
    return Current(bridge=bridge, controllers=controllers, **kw)


def spec(dp='br0', **kw):
    kw.setdefault('datapath_type', NETDEV)
    kw.setdefault('controller', 'tcp:127.0.0.1:6633')
    return bridge_spec(TOPO, dp, **kw)


def test_a_datapath_without_a_tunnel_gets_one_command_for_its_bridge_and_controller():
    assert setup_argv(spec()) == [
        'ovs-vsctl', '--may-exist', 'add-br', 'br0',
        '--', 'set', 'Bridge', 'br0', 'datapath_type=netdev', 'fail_mode=secure',
        'protocols=OpenFlow13', 'other-config:datapath-id=0000000000000001',
        'other-config:disable-in-band=true',
        '--', 'set-controller', 'br0', 'tcp:127.0.0.1:6633',
        '--', '--may-exist', 'add-port', 'br0', 'br0-svc', '--', 'set', 'Interface', 'br0-svc',
        'type=internal']


def test_a_datapath_with_a_tunnel_ip_also_gets_its_flow_based_vxlan_port():
    argv = setup_argv(spec('host2', bridge='br-int'))
    tail = argv[argv.index('add-port') - 2:argv.index('br-int-svc') - 4]
    assert tail == ['--', '--may-exist', 'add-port', 'br-int', 'vx1', '--', 'set', 'Interface', 'vx1',
                    'type=vxlan', 'options:remote_ip=flow', 'options:key=flow',
                    'options:local_ip=198.18.1.2']
    assert 'other-config:datapath-id=0000000000000102' in argv


def test_the_printed_command_pastes_back_into_a_shell_as_the_same_words():
    argv = setup_argv(spec('host1', controller='tcp:[::1]:6633'))
    text = shell_lines(argv)
    assert text.count('\n') == argv.count('--')          # one clause a line
    assert shlex.split(text.replace('\\\n', ' ')) == argv


def test_the_datapath_type_is_netdev_without_the_kernel_module_and_system_with_it(tmp_path):
    assert default_datapath_type(str(tmp_path / 'absent')) == NETDEV
    assert default_datapath_type(str(tmp_path)) == SYSTEM
    assert spec(datapath_type=SYSTEM).bridge_settings()['datapath_type'] == SYSTEM


def test_an_unknown_datapath_is_refused_naming_the_file_and_the_known_ones():
    with pytest.raises(SetupError, match=r"t.yml: no datapath 'br9' \(datapaths: br0, host1, host2\)"):
        spec('br9')


# -- --apply: only what differs -------------------------------------------------

def test_a_missing_bridge_is_created_with_its_controller_in_one_clause_then_its_service_port():
    todo = changes(spec(), Current(bridge=None))
    assert len(todo) == 2 and 'set-controller' in todo[0][1] and 'add-br' in todo[0][1]
    assert todo[1] == ('added service port br0-svc (type internal)',
                       ['--', '--may-exist', 'add-port', 'br0', 'br0-svc',
                        '--', 'set', 'Interface', 'br0-svc', 'type=internal'])


def test_a_bridge_in_shape_needs_no_change():
    assert changes(spec(), have()) == []


def test_only_the_settings_that_differ_are_set():
    todo = changes(spec(), have({**IN_SHAPE, 'fail_mode': 'standalone',
                                 'protocols': 'OpenFlow10,OpenFlow13'}))
    assert todo == [('set fail_mode=secure, protocols=OpenFlow13',
                     ['--', 'set', 'Bridge', 'br0', 'fail_mode=secure', 'protocols=OpenFlow13'])]


def test_a_different_controller_target_is_replaced():
    todo = changes(spec(), have(controllers=('tcp:10.0.0.1:6653',)))
    assert todo == [('controller tcp:127.0.0.1:6633 (was tcp:10.0.0.1:6653)',
                     ['--', 'set-controller', 'br0', 'tcp:127.0.0.1:6633'])]


def test_a_missing_tunnel_port_is_added_and_a_wrong_local_ip_is_corrected():
    s = spec('host1', bridge='br0')
    bridge = {**IN_SHAPE, 'other_config:datapath-id': '0000000000000101'}
    added = changes(s, have(bridge))
    assert [what for what, _ in added] == ['added tunnel port vxlan0 (local_ip 198.18.1.1)']
    tunnel = {'name': 'vxlan0', 'type': 'vxlan', 'options:remote_ip': 'flow', 'options:key': 'flow',
              'options:local_ip': '198.18.9.9'}
    fixed = changes(s, have(bridge, tunnel=tunnel, tunnel_bridge='br0'))
    assert fixed == [('set vxlan0 options:local_ip=198.18.1.1',
                      ['--', 'set', 'Interface', 'vxlan0', 'options:local_ip=198.18.1.1'])]


def test_a_tunnel_port_name_taken_on_another_bridge_is_refused():
    with pytest.raises(SetupError, match='port vxlan0 belongs to bridge br-other'):
        changes(spec('host1'), Current(bridge=None, tunnel_bridge='br-other'))


def test_a_bridge_without_its_service_port_gets_it_and_nothing_else():
    todo = changes(spec(), have(service=None, service_bridge=None))
    assert todo == [('added service port br0-svc (type internal)',
                     ['--', '--may-exist', 'add-port', 'br0', 'br0-svc',
                      '--', 'set', 'Interface', 'br0-svc', 'type=internal'])]


def test_a_service_port_of_another_type_is_made_internal():
    todo = changes(spec(), have(service={'name': 'br0-svc', 'type': ''}))
    assert todo == [('set br0-svc type=internal (was system)',
                     ['--', 'set', 'Interface', 'br0-svc', 'type=internal'])]


def test_a_service_port_name_taken_on_another_bridge_is_refused():
    with pytest.raises(SetupError, match='port br0-svc belongs to bridge br-other; .*--no-service-port'):
        changes(spec(), have(service_bridge='br-other'))


def test_the_service_port_name_is_the_bridge_name_cut_to_fit_an_interface_name():
    argv = setup_argv(spec(bridge='br-integration0'))
    assert argv[-6:] == ['br-integrat-svc', '--', 'set', 'Interface', 'br-integrat-svc',
                         'type=internal']


def test_without_the_service_port_neither_the_commands_nor_apply_add_it():
    bare = spec(service_port=False)
    assert 'add-port' not in setup_argv(bare)
    assert changes(bare, have(service=None, service_bridge=None)) == []
    assert changes(bare, have(service_bridge='br-other')) == []


def test_ovsdb_json_rows_are_flattened_as_ovs_vsctl_prints_them():
    table = {'headings': ['name', 'protocols', 'other_config', 'controller', 'fail_mode'],
             'data': [['br0', ['set', ['OpenFlow13', 'OpenFlow10']],
                       ['map', [['datapath-id', '0000000000000001'], ['disable-in-band', 'true']]],
                       ['uuid', '2b5a9f4e-0000-4000-8000-000000000001'], ['set', []]]]}
    assert rows(table) == [{'name': 'br0', 'protocols': 'OpenFlow10,OpenFlow13',
                            'other_config:datapath-id': '0000000000000001',
                            'other_config:disable-in-band': 'true',
                            'controller': '2b5a9f4e-0000-4000-8000-000000000001', 'fail_mode': ''}]
    assert flatten(['up'], [True]) == {'up': 'true'}


# -- the command line ---------------------------------------------------------------

def test_setup_prints_the_commands_and_exits_0(tmp_path, capsys):
    path = tmp_path / 't.yml'
    path.write_text(TOPOLOGY)
    assert main(['setup', 'host1', '--topology', str(path), '--datapath-type', 'netdev',
                 '--controller', 'tcp:192.0.2.10:6633']) == 0
    out = capsys.readouterr().out
    assert out.startswith('ovs-vsctl --may-exist add-br host1 \\\n')
    assert 'set-controller host1 tcp:192.0.2.10:6633' in out and 'options:local_ip=198.18.1.1' in out
    assert out.endswith(' \\\n    -- set Interface host1-svc type=internal\n')
    assert main(['setup', 'host1', '--topology', str(path), '--no-service-port']) == 0
    assert 'svc' not in capsys.readouterr().out


def test_setup_of_an_unknown_datapath_says_so_in_one_line_and_exits_1(tmp_path, capsys):
    path = tmp_path / 't.yml'
    path.write_text(TOPOLOGY)
    assert main(['setup', 'nope', '--topology', str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"vnetctl setup: {path}: no datapath 'nope' (datapaths: br0, host1, host2)"]


def test_setup_of_an_invalid_topology_prints_its_problems_and_exits_1(tmp_path, capsys):
    path = tmp_path / 'bad.yml'
    path.write_text('datapaths:\n  br0: {dpid: 0x1, bogus: 1}\n')
    assert main(['setup', 'br0', '--topology', str(path)]) == 1
    assert 'datapaths.br0.bogus: unknown key' in capsys.readouterr().out


@pytest.mark.parametrize('command', ['setup', 'attach', 'detach'])
def test_each_subcommand_help_shows_an_example(command, capsys):
    assert main([command, '--help']) == 0
    out = capsys.readouterr().out
    assert 'example' in out and f'vnetctl {command} ' in out
