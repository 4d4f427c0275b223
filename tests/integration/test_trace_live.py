"""vnetctl trace, offline and --live, and vnetctl plan, on real Open vSwitch.

One bridge with seed 003's networks (net1 and net2 routed by rl1, net3 with
net1's addresses on no link) and a DHCP service in net1; then weave's three
emulated hosts (tests/integration/multihost.py), each with its own Open
vSwitch, joined by VXLAN.  For each case the offline trace (the table
simulator, ports numbered in name order), the live trace (ovs-appctl
ofproto/trace on each datapath the frame crosses, cookies mapped back) and a
real packet must tell the same story.
"""
import re
import subprocess
from dataclasses import dataclass
from typing import Callable

import pytest

from controller.explain.changes import flow_changes
from controller.explain.live import LiveTracer, Ovs, live_changes
from controller.explain.packet import Request, build
from controller.explain.source import load_located
from controller.explain.walk import Walker
from lab import REPO_ROOT, Lab, wait_for
from tests.integration.dhcp_clients import udhcpc_once
from tests.integration.multihost import VMS, Weave
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable

VNETCTL = str(REPO_ROOT / '.venv' / 'bin' / 'vnetctl')
GATEWAYS = {'ns1': '172.16.1.254', 'ns4': '172.16.1.254', 'ns2': '172.16.2.254',
            'ns3': '172.16.1.254'}


def seed003_with_dhcp(lab):
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x13}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'},
                  'net3': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'ns1': vif(lab, 'net1', '52:54:00:00:01:01', '172.16.1.1', 'br0', 'n1'),
            'ns4': vif(lab, 'net1', '52:54:00:00:01:02', '172.16.1.2', 'br0', 'n4'),
            'ns2': vif(lab, 'net2', '52:54:00:00:02:01', '172.16.2.1', 'br0', 'n2'),
            'ns3': vif(lab, 'net3', '52:54:00:00:03:01', '172.16.1.1', 'br0', 'n3'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net1-dhcp': gateway('net1', '52:54:00:74:01:fd', '172.16.1.253', services=('dhcp',)),
            'net2-gw': gateway('net2', '52:54:00:74:02:fe', '172.16.2.254'),
            'net3-gw': gateway('net3', '52:54:00:74:03:fe', '172.16.1.254'),
        },
        route_links={'rl1': {'routes': [{'interface': 'net1-gw'}, {'interface': 'net2-gw'}]}})


@dataclass
class Case:
    name: str
    request: Request
    verdict: str
    real: Callable          # (lab, scenario) -> bool: did the real packet get there?


CASES = [
    Case('same network', Request('ns1', 'ns4'), 'delivered',
         lambda lab, s: s.hosts['ns1'].ping('172.16.1.2', count=2, timeout=2)),
    Case('routed', Request('ns1', '172.16.2.1', 'tcp', 80), 'delivered',
         lambda lab, s: s.hosts['ns1'].ping('172.16.2.1', count=2, timeout=2)),
    Case('isolated network', Request('ns3', '172.16.2.1'), 'dropped',
         lambda lab, s: s.hosts['ns3'].ping('172.16.2.1', count=2, timeout=2)),
    Case('ARP for the gateway', Request('ns1', '172.16.1.254', 'arp'), 'answered',
         lambda lab, s: s.hosts['ns1'].arping('172.16.1.254') == '52:54:00:74:01:fe'),
    Case('ping of the gateway', Request('ns2', 'net2-gw'), 'answered',
         lambda lab, s: s.hosts['ns2'].ping('172.16.2.254', count=2, timeout=2)),
    Case('DHCP', Request('ns1', kind='dhcp'), 'controller',
         lambda lab, s: (udhcpc_once(lab, s.hosts['ns1']) or {}).get('ip') == '172.16.1.1'),
]


@pytest.fixture(scope='module')
def running():
    """The scenario with its controller, shared by this module's tests."""
    with Lab() as lab:
        s = seed003_with_dhcp(lab)
        s.start(list(GATEWAYS), GATEWAYS)
        located = load_located(str(s.path))
        wait_for(lambda: not any(c.any for c in live_changes(located.topology, ['br0'])),
                 timeout=20, what='the controller to install every flow of the topology')
        wait_reachable(s.hosts['ns1'], '172.16.2.1')
        yield lab, s, located


def shape(trace):
    """What both traces must agree on: each table with the topology objects
    behind its flow, and where the copies ended.  Only the switch knows its
    service port (the offline walk numbers ports itself), so a punt's ending
    may name it live: that detail aside, the endings must be the same."""
    endings = sorted(tuple(re.sub(r'^service port [^,]+, ', '', part) if isinstance(part, str) else part
                           for part in e.key) for e in trace.endings)
    return ([(s.datapath, s.table, tuple(o.what for o in s.origins)) for s in trace.steps],
            endings, trace.verdict.kind)


@pytest.mark.parametrize('case', CASES, ids=lambda c: c.name)
def test_offline_and_live_traces_agree_table_by_table(running, case):
    lab, s, located = running
    probe = build(located.topology, case.request)
    offline = Walker.for_probe(located, probe).trace(probe)
    live_tracer = LiveTracer(located)
    live = live_tracer.trace(probe)
    assert offline.verdict.kind == case.verdict, offline.verdict.text
    assert shape(live) == shape(offline), f'{case.name}:\nlive: {live.verdict.text}\n' \
                                          f'offline: {offline.verdict.text}'
    # compiled with the bridge's own port numbers, the simulator takes the very flows OVS took
    same_ports = Walker(located, live_tracer.ports).trace(probe)
    assert [st.cookie for st in live.steps] == [st.cookie for st in same_ports.steps]
    assert all(st.flow is not None for st in live.steps), [st.text for st in live.steps]


