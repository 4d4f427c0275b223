"""vnetctl attach/detach: what an interface becomes, which bridge, targets, usage errors."""
import os
import stat
import subprocess

import pytest

from controller.cli import main
from controller.cli.attach import check_ifname, docker_pid, process_netns, resolve
from controller.cli.attach_plan import AttachError, Target, attach_spec, lease_config, pick_bridge, record
from controller.topology import validate_text

TOPOLOGY = """\
datapaths:
  br0: {dpid: 0x1}
networks:
  net1: {ipv4: 172.16.1.0/24, mtu: 1400}
  net2: {ipv4: 172.16.2.0/24}
  net3: {ipv4: 10.3.0.0/16}
interfaces:
  vm1: {network: net1, mac: 52:54:00:00:01:01, ipv4: 172.16.1.1, datapath: br0, port: p1}
  vm2: {network: net2, mac: 52:54:00:00:02:01, ipv4: 172.16.2.1, datapath: br0, port: p2}
  vm3: {network: net3, mac: 52:54:00:00:03:01, ipv4: 10.3.0.1, datapath: br0, port: p3}
  bare: {network: net3, mac: 52:54:00:00:03:02, datapath: br0, port: p4}
  gw1: {network: net1, mode: simulated, mac: 52:54:00:00:01:fe, ipv4: 172.16.1.254, services: [router]}
  gw2a: {network: net2, mode: simulated, mac: 52:54:00:00:02:fe, ipv4: 172.16.2.254, services: [router]}
  gw2b: {network: net2, mode: simulated, mac: 52:54:00:00:02:fd, ipv4: 172.16.2.253, services: [router]}
  gw9: {network: net1, mode: simulated, mac: 52:54:00:00:01:fd, ipv4: 172.16.1.253, services: [router]}
route_links:
  rl1:
    routes: [{interface: gw1}, {interface: gw2a}]
  rl2:
    routes: [{interface: gw2b}, {interface: gw9, ipv4: 192.168.0.0/16, gateway: 172.16.1.9}]
"""
TOPO = validate_text(TOPOLOGY, 't.yml')
BRIDGES = [{'name': 'br0', 'other_config:datapath-id': '0000000000000001'},
           {'name': 'brx', 'other_config:datapath-id': '0000000000000002'}]


def test_an_interface_gets_its_address_with_the_networks_prefix_mtu_and_default_route():
    spec = attach_spec(TOPO, 'vm1')
    assert (spec.port, spec.ifname, spec.mac, spec.cidr, spec.mtu) == \
        ('p1', 'eth0', '52:54:00:00:01:01', '172.16.1.1/24', 1400)
    assert spec.routes[-1] == 'default via 172.16.1.254'


def test_a_network_with_several_routers_gets_the_same_routes_dhcp_hands_out():
    assert attach_spec(TOPO, 'vm2').routes == ('192.168.0.0/16 via 172.16.2.253',
                                               'default via 172.16.2.254')


def test_a_network_without_a_router_gets_no_route_and_no_address_means_no_route():
    assert attach_spec(TOPO, 'vm3').routes == () and attach_spec(TOPO, 'vm3').mtu == 1450
    assert attach_spec(TOPO, 'bare').cidr is None


def test_an_unknown_interface_is_refused_with_the_closest_name():
    with pytest.raises(AttachError, match=r"t.yml: no interface 'vm11'; did you mean vm1\?"):
        attach_spec(TOPO, 'vm11')
    with pytest.raises(AttachError, match='interfaces with a port: bare, vm1, vm2, vm3'):
        attach_spec(TOPO, 'zzzzzz')


def test_a_simulated_interface_has_nothing_to_attach():
    with pytest.raises(AttachError, match='interfaces.gw1 is simulated: it has no port'):
        attach_spec(TOPO, 'gw1')


def test_the_record_says_who_owns_the_port_and_parses_back():
    spec = attach_spec(TOPO, 'vm1', ifname='net0', dhcp=True)
    ids = record(spec, Target('pid', '4242'), pid_start=777)
    assert ids == {'vnet-attach': 'pid=4242', 'vnet-interface': 'vm1', 'vnet-ifname': 'net0',
                   'vnet-dhcp': 'true', 'vnet-pid-start': '777'}
    assert Target.parse(ids['vnet-attach']) == Target('pid', '4242')
    for bad in ('pid', 'vm=1', 'netns='):
        with pytest.raises(AttachError, match='bad vnet-attach record'):
            Target.parse(bad)


# -- which bridge ---------------------------------------------------------------

def test_the_bridge_is_found_by_the_datapaths_dpid_whatever_its_name():
    assert pick_bridge(attach_spec(TOPO, 'vm1'), [BRIDGES[1], {**BRIDGES[0], 'name': 'br-int'}]
                       )['name'] == 'br-int'
    by_runtime_id = [{'name': 'other', 'datapath_id': '"0000000000000001"'}]
    assert pick_bridge(attach_spec(TOPO, 'vm1'), by_runtime_id)['name'] == 'other'


