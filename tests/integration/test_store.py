"""The topology in etcd on one switch: vnetctl apply/get/history/rollback,
refusals, quorum faults and the agent's local copy, on real etcd members."""
import copy
import subprocess
import time

import yaml

from lab import free_tcp_port, wait_for
from lab.etcd import EtcdCluster
from tests.integration.scenarios import Scenario, vif, wait_reachable
from tests.integration.storelab import (
                                        VNETCTL,
                                        agent_args,
                                        applied_revision,
                                        apply,
                                        vnetctl,
                                        wait_logged,
                                        write_around,
)
from tests.integration.test_live_edits import ping_result, steady_ping

VM3 = '172.16.1.3'


class OneSwitch:
    """br0 with vm1, vm2 (in the stored topology) and vm3 (plugged, but only in
    the topology after an edit), its agent reading `url`."""

    def __init__(self, lab, url):
        self.lab, self.url = lab, url
        self.s = Scenario(lab, datapaths={'br0': {'dpid': 0x5}},
                          networks={'net1': {'ipv4': '172.16.1.0/24'}},
                          interfaces={n: vif(lab, 'net1', f'52:54:00:00:01:0{i}', f'172.16.1.{i}',
                                             'br0', f'v{i}') for i, n in
                                      ((1, 'vm1'), (2, 'vm2'), (3, 'vm3'))})
        self.with_vm3 = copy.deepcopy(self.s.doc)
        self.without_vm3 = copy.deepcopy(self.s.doc)
        del self.without_vm3['interfaces']['vm3']
        self.port = free_tcp_port()
        self.br = self.s.make_bridge('br0', self.port)
        self.vm1, self.vm2, self.vm3 = (self.s.make_host(n) for n in ('vm1', 'vm2', 'vm3'))
        self.ctl = None

    def start_agent(self, wait_sync=True):
        self.ctl = self.lab.controller(self.url, port=self.port, extra_args=agent_args(self.lab))
        self.br.wait_connected()
        if wait_sync:
            wait_reachable(self.vm1, '172.16.1.2')
        return self.ctl

    def reaches_vm3(self):
        return self.vm1.run(f'ip neigh flush to {VM3}; ping -c 1 -W 0.3 {VM3}',
                            check=False).returncode == 0


def test_an_edit_applied_with_vnetctl_reaches_the_agent_and_a_rollback_takes_it_back(lab):
    url = EtcdCluster(lab).start().store_url('t')
    sw = OneSwitch(lab, url)
    first = applied_revision(apply(lab, url, sw.without_vm3))
    ctl = sw.start_agent()
    assert not sw.reaches_vm3()

    cp = apply(lab, url, sw.with_vm3)
    second = applied_revision(cp)
    assert 'interfaces +vm3' in cp.stdout
    wait_for(sw.reaches_vm3, timeout=5, interval=0.1, what='vm1 to reach vm3 after the apply')
    log = wait_logged(ctl, f'/t/topology@{second} changed: interfaces +vm3')
    assert 'Traceback' not in log

    got = vnetctl('get', '--store', url)
    assert got.returncode == 0 and got.stdout.startswith(f'# revision {second} of ')
    assert yaml.safe_load(got.stdout) == sw.with_vm3
    history = vnetctl('history', '--store', url).stdout.splitlines()
    assert [int(line[1:].split()[0]) for line in history] == [first, second]
    assert history[1].startswith('*') and history[1].endswith('interfaces +vm3')
    assert 'first document' in history[0]

    back = vnetctl('rollback', first, '--store', url)
    assert back.returncode == 0, back.stderr
    assert f'rollback to {first}: interfaces -vm3' in back.stdout
    wait_for(lambda: not sw.reaches_vm3(), timeout=5, interval=0.1, what='vm3 to be cut off again')
    unknown = vnetctl('rollback', 999999, '--store', url)
    assert unknown.returncode == 1 and 'not in the history' in unknown.stderr


def test_an_invalid_document_written_straight_into_etcd_is_refused_and_the_last_good_keeps_running(lab):
    url = EtcdCluster(lab).start().store_url('t')
    sw = OneSwitch(lab, url)
    good = applied_revision(apply(lab, url, sw.without_vm3))
    ctl = sw.start_agent()
    flows = {(f['cookie'], f['match'], f['actions']) for f in sw.br.dump_flows()}

    bad = yaml.safe_dump(sw.with_vm3, sort_keys=False).replace('172.16.1.0/24', '172.16.1.0/33')
    line = 1 + bad.splitlines().index('    ipv4: 172.16.1.0/33')
    rev = write_around(url, bad)
    log = wait_logged(ctl, f'refusing the edit of etcd://{url[7:].split("/")[0]}/t/topology@{rev}')
    assert f'/t/topology@{rev}:{line}: networks.net1.ipv4:' in log     # line and key path
    assert sw.vm1.ping('172.16.1.2', count=1, timeout=1)
    assert not sw.reaches_vm3()
    assert {(f['cookie'], f['match'], f['actions']) for f in sw.br.dump_flows()} == flows
    cache = list(lab.path('cache-agent').glob('*.json'))
    assert len(cache) == 1 and f'"revision": {good}' in cache[0].read_text()
    # vnetctl refuses the same document before it reaches the store
    refused = vnetctl('apply', lab.write('bad.yml', bad), '--store', url)
    assert refused.returncode == 1 and f'bad.yml:{line}: networks.net1.ipv4:' in refused.stdout


