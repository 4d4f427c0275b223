"""Live topology edits and controller restarts, under a steady ping that must lose nothing."""
import copy
import os
import re
import signal
import subprocess
import time

import yaml

from lab import wait_for
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable

VISIBLE_WITHIN = 1.0     # seconds from saving the file to hosts seeing the change


def base(lab):
    """net1 (vm1, vm2) is never touched; the edits happen around it."""
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x5}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'}},
        interfaces={
            'vm1': vif(lab, 'net1', '52:54:00:00:01:01', '172.16.1.1', 'br0', 'v1'),
            'vm2': vif(lab, 'net1', '52:54:00:00:01:02', '172.16.1.2', 'br0', 'v2'),
            'vm3': vif(lab, 'net2', '52:54:00:00:02:03', '172.16.2.3', 'br0', 'v3'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net2-gw': gateway('net2', '52:54:00:74:02:fe', '172.16.2.254'),
        })


class Editor:
    """Saves new versions of the topology the way editors do, and times them."""

    def __init__(self, scenario):
        self.s = scenario

    def save(self, doc, by_rename=True, text=None):
        body = text if text is not None else yaml.safe_dump(doc, sort_keys=False)
        if by_rename:
            tmp = str(self.s.path) + '.tmp'
            with open(tmp, 'w') as f:
                f.write(body)
            os.replace(tmp, self.s.path)
        else:
            with open(self.s.path, 'w') as f:
                f.write(body)
        self.saved_at = time.monotonic()

    def visible(self, probe, what):
        wait_for(probe, timeout=5, interval=0.05, what=what)
        elapsed = time.monotonic() - self.saved_at
        assert elapsed <= VISIBLE_WITHIN + 0.3, f'{what} took {elapsed:.2f}s after the save'
        return elapsed


def quick_ping(host, ip):
    """One ping with a fresh ARP: Linux retries an unanswered ARP only every
    second, which would hide how fast the change really was."""
    return lambda: host.run(f'ip neigh flush to {ip}; ip neigh flush to default; '
                            f'ping -c 1 -W 0.3 {ip}', check=False).returncode == 0


def flows_of(br, vni, ofports):
    """One network's flows (matched on its network id or on one of its
    ports), by cookie: (duration, n_packets)."""
    mine = re.compile(rf'metadata={hex(vni)}\b|in_port=({"|".join(map(str, ofports))})\b')
    return {f['cookie']: (f['duration'], f['n_packets']) for f in br.dump_flows()
            if mine.search(f['match'])}


def steady_ping(host, ip, seconds):
    return host.popen(['ping', '-i', '0.05', '-w', str(seconds), '-W', '1', ip],
                      stdout=subprocess.PIPE)


def ping_result(proc):
    """(echoes sent, echoes answered, output), leaving out the last echo if
    it was still on its way when ping was interrupted (ping counts it lost)."""
    out, _ = proc.communicate(timeout=120)
    sent = int(re.search(r'(\d+) packets transmitted', out).group(1))
    answered = {int(n) for n in re.findall(r'icmp_seq=(\d+) ttl=', out)}
    if sent not in answered:
        sent -= 1
    return sent, len(answered & set(range(1, sent + 1))), out


def test_edits_apply_within_a_second_and_touch_nothing_else(lab):
    from controller.topology.validate import default_vni
    s = base(lab)
    ctl = s.start(['vm1', 'vm2', 'vm3'])
    br = s.bridges['br0']
    vm1, vm2 = s.hosts['vm1'], s.hosts['vm2']
    wait_reachable(vm1, '172.16.1.2')
    net1 = (default_vni('net1'), [br.ofport(vm1.port), br.ofport(vm2.port)])
    edit = Editor(s)
    pinger = steady_ping(vm1, '172.16.1.2', 60)
    time.sleep(1)
    before = flows_of(br, *net1)
    assert len(before) > 10

    # 1. add an interface (its port is already plugged) -- saved by rename
    doc = copy.deepcopy(s.doc)
    doc['interfaces']['vm4'] = vif(lab, 'net2', '52:54:00:00:02:04', '172.16.2.4', 'br0', 'v4')
    vm4 = lab.host('vm4', br, doc['interfaces']['vm4']['port'], '52:54:00:00:02:04', '172.16.2.4/24')
    edit.save(doc)
    edit.visible(quick_ping(vm4, '172.16.2.3'), 'the new interface to reach vm3')

    # 2. remove one -- saved by truncate-and-write
    del doc['interfaces']['vm3']
    edit.save(doc, by_rename=False)
    edit.visible(lambda: not quick_ping(vm4, '172.16.2.3')(), 'the removed interface to be cut off')

    # 3. change a network's gateway
    doc['interfaces']['net2-gw'].update(mac='52:54:00:74:02:aa', ipv4='172.16.2.250')
    edit.save(doc)
    edit.visible(lambda: vm4.arping('172.16.2.250') == '52:54:00:74:02:aa', 'the new gateway to answer')
    assert vm4.arping('172.16.2.254') is None

    # 4. add a route link, then remove it
    doc['route_links'] = {'rl': {'routes': [{'interface': 'net1-gw'}, {'interface': 'net2-gw'}]}}
    vm4.run('ip route replace default via 172.16.2.250')
    vm2.run('ip route replace default via 172.16.1.254')
    edit.save(doc)
    edit.visible(quick_ping(vm4, '172.16.1.2'), 'routing through the new route link')
    del doc['route_links']
    edit.save(doc)
    edit.visible(lambda: not quick_ping(vm4, '172.16.1.2')(), 'the route link to be gone')

    # 5. an invalid edit is refused; the network keeps running; the next valid edit applies
    bad = yaml.safe_dump(doc, sort_keys=False).replace('ipv4: 172.16.2.4', 'ipv4: 172.16.9.4')
    edit.save(doc, text=bad)
    wait_for(lambda: 'refusing the edit' in ctl.log_text(), timeout=3, what='the refusal in the log')
    log = ctl.log_text()
    assert re.search(rf'{re.escape(str(s.path))}:\d+: interfaces\.vm4\.ipv4: 172\.16\.9\.4 is outside', log), log[-2000:]
    assert quick_ping(vm4, '172.16.2.250')()
    doc['interfaces']['net2-gw']['ipv4'] = '172.16.2.251'
    edit.save(doc)
    edit.visible(lambda: vm4.arping('172.16.2.251') == '52:54:00:74:02:aa', 'the next valid edit')

    # 6. SIGHUP with unchanged content does nothing
    changes = ctl.log_text().count(' changed: ')
    os.kill(ctl.pid, signal.SIGHUP)
    wait_for(lambda: 'SIGHUP' in ctl.log_text(), timeout=3, what='the SIGHUP to be noticed')
    assert ctl.log_text().count(' changed: ') == changes

    # 7. restart the controller: it reads back what is installed and changes nothing
    ctl.stop()
    ctl.start()
    wait_for(lambda: 'connected: already in sync' in ctl.log_text().split('### netlab')[-1],
             timeout=10, what='the restarted controller to find the switch in sync')

    after = flows_of(br, *net1)
    pinger.send_signal(signal.SIGINT)
    sent, got, out = ping_result(pinger)
    # 20 a second from before the first edit to after the restart (about 5 s now)
    assert sent >= 60 and got == sent, f'the steady ping lost {sent - got} of {sent}:\n{out}'
    # Untouched flows were never deleted or re-added: same cookies, still counting.
    assert set(after) == set(before)
    for cookie, (duration, packets) in before.items():
        assert after[cookie][0] > duration and after[cookie][1] >= packets
