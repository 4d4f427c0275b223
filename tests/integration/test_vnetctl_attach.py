"""vnetctl attach/detach on real OVS: namespaces, processes by PID, --dhcp,
--all after the namespaces are gone, idempotence, and bad input that changes nothing."""
import subprocess

from lab import sh
from tests.integration.attachlab import (
    DHCP_SERVER,
    GATEWAY,
    AttachLab,
    container,
    in_ns,
    ok,
    pings,
    snapshot,
    tcp_bytes_through,
    vnetctl,
)


def test_setup_then_attach_on_a_fresh_bridge_gives_working_connectivity_with_no_other_step(lab):
    al = AttachLab(lab)
    al.start()
    a1, a2 = al.netns('a1'), al.netns('a2')
    out = al.attach('vm1', '--netns', a1)
    al.attach('vm2', '--netns', a2)
    assert f'vm1: attached eth0 (52:54:00:7a:01:01, 172.16.1.1/24) in namespace {a1}, port ' \
           f'{al.port["vm1"]} of bridge {al.bridge}' in out
    pings(a1, '172.16.1.2')
    pings(a1, GATEWAY)
    assert 'default via 172.16.1.254 dev eth0' in in_ns(a1, 'ip', 'route').stdout
    assert 'mtu 1450' in in_ns(a2, 'ip', 'link', 'show', 'eth0').stdout
    assert '52:54:00:7a:01:02' in in_ns(a2, 'ip', 'link', 'show', 'eth0').stdout
    # TCP needs TX checksum offload off on the userspace datapath; attach did it
    assert tcp_bytes_through(lab, a1, a2, '172.16.1.2') == 200000


def test_attach_and_detach_are_idempotent(lab):
    al = AttachLab(lab)
    al.start()
    a1 = al.netns('a1')
    al.attach('vm1', '--netns', a1)
    before = snapshot(al, a1)
    again = al.attach('vm1', '--netns', a1)
    assert again.splitlines() == [f'vm1: already attached, nothing changed: eth0 (52:54:00:7a:01:01, '
                                  f'172.16.1.1/24) in namespace {a1}, port {al.port["vm1"]} of '
                                  f'bridge {al.bridge}']
    assert snapshot(al, a1) == before
    assert ok('detach', 'vm1', *al.topology_args).startswith('vm1: detached')
    assert ok('detach', 'vm1', *al.topology_args) == 'vm1: not attached; nothing to do\n'
    assert al.port['vm1'] not in sh(['ovs-vsctl', 'list-ports', al.bridge]).stdout.split()
    assert 'eth0' not in in_ns(a1, 'ip', '-br', 'link').stdout     # the namespace stays, bare


def test_attach_all_restores_attachments_after_their_namespaces_are_deleted_and_recreated(lab):
    al = AttachLab(lab)
    al.start()
    a1, a2 = al.netns('a1'), al.netns('a2')
    al.attach('vm1', '--netns', a1)
    al.attach('vm2', '--netns', a2, '--ifname', 'net0')
    pings(a1, '172.16.1.2')
    for ns in (a1, a2):
        sh(['ip', 'netns', 'del', ns])
    sh(['ip', 'netns', 'add', a1])                   # a2 not yet: reported, the rest restored
    partial = vnetctl('attach', '--all', *al.topology_args)
    assert partial.returncode == 1
    assert f'namespace {a2} does not exist (create it with: ip netns add {a2}); skipped' in partial.stdout
    assert 'vm1: attached eth0' in partial.stdout
    created = ok('attach', '--all', '--create-netns', *al.topology_args)
    assert f'vm2: attached net0 (52:54:00:7a:01:02, 172.16.1.2/24) in namespace {a2}' in created
    pings(a1, '172.16.1.2')
    pings(a2, GATEWAY)
    assert ok('attach', '--all', *al.topology_args).count('already attached, nothing changed') == 2