def test_among_bridges_sharing_the_dpid_the_one_named_as_the_datapath_wins_else_it_is_ambiguous():
    twins = [{'name': 'brA', 'other_config:datapath-id': '1'}, {**BRIDGES[0]}]
    assert pick_bridge(attach_spec(TOPO, 'vm1'), twins)['name'] == 'br0'
    with pytest.raises(AttachError, match='bridges brA, brB all have datapath id 0x1'):
        pick_bridge(attach_spec(TOPO, 'vm1'), [twins[0], {**twins[0], 'name': 'brB'}])


def test_an_interface_whose_datapath_has_no_bridge_here_names_the_bridges_there_are():
    with pytest.raises(AttachError) as caught:
        pick_bridge(attach_spec(TOPO, 'vm1'), [BRIDGES[1], {'name': 'plain'}])
    assert str(caught.value) == (
        'vm1 is on datapath br0 (dpid 0x1), which has no bridge on this machine (bridges here: '
        'brx (dpid 0x2), plain (no dpid)); create it with: vnetctl setup br0 --apply')


# -- DHCP ------------------------------------------------------------------------

def test_a_lease_becomes_an_address_and_routes_with_static_routes_winning():
    assert lease_config({'ip': '172.16.1.1', 'mask': '24', 'router': '172.16.1.254'}, 1450) == \
        ('172.16.1.1/24', ['default via 172.16.1.254'], 1450)
    env = {'ip': '172.16.2.1', 'subnet': '255.255.255.0', 'router': '172.16.2.254', 'mtu': '1400',
           'staticroutes': '192.168.0.0/16 172.16.2.253 0.0.0.0/0 172.16.2.254'}
    assert lease_config(env, 1450) == ('172.16.2.1/24', ['192.168.0.0/16 via 172.16.2.253',
                                                         'default via 172.16.2.254'], 1400)
    assert lease_config({}, 1450) == (None, [], 1450)


# -- targets ---------------------------------------------------------------------

def fake_docker(tmp_path, monkeypatch, pid):
    """A `docker` on PATH that knows container `web` (PID `pid`) and `stopped` (PID 0)."""
    script = tmp_path / 'docker'
    script.write_text(f'''#!/bin/sh
[ "$1 $2 $3" = "inspect -f {{{{.State.Pid}}}}" ] || {{ echo "unexpected: $*" >&2; exit 3; }}
case "$4" in
  web) echo {pid} ;;
  stopped) echo 0 ;;
  *) echo "Error: No such object: $4" >&2; exit 1 ;;
esac
''')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', f'{tmp_path}:{os.environ["PATH"]}')


def test_a_container_is_resolved_to_its_pid_with_docker_inspect(tmp_path, monkeypatch):
    fake_docker(tmp_path, monkeypatch, 4242)
    assert docker_pid('web') == 4242
    with pytest.raises(AttachError, match='container stopped is not running'):
        docker_pid('stopped')
    with pytest.raises(AttachError, match='container nope: Error: No such object: nope'):
        docker_pid('nope')


def test_a_container_in_this_machines_namespace_is_refused_after_resolving_its_pid(tmp_path, monkeypatch):
    fake_docker(tmp_path, monkeypatch, os.getpid())
    with pytest.raises(AttachError, match="container web shares this machine's network namespace"):
        resolve(Target('docker', 'web'))


def test_a_dead_process_is_refused():
    proc = subprocess.Popen(['true'])
    proc.wait()
    with pytest.raises(AttachError, match=f'process {proc.pid}: no such process'):
        process_netns(proc.pid, f'process {proc.pid}')


def test_a_missing_namespace_is_refused_for_a_single_attach():
    with pytest.raises(AttachError, match=r'namespace vnet-no-such-ns does not exist \(create it with'):
        resolve(Target('netns', 'vnet-no-such-ns'))


def test_an_inner_interface_name_must_be_a_linux_interface_name():
    assert check_ifname('eth1') == 'eth1'
    for bad in ('', 'a' * 16, 'has space', 'a/b'):
        with pytest.raises(AttachError, match='--ifname'):
            check_ifname(bad)


# -- usage -------------------------------------------------------------------------

@pytest.mark.parametrize('argv, says', [
    (['attach', 'vm1'], 'give INTERFACE and one of --netns, --pid, --docker'),
    (['attach', '--netns', 'ns1'], 'give INTERFACE and one of'),
    (['attach', '--all', 'vm1'], '--all takes no INTERFACE'),
    (['attach', '--all', '--dhcp'], '--all takes no INTERFACE'),
    (['attach', 'vm1', '--netns', 'ns1', '--create-netns'], '--create-netns goes with --all'),
])
def test_usage_errors_say_what_is_wrong_in_one_line_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and says in lines[0]


def test_two_targets_or_a_bad_pid_are_usage_errors():
    assert main(['attach', 'vm1', '--netns', 'a', '--pid', '1']) == 2
    assert main(['attach', 'vm1', '--pid', 'abc']) == 2
