"""Controller failover: two controllers on one bridge, the leader elected
through a lease in a real etcd, OpenFlow roles on real OVS."""
import os
import re
import signal
import time
from datetime import datetime

from lab import free_tcp_port, sh, wait_for
from lab.etcd import EtcdCluster
from lab.failover import (
    DhcpWatch,
    Renewer,
    controller_roles,
    election_args,
    ping_counts,
    set_controllers,
    wait_roles,
)
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable

TTL = 2
OVSDB_LAG = 10.0             # OVS refreshes a controller's role in OVSDB every few seconds
FAILOVER_WITHIN = 5.0        # seconds from killing the leader to the next DHCP reply


def scenario(lab):
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0xfa}},
        networks={'net1': {'ipv4': '172.16.1.0/24', 'lease_time': 600}},
        interfaces={
            'vm1': vif(lab, 'net1', '52:54:00:0f:00:01', '172.16.1.1', 'br0', 'f1'),
            'vm2': vif(lab, 'net1', '52:54:00:0f:00:02', '172.16.1.2', 'br0', 'f2'),
            'vm3': vif(lab, 'net1', '52:54:00:0f:00:03', '172.16.1.3', 'br0', 'f3'),
            'net1-gw': gateway('net1', '52:54:00:74:0f:fe', '172.16.1.254'),
            'net1-dhcp': gateway('net1', '52:54:00:74:0f:fd', '172.16.1.253', services=('dhcp',)),
        })


def controllers_on_one_bridge(lab, start, urls):
    """The bridge, its hosts, and one controller per election URL, started
    in order: the first is elected and made master before the next starts."""
    s = scenario(lab)
    s.write()
    ports = [free_tcp_port() for _ in urls]
    br = s.make_bridge('br0', None)
    set_controllers(br, ports)            # all of them before anyone programs the bridge
    for name in ('vm1', 'vm2', 'vm3'):
        s.make_host(name)
    ctls = []
    for i, (port, url) in enumerate(zip(ports, urls)):
        ctls.append(start(s.path, port=port, extra_args=election_args(url, TTL)))
        if i == 0:
            wait_for(lambda: logged_at(ctls[0], 'the switch confirms role MASTER'), timeout=15,
                     what='the first controller to become master')
            br.wait_for_flows(10)
    for ctl in ctls[1:]:                  # its role confirmed, or refused
        wait_for(lambda c=ctl: re.search('the switch (confirms|refused our) role', c.log_text()),
                 timeout=15, what=f'{ctl} to have its role')
    return s, br, ctls


def flow_mods(ctl):
    """The flow-mod count of each change a controller sent, from its log
    ('br0 (dpid 0xfa): connected: +12 -0 flows, ... (12 flow-mods, one bundle)')."""
    return [int(n) for n in re.findall(r'^(?!.*applied in).*\((\d+) flow-mods', ctl.log_text(),
                                       re.M)]


def logged_at(ctl, text):
    """When the controller last logged a line containing `text` (epoch s), or None."""
    stamps = [line[:23] for line in ctl.log_text().splitlines() if text in line]
    return datetime.strptime(stamps[-1], '%Y-%m-%d %H:%M:%S,%f').timestamp() if stamps else None


def ping_loss(proc):
    out, _ = proc.communicate(timeout=60)
    return (*ping_counts(out), out)