def test_a_process_in_its_own_namespace_is_attached_by_pid_and_reported_once_it_has_gone(lab):
    al = AttachLab(lab)
    al.start()
    a1 = al.netns('a1')
    al.attach('vm1', '--netns', a1)
    proc = subprocess.Popen(['unshare', '-n', 'sleep', '60'])
    lab.track_process(proc)
    out = al.attach('vm3', '--pid', str(proc.pid))
    assert f'in process {proc.pid}, port {al.port["vm3"]}' in out
    pings(a1, '172.16.1.3')
    inside = sh(['nsenter', f'--net=/proc/{proc.pid}/ns/net', 'ip', '-br', 'addr', 'show', 'eth0']).stdout
    assert '172.16.1.3/24' in inside
    proc.kill()
    proc.wait()
    gone = vnetctl('attach', '--all', *al.topology_args)
    assert gone.returncode == 1
    assert f'process {proc.pid} that vm3 was attached to has gone; skipped' in gone.stdout


def test_dhcp_configures_the_interface_from_the_networks_dhcp_service(lab):
    al = AttachLab(lab)
    al.start()
    a1 = al.netns('a1')
    out = al.attach('vm2', '--netns', a1, '--dhcp')
    assert 'vm2: eth0: DHCP lease 172.16.1.2/24' in out
    assert 'default via 172.16.1.254 dev eth0' in in_ns(a1, 'ip', 'route').stdout
    pings(a1, DHCP_SERVER)
    assert 'already attached, nothing changed' in al.attach('vm2', '--netns', a1, '--dhcp')


def test_bad_input_gets_one_clear_line_and_changes_nothing(lab):
    al = AttachLab(lab)
    al.start()
    a1, a2 = al.netns('a1'), al.netns('a2')
    al.attach('vm1', '--netns', a1)
    in_ns(a2, 'ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0')   # a name attach needs
    dead = subprocess.Popen(['true'])
    dead.wait()
    here = subprocess.Popen(['sleep', '60'])          # in this machine's namespace
    lab.track_process(here)
    cases = [
        (['vm1x', '--netns', a2], "no interface 'vm1x'; did you mean vm1?"),
        (['vm2', '--netns', f'{lab.prefix}-nope'], f'namespace {lab.prefix}-nope does not exist'),
        (['vm9', '--netns', a2], f'vm9 is on datapath {lab.ifname("other")} (dpid {al.dpid + 1:#x}), '
                                 'which has no bridge on this machine'),
        (['vm2', '--pid', str(dead.pid)], f'process {dead.pid}: no such process'),
        (['vm2', '--pid', str(here.pid)], f"process {here.pid} shares this machine's network namespace"),
        (['vm2', '--netns', a2], f'namespace {a2} already has an interface eth0'),
        (['vm1', '--netns', a2], f'interface {al.port["vm1"]} exists already and is not the peer of '
                                 f'eth0 in namespace {a2}'),
        (['gw', '--netns', a2], 'interfaces.gw is simulated'),
    ]
    before = snapshot(al, a1, a2)
    for argv, says in cases:
        cp = vnetctl('attach', *argv, *al.topology_args)
        assert (cp.returncode, cp.stdout.count('\n')) == (1, 1), (argv, cp.stdout, cp.stderr)
        assert says in cp.stdout, (argv, cp.stdout)
        assert snapshot(al, a1, a2) == before, argv
    unknown = vnetctl('detach', 'vm7', *al.topology_args)
    assert unknown.returncode == 1 and "no interface 'vm7'" in unknown.stdout
    assert snapshot(al, a1, a2) == before


def test_a_docker_container_is_attached_by_name_and_attach_all_follows_it_after_a_restart(lab):
    al = AttachLab(lab)
    al.start()
    a1 = al.netns('a1')
    al.attach('vm1', '--netns', a1)
    with container(lab) as name:
        assert f'in container {name}, port {al.port["vm2"]}' in al.attach('vm2', '--docker', name)
        pings(a1, '172.16.1.2')
        assert sh(['docker', 'exec', name, 'ping', '-c1', '-W2', GATEWAY], check=False).returncode == 0
        sh(['docker', 'restart', '-t', '0', name])       # a new PID, and no NIC
        assert 'vm2: created veth' in ok('attach', '--all', *al.topology_args)
        pings(a1, '172.16.1.2')
