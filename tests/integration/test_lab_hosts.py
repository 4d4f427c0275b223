"""The multi-host lab (lab/hosts.py, lab/ovsinstance.py) with hand-written
VXLAN flows and no controller: three emulated hosts, h1 and h2 on underlay
subnet a, h3 on subnet b behind the router namespace, one VM on each."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import Lab, free_tcp_port, iperf3_tcp, sh
from lab.hosts import MultiHost, install_static_vxlan
from lab.netns import link_exists, list_netns
from lab.ovs import list_bridges
from lab.ovsinstance import OvsInstance
from lab.proc import pid_alive

REPO_ROOT = Path(__file__).resolve().parents[2]
VNI = 5001


def _vm(h, i):
    return h.vm(f'vm{i}', port=f'p-vm{i}', mac=f'52:54:00:44:01:{i:02x}', cidr=f'10.44.1.{i}/24')


@pytest.fixture(scope='module')
def three():
    with Lab() as lab:
        hosts = MultiHost(lab)
        hs = [hosts.host('h1', dpid=0x101), hosts.host('h2', dpid=0x102),
              hosts.host('h3', dpid=0x103, subnet='b')]
        vms = [_vm(h, i) for i, h in enumerate(hs, 1)]
        install_static_vxlan(vms, VNI)
        hosts.prime_tunnels()
        yield hosts, hs, vms
        hosts.close()


def test_layout(three):
    hosts, (h1, h2, h3), (vm1, _, _) = three
    assert (h1.tunnel_ip, h2.tunnel_ip, h3.tunnel_ip) == ('198.18.1.1', '198.18.1.2', '198.18.2.1')
    assert h1.vsctl('get', 'Bridge', 'br-int', 'datapath_type', 'fail_mode').split() == ['netdev', 'secure']
    assert h1.vsctl('list-ports', 'br-int').split() == ['p-vm1', 'vxlan0']
    assert h1.vsctl('list-ports', 'br-phy').split() == ['ul0']
    opts = h1.vsctl('get', 'Interface', 'vxlan0', 'options')
    assert 'remote_ip=flow' in opts and 'key=flow' in opts and 'local_ip="198.18.1.1"' in opts
    assert '0000000000000103' in h3.vsctl('get', 'Bridge', 'br-int', 'other-config')
    # the private OVS is not the machine's: its bridges are invisible there
    assert not {'br-int', 'br-phy'} & set(list_bridges())
    link = json.loads(vm1.run('ip -j link show eth0').stdout)[0]
    assert (link['mtu'], link['address']) == (1450, vm1.mac)
    assert 'tx-checksumming: off' in vm1.run('ethtool -k eth0').stdout
    assert vm1.is_plugged()
    # the mgmt network is only built for a controller
    assert hosts.mgmt_net is None and 'mgmt0' not in h1.run('ip -br link').stdout


def test_static_flows_ping_all_pairs(three):
    _, _, vms = three
    failed = [(a.name, b.name) for a in vms for b in vms
              if a is not b and not a.ping(b.ip, count=1, timeout=2)]
    assert not failed, f'no ping between {failed}'


def test_priming_taught_every_next_hop(three):
    # OVS drops what it tunnels to an unresolved next hop (the first pings);
    # after prime_tunnels each knows its peers on the subnet and the router
    hosts, hs, _ = three
    for h in hs:
        cache = h.arp_cache()
        assert all(ip in cache for ip in hosts.next_hops(h)), cache


def test_vni_on_the_wire(three):
    _, (h1, _, h3), (vm1, _, vm3) = three
    cap = h3.tcpdump_underlay('udp port 4789', count=2)
    assert vm1.ping(vm3.ip)
    text = cap.wait(timeout=5)
    assert cap.vnis() == [VNI, VNI], text
    assert f'{h1.tunnel_ip}.' in text and f'> {h3.tunnel_ip}.4789' in text, text


def test_iperf3_tcp_between_hosts(three):
    _, _, (vm1, vm2, _) = three
    gbps = iperf3_tcp(vm1, vm2, vm2.ip, seconds=2)
    assert gbps > 0, gbps


def test_controller_target_reaches_the_root_namespace():
    # the controller listens in the root namespace: br-int must reach it over mgmt0
    with Lab() as lab, socket.socket() as srv:
        hosts = MultiHost(lab, controller_port=free_tcp_port())
        srv.bind((hosts.controller_ip, hosts.controller_port))
        srv.listen()
        srv.settimeout(15)
        h1 = hosts.host('h1', dpid=0x201)
        assert h1.vsctl('get-controller', 'br-int').strip() == hosts.controller_target
        conn, (peer, _) = srv.accept()
        conn.close()
        hosts.close()
        assert peer == h1.mgmt_ip.split('/')[0]


def test_ovsinstance_stop_restart():
    with Lab() as lab:
        ns = f'{lab.prefix}-o'
        lab.track_netns(ns)
        sh(['ip', 'netns', 'add', ns])
        ovs = OvsInstance(lab.path('ovs'), netns=ns, track=lab.track_process).start()
        ovs.vsctl('add-br', 'b0', '--', 'set', 'Bridge', 'b0', 'datapath_type=netdev')
        assert 'b0' in ovs.ofctl('show', 'b0')
        pids = ovs.pids()
        assert len(pids) == 2 and ovs.rss_kib() > 0
        ovs.stop()
        assert not [p for p in pids if Path(f'/proc/{p}').exists()]
        ovs.start()                           # a restart keeps the database
        assert ovs.vsctl('list-br').split() == ['b0'] and 'b0' in ovs.ofctl('show', 'b0')
        ovs.stop()


_CHILD = '''
import json, sys, time
from lab import Lab
from lab.hosts import MultiHost
lab = Lab().start()
hosts = MultiHost(lab, controller_port=6653)
vms = [h.vm('vm' + h.name, port='p-' + h.name, mac='52:54:00:44:02:0' + h.name[1], cidr='10.44.2.%s/24' % h.name[1])
       for h in (hosts.host('h1', dpid=1), hosts.host('h2', dpid=2, subnet='b'))]
print(json.dumps({'state': str(lab.state_file), 'netns': lab._all_netns(), 'links': lab._links,
                  'pids': [p for h in hosts.hosts.values() for p in h.ovs.pids()]}), flush=True)
time.sleep(600)
'''


def test_crashed_multihost_lab_is_cleaned_by_the_next_lab():
    child = subprocess.Popen([sys.executable, '-c', _CHILD], cwd=REPO_ROOT, text=True,
                             stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    try:
        made = json.loads(child.stdout.readline() or '{}')
    finally:
        child.send_signal(signal.SIGKILL)     # no cleanup of any kind in the child
        child.wait(timeout=10)                # a zombie would still count as alive
    assert made, 'the child did not build its lab'
    assert len(made['netns']) == 6 and len(made['pids']) == 4    # ul, rt, 2 hosts, 2 VMs
    assert len(made['links']) == 3            # root namespace: mgmt bridge, 2 veths
    assert all(Path(f'/proc/{p}').exists() for p in made['pids'])
    with Lab():                               # its start sweeps labs whose owner died
        pass
    assert not set(made['netns']) & set(list_netns())
    assert not [link for link in made['links'] if link_exists(link)]
    assert not [p for p in made['pids'] if pid_alive(p, None)]      # a zombie awaiting PID 1 has exited
    assert not Path(made['state']).exists()
