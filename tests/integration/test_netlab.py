"""Tests of the lab harness itself, on real OVS, without the controller."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab import REPO_ROOT, STATE_DIR, GiveUp, Lab, free_tcp_port, iperf3_tcp, parse_flow_line, sh, wait_for
from lab.core import remove_resources
from lab.netns import link_exists, list_netns
from lab.ovs import list_bridges


def _exists(kind, name):
    if kind == 'bridge':
        return name in list_bridges()
    if kind == 'netns':
        return name in list_netns()
    return link_exists(name)


def _two_hosts(lab, bridge):
    h1 = lab.host('h1', bridge, lab.ifname('p1'), '52:54:00:4e:4c:01', '172.31.98.1/24')
    h2 = lab.host('h2', bridge, lab.ifname('p2'), '52:54:00:4e:4c:02', '172.31.98.2/24')
    return h1, h2


def test_normal_bridge_ping_arping_iperf3():
    with Lab() as lab:
        br = lab.normal_bridge('n')
        h1, h2 = _two_hosts(lab, br)

        # the bridge is netdev, standalone, with exactly one NORMAL flow
        assert sh(['ovs-vsctl', 'get', 'Bridge', br.name,
                          'datapath_type']).stdout.strip() == 'netdev'
        flows = br.dump_flows(cookie=None)
        assert [(f['priority'], f['match'], f['actions']) for f in flows] == \
            [(0, '', 'NORMAL')]
        assert sorted(br.ports()) == sorted([h1.port, h2.port])

        # the namespace side is set up as documented
        link = h1.run('ip -j link show eth0').stdout
        assert json.loads(link)[0]['address'] == '52:54:00:4e:4c:01'
        assert 'tx-checksumming: off' in h1.run('ethtool -k eth0').stdout

        assert h1.ping(h2.ip)
        assert h2.ping(h1.ip, count=2)
        assert h1.arping(h2.ip) == h2.mac
        assert h1.arping('172.31.98.77', timeout=1) is None
        assert not h1.ping('172.31.98.77', timeout=1)

        gbps = iperf3_tcp(h1, h2, h2.ip, seconds=2)
        assert gbps > 0.01, f'iperf3 rate {gbps} Gbit/s'

        h2.add_address('172.31.97.2/24')
        h1.add_address('172.31.97.1/24')
        assert h1.ping('172.31.97.2')

        # unplug/plug removes and re-adds the OVS port
        h2.unplug()
        assert not h2.is_plugged()
        assert not h1.ping(h2.ip, timeout=1)
        h2.plug()
        assert h2.is_plugged()
        wait_for(lambda: h1.ping(h2.ip), timeout=10, what='ping after plug()')
        names = [br.name, h1.ns, h2.ns, h1.port, h2.port]
    for name in names:
        assert not any(_exists(k, name) for k in ('bridge', 'netns', 'link')), \
            f'{name} still exists after the lab closed'
    assert not lab.state_file.exists()
    assert not lab.tmp.exists()


def test_controller_bridge_settings_and_cleanup_on_failure():
    lab = Lab()
    with pytest.raises(RuntimeError, match='boom'):
        with lab:
            port = free_tcp_port()
            br = lab.bridge('c', dpid=0xabc, controller_port=port)
            h = lab.host('h', br, lab.ifname('c1'), '52:54:00:4e:4c:03',
                         '172.31.98.3/24', gateway='172.31.98.254', plugged=False)
            get = lambda *a: sh(['ovs-vsctl', 'get', *a]).stdout.strip()  # noqa
            assert get('Bridge', br.name, 'datapath_type') == 'netdev'
            assert get('Bridge', br.name, 'fail_mode') == 'secure'
            assert get('Bridge', br.name, 'protocols') == '[OpenFlow13]'
            assert get('Bridge', br.name, 'other-config:datapath-id') == '"0000000000000abc"'
            assert get('Bridge', br.name, 'other-config:disable-in-band') == '"true"'
            assert get('Bridge', br.name, 'datapath_id') == '"0000000000000abc"'
            assert sh(['ovs-vsctl', 'get-controller', br.name]).stdout.strip() == \
                f'tcp:127.0.0.1:{port}'
            assert get('Controller', br._controller_uuid(), 'connection_mode') == \
                'out-of-band'
            assert not br.is_connected()
            # secure mode, no controller: no flows, so nothing passes
            assert br.dump_flows(cookie=None) == []
            assert not h.is_plugged()
            assert 'default via 172.31.98.254' in h.run('ip route').stdout
            assert lab.leftovers()
            raise RuntimeError('boom')
    assert lab.leftovers() == []


def test_crashed_run_is_cleaned_by_the_next_lab(tmp_path):
    """A lab whose process was SIGKILLed leaves its record; the next Lab
    removes what it lists."""
    code = r'''
import os, sys, signal
sys.path.insert(0, sys.argv[1])
from lab import Lab
lab = Lab().start()
br = lab.normal_bridge('x')
h = lab.host('h', br, lab.ifname('x1'), '52:54:00:4e:4c:04', '172.31.98.4/24')
h.popen(['sleep', '300'])
print(lab.prefix, br.name, h.ns, h.port, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''
    cp = subprocess.run([sys.executable, '-c', code, str(REPO_ROOT)],
                        capture_output=True, text=True, timeout=60)
    prefix, br, ns, port = cp.stdout.split()
    assert _exists('bridge', br) and _exists('netns', ns) and _exists('link', port)
    with Lab():
        pass
    assert not _exists('bridge', br)
    assert not _exists('netns', ns)
    assert not _exists('link', port)
    assert not (STATE_DIR / f'{prefix}.json').exists()


_TRACKING = r'''
import os, signal, subprocess, sys
sys.path.insert(0, sys.argv[1])
from lab import Lab, sh
lab = Lab().start()
ns, link, br = f'{lab.prefix}-t', lab.ifname('t1'), lab.ifname('tb')
lab.track_netns(ns)
sh(['ip', 'netns', 'add', ns])
lab.track_link(link)
sh(['ip', 'link', 'add', link, 'type', 'veth', 'peer', 'name', lab.ifname('t2')])
lab.track_bridge(br)
sh(['ovs-vsctl', 'add-br', br, '--', 'set', 'Bridge', br, 'datapath_type=netdev'])
sleeper = subprocess.Popen(['sleep', '300'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
lab.track_process(sleeper)
print(lab.prefix, ns, link, br, sleeper.pid, flush=True)
if sys.argv[2] == 'crash':
    os.kill(os.getpid(), signal.SIGKILL)
lab.close()
'''


@pytest.mark.parametrize('end', ['close', 'crash'])
def test_tracked_resources_are_removed_at_close_and_after_a_crash(end):
    """What others create and register with lab.track_* goes with the lab:
    at close(), or (after a crash) when the next Lab starts."""
    cp = subprocess.run([sys.executable, '-c', _TRACKING, str(REPO_ROOT), end],
                        capture_output=True, text=True, timeout=60)
    prefix, ns, link, br, pid = cp.stdout.split()
    if end == 'crash':
        assert _exists('netns', ns) and _exists('link', link) and _exists('bridge', br)
        with Lab():
            pass
    assert not _exists('netns', ns)
    assert not _exists('link', link) and not _exists('link', link[:-1] + '2')
    assert not _exists('bridge', br)
    assert not Path(f'/proc/{pid}').exists() or 'sleep' not in Path(f'/proc/{pid}/cmdline').read_text()
    assert not (STATE_DIR / f'{prefix}.json').exists()


def test_explicit_prefix_sweeps_leftovers():
    sh(['ip', 'netns', 'add', 'nlzz9-old'])
    sh(['ip', 'link', 'add', 'nlzz9old', 'type', 'veth', 'peer', 'name',
               'eth0', 'netns', 'nlzz9-old'])
    try:
        with Lab(prefix='nlzz9') as lab:
            assert not _exists('netns', 'nlzz9-old')
            assert not _exists('link', 'nlzz9old')
            assert lab.ifname('p1') == 'nlzz9p1'
    finally:
        remove_resources(netns=['nlzz9-old'], links=['nlzz9old'])


def test_parse_flow_line():
    f = parse_flow_line(' cookie=0x766e000000000003, duration=0.075s, table=2, '
                        'n_packets=7, n_bytes=420, idle_timeout=50, send_flow_rem '
                        'priority=5,ip,nw_dst=1.2.3.4 actions=goto_table:3')
    assert (f['cookie'], f['table'], f['n_packets'], f['priority'], f['match'],
            f['actions'], f['flags'], f['idle_timeout']) == \
        (0x766e000000000003, 2, 7, 5, 'ip,nw_dst=1.2.3.4', 'goto_table:3',
         ['send_flow_rem'], 50)
    assert f['duration'] == pytest.approx(0.075)
    f = parse_flow_line(' cookie=0x1, duration=1s, table=3, n_packets=0, n_bytes=0, '
                        'actions=write_metadata:0x5/0xff,goto_table:4')
    assert (f['priority'], f['match'], f['actions']) == \
        (32768, '', 'write_metadata:0x5/0xff,goto_table:4')
    f = parse_flow_line(' cookie=0x1, duration=1s, table=1, n_packets=0, n_bytes=0, '
                        'in_port=LOCAL actions=output:1')
    assert (f['priority'], f['match']) == (32768, 'in_port=LOCAL')


def test_wait_for_reports_last_state():
    seen = []

    def counter():
        seen.append(len(seen))
        return 0 if len(seen) < 1000 else None

    with pytest.raises(AssertionError, match=r'waiting for counter; last observed: 0\n'
                       r'state: 3 polls'):
        wait_for(counter, timeout=0.1, interval=0.05, what='counter',
                        state=lambda: f'{min(len(seen), 3)} polls')
    assert wait_for(lambda: 'ok', timeout=1) == 'ok'

    calls = []

    def flaky():
        calls.append(1)
        assert len(calls) > 2, 'not yet'
        return len(calls)

    assert wait_for(flaky, timeout=5, interval=0.01) == 3

    def dead():
        raise GiveUp('the process died')

    with pytest.raises(GiveUp, match='died'):
        wait_for(dead, timeout=30)