def test_killing_the_leader_hands_over_with_no_loss_no_duplicate_dhcp_and_no_flow_mods(
        lab, controller_factory):
    etcd = EtcdCluster(lab).start()
    s, br, (leader, follower) = controllers_on_one_bridge(lab, controller_factory,
                                                          [etcd.store_url()] * 2)
    assert logged_at(follower, 'the switch confirms role SLAVE')
    vm1 = s.hosts['vm1']
    wait_reachable(vm1, '172.16.1.2')
    watch = DhcpWatch(s.hosts['vm3'], lab.path('vm3-dhcp.txt'))
    renewer = Renewer(s.hosts['vm3'], lab.tmp, every=0.25)
    pinger = vm1.popen(['ping', '-i', '0.05', '-w', '6', '-W', '1', '172.16.1.2'],
                       stdout=-1, text=True)
    time.sleep(1.5)
    assert watch.replies_after(0), 'no DHCP reply before the kill'
    before = {f['cookie']: f['duration'] for f in br.dump_flows()}
    assert flow_mods(follower) == [], 'the follower wrote to the switch'

    killed_at = time.time()
    os.kill(leader.pid, signal.SIGKILL)
    wait_for(lambda: watch.replies_after(killed_at), timeout=FAILOVER_WITHIN, interval=0.05,
             what='a DHCP reply from the new leader')
    wait_roles(br, {follower.port: 'master', leader.port: None}, timeout=OVSDB_LAG)
    answered_after = watch.replies_after(killed_at)[0].at - killed_at

    sent, received, out = ping_loss(pinger)
    renewer.stop()
    watch.stop()
    assert sent >= 100 and received == sent, out
    assert answered_after < FAILOVER_WITHIN
    assert watch.duplicates() == {}
    assert len(watch.replies_after(killed_at)) >= 5          # renewals answered from then on
    log = follower.log_text()
    assert 'br0 (dpid 0xfa): became master: already in sync' in log, log
    assert flow_mods(follower) == []
    after = {f['cookie']: f['duration'] for f in br.dump_flows()}
    assert after.keys() == before.keys()
    replaced = [c for c in before if after[c] < before[c]]    # a re-added flow starts at 0
    assert replaced == []


def test_a_leader_cut_off_from_etcd_steps_down_and_the_data_plane_keeps_going(
        lab, controller_factory):
    etcd = EtcdCluster(lab).start()
    s, br, (leader, follower) = controllers_on_one_bridge(lab, controller_factory,
                                                          [etcd.store_url()] * 2)
    assert logged_at(follower, 'the switch confirms role SLAVE')
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
    programmed = flow_mods(leader)
    assert len(programmed) == 1 and flow_mods(follower) == []
    killed_at = time.time()
    etcd.kill(0)
    # before its lease could run out (TTL), the leader has the switch make it SLAVE
    wait_for(lambda: logged_at(leader, 'the switch confirms role SLAVE'), timeout=TTL + 1,
             what='the leader to step down')
    assert logged_at(leader, 'the switch confirms role SLAVE') - killed_at < TTL
    assert 'stepping down as leader' in leader.log_text()
    assert s.hosts['vm1'].ping('172.16.1.2', count=3, interval=0.2)
    back_at = time.time()
    etcd.restart(0)
    wait_for(lambda: any((logged_at(c, 'the switch confirms role MASTER') or 0) > back_at
                         for c in (leader, follower)), timeout=10, what='a leader once etcd is back')
    assert flow_mods(leader) == programmed and flow_mods(follower) == []


def test_a_master_request_with_an_older_generation_is_refused_by_the_switch(
        lab, controller_factory):
    """A controller elected through another etcd (a split brain) holds an
    older generation than the switch has seen: the switch refuses it, and
    it writes nothing and answers no DHCP."""
    etcd, other = EtcdCluster(lab).start(), EtcdCluster(lab).start()
    for i in range(5):                        # the real leader's generation: > 2
        sh(['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', etcd.members[0].client_url, 'put',
            f'/vnet/filler{i}', 'x'])
    s, br, (leader, stale) = controllers_on_one_bridge(
        lab, controller_factory, [etcd.store_url(), other.store_url()])
    wait_for(lambda: 'as stale' in stale.log_text(), timeout=10,
             what='the switch to refuse the stale master request')
    wait_for(lambda: controller_roles(br)[leader.port] == 'master', timeout=OVSDB_LAG,
             what='OVS to report the leader as master')
    assert controller_roles(br)[stale.port] != 'master'
    assert 'this controller leads (generation 2)' in stale.log_text()
    watch = DhcpWatch(s.hosts['vm3'], lab.path('vm3-dhcp.txt'))
    renewer = Renewer(s.hosts['vm3'], lab.tmp, every=0.3)
    time.sleep(1.5)
    renewer.stop()
    watch.stop()
    assert len(watch.replies_after(0)) >= 3 and watch.duplicates() == {}
    assert flow_mods(stale) == []