@pytest.mark.parametrize('case', CASES, ids=lambda c: c.name)
def test_trace_verdicts_match_what_real_packets_do(running, case):
    lab, s, located = running
    probe = build(located.topology, case.request)
    verdict = Walker.for_probe(located, probe).trace(probe).verdict
    assert case.real(lab, s) is verdict.ok, f'{case.name}: trace says {verdict.text}'


def vnetctl(*args):
    return subprocess.run([VNETCTL, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_trace_live_command_names_the_flows_topology_objects_and_exits_by_verdict(running):
    lab, s, located = running
    ok = vnetctl('trace', located.file, '--from', 'ns1', '--to', '172.16.2.1', '--live')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert 'route_links.rl1.routes[1]' in ok.stdout and '(traced by the switch)' in ok.stdout, ok.stdout
    assert 'verdict: delivered to ns2' in ok.stdout, ok.stdout
    dropped = vnetctl('trace', located.file, '--from', 'ns3', '--to', '172.16.2.1', '--live')
    assert dropped.returncode == 1 and 'verdict: dropped' in dropped.stdout, dropped.stdout


def test_plan_finds_the_switch_in_sync_and_counts_what_an_edit_would_change(running):
    lab, s, located = running
    running_file = located.file
    same = vnetctl('plan', running_file, '--against', running_file)
    assert same.returncode == 0 and 'in sync' in same.stdout, same.stdout
    edited = lab.write('edited.yml', open(running_file).read().replace(
        'ipv4: 172.16.1.2\n', 'ipv4: 172.16.1.7\n'))
    plan = vnetctl('plan', edited, '--against', running_file)
    assert plan.returncode == 1, plan.stdout
    [changes] = flow_changes(located.topology, load_located(str(edited)).topology)
    plus = len(changes.added) + len(changes.changed)
    minus = len(changes.changed) + len(changes.removed)
    assert f'+{plus} -{minus} flows' in plan.stdout, plan.stdout
    assert "interfaces.ns4.ipv4: ns4's ipv4 changes (172.16.1.2 -> 172.16.1.7)" in plan.stdout


# -- across hosts ---------------------------------------------------------------------

FABRIC_CASES = [
    Case('same network, across the underlay router', Request('red1', 'red3'), 'delivered',
         lambda w: w.vm['red1'].ping(VMS['red3'].ip, count=2, timeout=2)),
    Case('routed where it enters, then tunnelled', Request('red2', 'green3'), 'delivered',
         lambda w: w.vm['red2'].ping(VMS['green3'].ip, count=2, timeout=2)),
    Case('overlapping network across hosts', Request('blue1', 'blue2'), 'delivered',
         lambda w: w.vm['blue1'].ping(VMS['blue2'].ip, count=2, timeout=2)),
    Case('broadcast to the other hosts of the network', Request('red1', 'red3', 'arp'), 'delivered',
         lambda w: w.vm['red1'].arping(VMS['red3'].ip) == VMS['red3'].mac),
    Case('a network on no route link', Request('blue1', 'green3'), 'dropped',
         lambda w: w.vm['blue1'].ping(VMS['green3'].ip, count=2, timeout=2)),
]


@pytest.fixture(scope='module')
def weave():
    with Lab() as lab:
        w = Weave(lab, [VMS[n] for n in ('red1', 'red2', 'red3', 'blue1', 'blue2', 'green3')]).start()
        located = load_located(str(w.path))
        where = {name: Ovs(str(h.ovs.dir)) for name, h in w.h.items()}
        wait_for(lambda: not any(c.any for c in live_changes(located.topology, sorted(w.h), where)),
                 timeout=20, what='every datapath to hold every flow of the topology')
        yield w, located, where
        w.close()


@pytest.mark.parametrize('case', FABRIC_CASES, ids=lambda c: c.name)
def test_across_hosts_the_live_trace_follows_the_tunnel_and_agrees_with_the_simulator(weave, case):
    w, located, where = weave
    probe = build(located.topology, case.request)
    offline = Walker.for_probe(located, probe).trace(probe)
    live = LiveTracer(located, where).trace(probe)
    assert offline.verdict.kind == case.verdict, offline.verdict.text
    assert shape(live) == shape(offline), f'{case.name}:\nlive: {live.verdict.text}\n' \
                                          f'offline: {offline.verdict.text}'
    assert all(st.flow is not None for st in live.steps), [st.text for st in live.steps]
    assert case.real(w) is offline.verdict.ok, f'{case.name}: trace says {offline.verdict.text}'


def test_the_live_command_takes_each_hosts_open_vswitch(weave):
    w, located, where = weave
    ovs = [f'--ovs={name}={o.rundir}' for name, o in where.items()]
    out = vnetctl('trace', located.file, '--from', 'red2', '--to', 'green3', '--live', *ovs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == ('verdict: delivered to green3 (port green3-p) on datapath '
                                           'h3 (through the tunnel from h2)')


def test_plan_reads_each_hosts_switch_and_finds_all_three_in_sync(weave):
    w, located, where = weave
    ovs = [f'--ovs={name}={o.rundir}' for name, o in where.items()]
    out = vnetctl('plan', located.file, '--against', located.file, *ovs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.split()[:2] for line in out.stdout.splitlines()[:3]] == [
        ['h1', 'in'], ['h2', 'in'], ['h3', 'in']], out.stdout
