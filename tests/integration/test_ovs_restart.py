"""ovs-vswitchd restarts: the controller reconnects and reconciles, never wipes.

These restart the machine's ovs-vswitchd (ovsdb-server keeps running), so
they affect every bridge on it: run them where nothing else uses OVS (CI).
"""
import subprocess

from lab import wait_for
from tests.integration.scenarios import overlapping_networks, wait_reachable

OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl'
OVS_SAVE = '/usr/share/openvswitch/scripts/ovs-save'


def restart_vswitchd():
    subprocess.run([OVS_CTL, '--no-ovsdb-server', '--system-id=random', 'restart'],
                   check=True, capture_output=True, timeout=60)


def start(lab):
    s = overlapping_networks(lab)
    ctl = s.start(['vm1', 'vm2'])
    wait_reachable(s.hosts['vm1'], '172.16.1.2')
    return s, s.bridges['br0'], ctl


def connections(ctl):
    return ctl.log_text().count('connected with')


def test_after_a_plain_vswitchd_restart_the_controller_reinstalls_and_traffic_resumes(lab):
    s, br, ctl = start(lab)
    before = connections(ctl)
    restart_vswitchd()
    wait_for(lambda: connections(ctl) > before, timeout=20, what='the bridge to reconnect')
    wait_reachable(s.hosts['vm1'], '172.16.1.2', timeout=10)
    assert s.hosts['vm1'].arping('172.16.1.254') == '52:54:00:74:01:fe'


def test_after_a_restart_that_keeps_the_flows_the_controller_finds_them_and_sends_nothing(lab, tmp_path):
    s, br, ctl = start(lab)
    cookies = {f['cookie'] for f in br.dump_flows()}
    script = tmp_path / 'restore.sh'
    saved = subprocess.run([OVS_SAVE, 'save-flows', br.name], check=True, capture_output=True,
                           text=True, timeout=30, cwd=tmp_path).stdout
    script.write_text(saved)
    subprocess.run(['ovs-vsctl', 'set', 'open_vswitch', '.', 'other_config:flow-restore-wait=true'],
                   check=True)
    # Paused, the controller reads the switch back only after the restore.
    ctl.pause()
    try:
        before = connections(ctl)
        restart_vswitchd()
        subprocess.run(['sh', str(script)], check=True, capture_output=True, timeout=60, cwd=tmp_path)
    finally:
        subprocess.run(['ovs-vsctl', 'remove', 'open_vswitch', '.', 'other_config',
                        'flow-restore-wait'], check=True)
        ctl.resume()
    wait_for(lambda: connections(ctl) > before, timeout=20, what='the bridge to reconnect')
    wait_for(lambda: ctl.log_text().rsplit('connected with', 1)[-1].count('found') == 1,
             timeout=10, what='the read-back after reconnecting')
    wait_reachable(s.hosts['vm1'], '172.16.1.2', timeout=10)
    tail = ctl.log_text().rsplit('connected with', 1)[-1]
    assert 'already in sync' in tail, tail
    assert {f['cookie'] for f in br.dump_flows()} == cookies