def test_with_one_member_of_three_down_edits_apply_with_two_down_traffic_flows_and_apply_fails_clearly(lab):
    etcd = EtcdCluster(lab, size=3).start()
    url = etcd.store_url('t')
    sw = OneSwitch(lab, url)
    apply(lab, url, sw.without_vm3)
    ctl = sw.start_agent()

    etcd.kill(0)                                    # one of three: still a quorum
    applied_revision(apply(lab, url, sw.with_vm3))
    wait_for(sw.reaches_vm3, timeout=5, interval=0.1, what='vm3 reachable with one member down')

    etcd.kill(1)                                    # two of three: no quorum
    ping = steady_ping(sw.vm1, '172.16.1.2', 4)
    started = time.monotonic()
    cp = apply(lab, url, sw.without_vm3, 'undo.yml', check=False)
    assert cp.returncode == 1 and time.monotonic() - started < 15   # refused, refused, a 5 s timeout
    assert len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    assert 'unavailable' in cp.stderr and 'nothing was written' in cp.stderr
    sent, answered, out = ping_result(ping)
    assert sent >= 40 and answered == sent, out
    assert sw.reaches_vm3()                         # the agent keeps the last good topology
    ctl.assert_running()

    etcd.restart(0, wait=False)
    etcd.restart(1)
    etcd.wait_healthy()
    assert yaml.safe_load(vnetctl('get', '--store', url).stdout) == sw.with_vm3   # nothing half-written
    rev = applied_revision(apply(lab, url, sw.without_vm3, 'undo.yml'))
    wait_for(lambda: not sw.reaches_vm3(), timeout=10, interval=0.1,
             what='the agent to catch up once the members are back')
    wait_logged(ctl, f'/t/topology@{rev} changed: interfaces -vm3')


def test_of_two_conflicting_applies_exactly_one_wins(lab):
    etcd = EtcdCluster(lab).start()
    url = etcd.store_url('t')
    doc = {'datapaths': {'br0': {'dpid': 5}}, 'networks': {'net1': {'ipv4': '10.9.0.0/24'}}}
    base = applied_revision(apply(lab, url, doc))
    edits = []
    for n in (2, 3):
        edit = copy.deepcopy(doc)
        edit['networks'][f'net{n}'] = {'ipv4': f'10.9.{n}.0/24'}
        edits.append(lab.write(f'edit{n}.yml', yaml.safe_dump(edit)))
    procs = [subprocess.Popen([VNETCTL, 'apply', p, '--store', url, '--expect-revision', str(base)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in edits]
    results = [(p.wait(timeout=30), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results) == [0, 1], results
    winner = next(i for i, (rc, _, _) in enumerate(results) if rc == 0)
    loser_err = results[1 - winner][2]
    assert 'changed since you looked' in loser_err and 'nothing was written' in loser_err
    stored = vnetctl('get', '--store', url).stdout
    assert yaml.safe_load(stored) == yaml.safe_load(edits[winner].read_text())
    assert len(vnetctl('history', '--store', url).stdout.splitlines()) == 2


def test_an_agent_started_while_etcd_is_down_runs_from_its_local_copy_and_catches_up(lab):
    etcd = EtcdCluster(lab).start()
    url = etcd.store_url('t')
    sw = OneSwitch(lab, url)
    rev = applied_revision(apply(lab, url, sw.without_vm3))
    first = sw.start_agent()
    first.stop()
    etcd.kill(0)

    down = apply(lab, url, sw.with_vm3, check=False)
    assert down.returncode == 1 and 'unavailable' in down.stderr
    ctl = sw.start_agent(wait_sync=False)
    log = wait_logged(ctl, 'already in sync')          # read back: nothing to change
    assert 'RUNNING FROM THE LOCAL COPY' in log and f'(revision {rev})' in log
    assert sw.vm1.ping('172.16.1.2', count=1, timeout=1)

    etcd.restart(0)
    new = applied_revision(apply(lab, url, sw.with_vm3))
    wait_for(sw.reaches_vm3, timeout=10, interval=0.1, what='the agent to catch up with etcd')
    wait_logged(ctl, f'/t/topology@{new} changed')


def test_an_agent_with_neither_etcd_nor_a_local_copy_waits_and_leaves_the_switch_alone(lab):
    etcd = EtcdCluster(lab).start()
    url = etcd.store_url('t')
    sw = OneSwitch(lab, url)
    apply(lab, url, sw.without_vm3)
    sw.start_agent().stop()
    flows = {(f['cookie'], f['match'], f['actions']) for f in sw.br.dump_flows()}
    etcd.kill(0)

    ctl = lab.controller(url, port=sw.port, wait=False, extra_args=[
        '--topology-cache', str(lab.path('empty-cache')), '--api-listen', 'off', '--election', 'off'])
    wait_logged(ctl, 'no local copy in')
    assert 'waiting for etcd' in ctl.log_text() and not ctl.listening()
    assert sw.vm1.ping('172.16.1.2', count=1, timeout=1)          # fail_mode=secure: flows stay
    assert {(f['cookie'], f['match'], f['actions']) for f in sw.br.dump_flows()} == flows

    etcd.restart(0)
    ctl.wait_listening()
    wait_logged(ctl, 'br0 (dpid 0x5): connected: already in sync', timeout=20)
