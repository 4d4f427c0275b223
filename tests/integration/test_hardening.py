"""Issue 10 (hardening) on real OVS: one regression test per numbered defect.

Every attack is a frame crafted byte by byte (tests/integration/frames.py) and
sent from a raw socket inside a VM's namespace; what the other side receives
is what tcpdump saw there.  Each test also shows the honest traffic that must
keep working, so a capture that sees nothing proves something.

One lab (two bridges, one controller) serves every test but the one on a
physical network; tests that edit the topology put it back before they end.
"""
import copy
import datetime
import os
import re
import subprocess
import threading
import time

import pytest
import yaml

from controller.packets import dhcp
from controller.pipeline.l3 import ttl_meter
from controller.topology.validate import default_vni
from lab import Lab, wait_for
from tests.integration.dhcp_clients import udhcpc_once
from tests.integration.frames import (
    ARP_REPLY,
    DOUBLE_TAGS,
    Capture,
    Pinger,
    RawPort,
    arp_frame,
    dhcp_discover,
    dhcp_reply,
    meter_stats,
    table_drops,
    tagged,
    udp_frame,
)
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable
from tests.integration.test_live_edits import Editor
from tests.integration.test_routing import seed000

LEARNED_COOKIE = '0x766f000000000000/0xffff000000000000'
FOREIGN_COOKIE = 0x1234


def hardening(lab):
    """net1 (attacker a1, target t1, gateway, DHCP) routed to net2 (v2); `bare`
    without a DHCP service (b1, b2); `side` alone on a second bridge (s1)."""
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x10}, 'br1': {'dpid': 0x11}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'},
                  'bare': {'ipv4': '10.5.0.0/24'}, 'side': {'ipv4': '172.16.9.0/24'}},
        interfaces={
            'a1': vif(lab, 'net1', '52:54:00:10:01:01', '172.16.1.1', 'br0', 'a1'),
            't1': vif(lab, 'net1', '52:54:00:10:01:02', '172.16.1.2', 'br0', 't1'),
            'net1-gw': gateway('net1', '52:54:00:74:10:fe', '172.16.1.254'),
            'net1-dhcp': gateway('net1', '52:54:00:74:10:fd', '172.16.1.253', services=('dhcp',)),
            'v2': vif(lab, 'net2', '52:54:00:10:02:01', '172.16.2.1', 'br0', 'v2'),
            'net2-gw': gateway('net2', '52:54:00:74:20:fe', '172.16.2.254'),
            'b1': vif(lab, 'bare', '52:54:00:10:05:01', '10.5.0.1', 'br0', 'b1'),
            'b2': vif(lab, 'bare', '52:54:00:10:05:02', '10.5.0.2', 'br0', 'b2'),
            's1': vif(lab, 'side', '52:54:00:10:09:01', '172.16.9.1', 'br1', 's1'),
            'side-gw': gateway('side', '52:54:00:74:90:fe', '172.16.9.254'),
        },
        route_links={'rl': {'routes': [{'interface': 'net1-gw'}, {'interface': 'net2-gw'}]}})


class Net:
    """The shared lab: the scenario, its controller, and shortcuts."""

    def __init__(self, lab, s, ctl):
        self.lab, self.s, self.ctl = lab, s, ctl
        self.br0, self.br1 = s.bridges['br0'], s.bridges['br1']
        self.base = copy.deepcopy(s.doc)
        self.editor = Editor(s)

    def host(self, name):
        return self.s.hosts[name]

    def mac(self, name):
        return self.s.doc['interfaces'][name]['mac']

    def ip(self, name):
        return self.s.doc['interfaces'][name]['ipv4']

    def log_mark(self):
        return len(self.ctl.log_text())

    def log_since(self, mark):
        return self.ctl.log_text()[mark:]

    def save_and_wait(self, doc, expect):
        """Save `doc` (by rename) and wait until the log says `expect`."""
        mark = self.log_mark()
        self.editor.save(doc)
        wait_for(lambda: expect in self.log_since(mark), timeout=10, what=f'{expect!r} in the log',
                 state=lambda: self.log_since(mark)[-2000:])

    def restore(self):
        """Put the shared topology back as it was, if a test changed it."""
        if yaml.safe_load(self.s.path.read_text() or '{}') != self.base:
            self.save_and_wait(self.base, ' changed: ')
            time.sleep(0.3)


@pytest.fixture(scope='module')
def shared():
    with Lab() as lab:
        s = hardening(lab)
        ctl = s.start(['a1', 't1', 'v2', 'b1', 'b2', 's1'],
                      {'a1': '172.16.1.254', 't1': '172.16.1.254', 'v2': '172.16.2.254',
                       's1': '172.16.9.254'})
        net = Net(lab, s, ctl)
        wait_reachable(net.host('t1'), '172.16.2.1')
        wait_reachable(net.host('a1'), '172.16.1.2')
        wait_reachable(net.host('b1'), '10.5.0.2')
        wait_reachable(net.host('s1'), '172.16.9.254')
        yield net


@pytest.fixture
def net(shared, request):
    request.node._vnet_controllers = [shared.ctl]       # quoted in the report if the test fails
    yield shared
    shared.ctl.assert_running()
    assert 'Traceback' not in shared.ctl.log_text()


def packets(br, table, needle):
    """Packets counted by our flows of `table` whose match contains `needle`."""
    return sum(f['n_packets'] for f in br.dump_flows(match=f'table={table}') if needle in f['match'])




STAMP = re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ')


def log_record(log, needle):
    """The first log record containing `needle`: its wall-clock time and its
    lines (a multi-line message runs until the next timestamped line)."""
    lines = log.splitlines()
    first = next(i for i, line in enumerate(lines) if needle in line)
    block = [lines[first]]
    for line in lines[first + 1:]:
        if STAMP.match(line):
            break
        block.append(line)
    stamp = datetime.datetime.strptime(lines[first][:23], '%Y-%m-%d %H:%M:%S,%f')
    return stamp.timestamp(), block


# --------------------------------------------------------------------------
# 1. tagged frames from a vif

def test_tagged_spoofs_fake_gateway_arp_and_dhcp_offers_never_reach_a_neighbour_while_untagged_traffic_does(net):
    a1, t1 = net.host('a1'), net.host('t1')
    A, T = net.mac('a1'), net.mac('t1')
    attacks = {
        'spoofed IPv4 (the gateway as source)':
            udp_frame(A, T, '172.16.1.254', '172.16.1.2', 4000, 4000, b'attack: spoofed ip'),
        'fake gateway ARP reply':
            arp_frame(ARP_REPLY, A, T, A, '172.16.1.254', T, '172.16.1.2', trailer=b'attack: arp'),
        'DHCP offer':
            dhcp_reply(dhcp.OFFER, A, '172.16.1.1', T, '172.16.1.2', 0x1010, router='172.16.1.1'),
        'honest UDP, but tagged':
            udp_frame(A, T, '172.16.1.1', '172.16.1.2', 4000, 4000, b'attack: tagged, otherwise fine'),
    }
    honest = [udp_frame(A, T, '172.16.1.1', '172.16.1.2', 4001, 4001, b'honest %d' % i) for i in range(6)]
    dropped_before = table_drops(net.br0, 0)
    cap = Capture(t1)
    sent_tagged = 0
    with RawPort(a1) as port:
        for i, tags in enumerate(DOUBLE_TAGS.values()):
            for frame in attacks.values():
                port.send(tagged(frame, tags))
                sent_tagged += 1
            port.send(honest[i])
        for name, frame in attacks.items():                 # untagged: port security drops these
            if name != 'honest UDP, but tagged':
                port.send(frame)
        port.send(honest[4])
        port.send(arp_frame(ARP_REPLY, A, T, A, '172.16.1.1', T, '172.16.1.2', trailer=b'honest arp'))
        port.send(honest[5])
    wait_for(lambda: sum(f.has(b'honest') for f in cap.frames()) >= 7, timeout=5,
             what='the honest frames at t1', state=lambda: '\n'.join(map(str, cap.frames())))
    assert a1.ping('172.16.1.2', count=2, timeout=2)
    time.sleep(0.3)
    seen = [f for f in cap.stop() if f.src == A]

    def honest_frame(f):
        """Untagged, with a1's own addresses, not DHCP server traffic, not an attack."""
        if f.tags or f.has(b'attack'):
            return False
        if f.arp_op is not None:
            return (f.arp_sha, f.arp_spa) == (A, '172.16.1.1')
        return f.ip_src == '172.16.1.1' and 68 not in (f.sport, f.dport) and 67 not in (f.sport, f.dport)

    escapes = [f for f in seen if not honest_frame(f)]
    assert not escapes, 'frames from the attacker reached t1:\n' + '\n'.join(map(str, escapes))
    assert sum(f.has(b'honest') for f in seen) == 7
    assert A not in t1.run('ip neigh show 172.16.1.254').stdout      # the gateway was not poisoned
    # They did reach the switch: the classifier's drop counted every tagged one
    # (OVS credits flow counters every half second or so: they may lag a little)
    wait_for(lambda: table_drops(net.br0, 0) - dropped_before >= sent_tagged, timeout=5,
             what='the classifier to count every tagged frame',
             state=lambda: table_drops(net.br0, 0) - dropped_before)


# --------------------------------------------------------------------------
# 2. rogue DHCP server answering from any source port

class RogueDhcp:
    """A DHCP server on a vif answering every DISCOVER/REQUEST it sees with an
    OFFER/ACK from each of `sports`, broadcast and unicast."""

    def __init__(self, host, mac, ip, sports):
        self.port = RawPort(host)
        self.mac, self.ip, self.sports = mac, ip, sports
        self.requests = self.replies = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            frame = self.port.receive(lambda f: dhcp.parse(f) is not None, timeout=0.2)
            msg = dhcp.parse(frame) if frame else None
            if msg is None:
                continue
            self.requests += 1
            kind = dhcp.OFFER if msg.message_type == dhcp.DISCOVER else dhcp.ACK
            for sport in self.sports:
                for eth_dst, ip_dst in (('ff:ff:ff:ff:ff:ff', '255.255.255.255'), (msg.chaddr, '10.5.0.77')):
                    self.port.send(dhcp_reply(kind, self.mac, self.ip, msg.chaddr, '10.5.0.77', msg.xid,
                                              sport=sport, eth_dst=eth_dst, ip_dst=ip_dst, router=self.ip))
                    self.replies += 1

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.port.close()


def test_a_rogue_dhcp_server_answering_from_any_source_port_gives_its_neighbour_no_lease(net):
    b1, b2 = net.host('b1'), net.host('b2')
    B2 = net.mac('b2')
    in_port = net.br0.ofport(b2.port)
    to_68 = f'udp,in_port={in_port},tp_dst=68'
    dropped_before = packets(net.br0, 10, to_68)
    cap = Capture(b1, bpf=['udp'])
    rogue = RogueDhcp(b2, B2, '10.5.0.2', sports=(1067, 68, 5353))
    try:
        lease = udhcpc_once(net.lab, b1)
    finally:
        rogue.stop()
    with RawPort(b2) as port:                   # the same VM's honest UDP still arrives
        port.send(udp_frame(B2, net.mac('b1'), '10.5.0.2', '10.5.0.1', 1067, 69, b'honest udp'))
    wait_for(lambda: any(f.has(b'honest udp') for f in cap.frames()), timeout=3,
             what='the honest UDP datagram at b1')
    frames = cap.stop()
    assert rogue.requests >= 1, 'the rogue never saw the DISCOVER: the test proves nothing'
    assert rogue.replies >= 6
    assert lease is None, f'b1 took a lease from the rogue: {lease["ip"]} from {lease.get("serverid")}'
    to_client = [f for f in frames if f.dport == 68]
    assert not to_client, 'UDP to port 68 reached b1:\n' + '\n'.join(map(str, to_client))
    assert packets(net.br0, 10, to_68) - dropped_before >= rogue.replies


# --------------------------------------------------------------------------
# 3. fairness of the time-exceeded budget

def test_a_ttl_1_flood_from_one_network_leaves_another_network_its_time_exceeded_replies(net):
    a1, v2 = net.host('a1'), net.host('v2')
    A, GW1 = net.mac('a1'), net.mac('net1-gw')
    flood_meter = ttl_meter(default_vni('net1'))
    drops_before = meter_stats(net.br0).get(flood_meter, (0, 0))[1]
    probe = v2.popen('sleep 0.3; ping -n -t 1 -c 15 -i 0.1 -W 1 172.16.1.2', stdout=subprocess.PIPE)
    with RawPort(a1) as port:
        took = port.flood(lambda i: udp_frame(A, GW1, '172.16.1.1', '172.16.2.1', 33434, 33434 + i % 100,
                                              b'ttl flood', ttl=1), count=2000, seconds=2)
    out, _ = probe.communicate(timeout=20)
    answered = out.count('Time to live exceeded')
    drops = meter_stats(net.br0).get(flood_meter, (0, 0))[1] - drops_before
    assert drops >= 1500, f'the flood did not hit net1\'s meter ({drops} dropped in {took:.1f} s)'
    assert answered >= 10, f'v2 got {answered} of 15 time-exceeded replies during the flood:\n{out}'
    assert all('From 172.16.2.254' in line for line in out.splitlines() if 'Time to live' in line), out


# --------------------------------------------------------------------------
# 4. ARP poisoning of next hops on a physical network

def test_only_a_lan_answer_to_the_routers_own_question_becomes_a_next_hop(lab, request):
    s = seed000(lab)
    s.doc['interfaces']['pv'] = {'network': 'public', 'mac': '52:54:00:0a:00:21', 'datapath': 'br0',
                                 'port': lab.ifname('pv')}            # a VM on the LAN, no address
    ctl = s.start(['host', 'c1'], {'c1': '192.168.99.254'})
    request.node._vnet_controllers = [ctl]
    pv = s.hosts['pv'] = lab.host('pv', s.bridges['br0'], lab.ifname('pv'), '52:54:00:0a:00:21', None)
    br, lan, c1 = s.bridges['br0'], s.hosts['host'], s.hosts['c1']
    H, GW, PV = '52:54:00:0a:00:0b', '52:54:00:74:0a:01', '52:54:00:0a:00:21'
    lan.run('ip route add 192.168.99.0/24 via 10.0.10.1')
    wait_reachable(c1, '10.0.10.11')
    pv_port = f'in_port={br.ofport(pv.port)}'
    wait_for(lambda: br.dump_flows(match=f'table=10,arp,{pv_port}'), timeout=5, what="pv's flows")

    def reply(sha, spa, eth_src=H):
        return arp_frame(ARP_REPLY, eth_src, GW, sha, spa, GW, '10.0.10.1')

    with RawPort(lan) as from_lan, RawPort(pv) as from_vm:
        # unsolicited: nobody asked about these addresses
        from_lan.send(reply(H, '10.0.10.99'))
        from_lan.send(reply(H, '10.0.10.254'))
        wait_for(lambda: ctl.log_text().count('nobody asked') >= 2, timeout=3, what='two unsolicited replies refused')
        # the router asks about 10.0.10.200 (nobody has it yet) ...
        c1.popen('ping -n -c 1 -W 1 10.0.10.200')
        wait_for(lambda: 'resolving 10.0.10.200 in public' in ctl.log_text(), timeout=3, what='the question')
        # ... and, while it waits for the answer, gets lies
        for bad in ('ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00'):
            from_lan.send(reply(bad, '10.0.10.200'))
        from_vm.send(reply(PV, '10.0.10.200', eth_src=PV))
        wait_for(lambda: ctl.log_text().count('not a unicast MAC') >= 3, timeout=3, what='three refusals')
        time.sleep(0.3)
    assert br.dump_flows(cookie=LEARNED_COOKIE) == []
    assert packets(br, 10, pv_port) >= 1                    # the VM's reply entered the pipeline ...
    assert f'is-at {PV}' not in ctl.log_text()              # ... but never reached the controller
    # the genuine answer: the LAN machine now has the address and its kernel answers
    lan.add_address('10.0.10.200/24')
    wait_reachable(c1, '10.0.10.200', timeout=10)
    learned = br.dump_flows(cookie=LEARNED_COOKIE)
    assert len(learned) == 1 and f'set_field:{H}->eth_dst' in learned[0]['actions'], learned
    assert f'learned 10.0.10.200 is-at {H} in public' in ctl.log_text()


# --------------------------------------------------------------------------
# 5. half-written saves

def test_a_save_written_slowly_in_chunks_is_read_once_whole_and_an_empty_file_is_refused(net):
    t1 = net.host('t1')
    doc = copy.deepcopy(net.base)
    doc['interfaces']['net1-extra'] = gateway('net1', '52:54:00:74:10:fa', '172.16.1.250')
    text = yaml.safe_dump(doc, sort_keys=False)
    third = len(text) // 3
    ping = Pinger(t1, '172.16.2.1', hz=10)
    try:
        time.sleep(1)
        mark = net.log_mark()
        with open(net.s.path, 'w') as f:       # what an editor writing in place does
            f.write(text[:third])
            f.flush()
            time.sleep(0.5)
            f.write(text[third:])
        wait_for(lambda: t1.arping('172.16.1.250', timeout=1) == '52:54:00:74:10:fa', timeout=5,
                 what='the new interface to answer')
        time.sleep(0.5)
        log = net.log_since(mark)
        assert log.count(' changed: ') == 1, log
        assert log.count('topology change: applied') == 1, log
        assert 'refusing' not in log, log

        for empty in ('', '# everything is gone?\n'):
            flows = {b.name: len(b.dump_flows()) for b in (net.br0, net.br1)}
            mark = net.log_mark()
            net.editor.save(None, by_rename=False, text=empty)
            wait_for(lambda m=mark: 'refusing the edit' in net.log_since(m), timeout=3, what='the refusal')
            time.sleep(0.3)
            assert 'write it out: datapaths: {}' in net.log_since(mark)
            assert ' changed: ' not in net.log_since(mark)
            assert {b.name: len(b.dump_flows()) for b in (net.br0, net.br1)} == flows
            assert t1.arping('172.16.1.250', timeout=1) == '52:54:00:74:10:fa'
        net.save_and_wait(net.base, 'topology change: applied')
        time.sleep(1.5)
        assert ping.lost() == []
    finally:
        sent, got = ping.stop()
        net.restore()
    assert sent >= 40 and got == sent, f'the routed ping lost {sent - got} of {sent}'


# --------------------------------------------------------------------------
# 6. a datapath removed from the topology

def test_removing_a_datapath_removes_exactly_our_flows_and_adding_it_back_reprograms_it(net):
    br1, s1 = net.br1, net.host('s1')
    ours = {f['cookie'] for f in br1.dump_flows()}
    our_groups = {g['group_id'] for g in br1.dump_groups()}
    assert ours and our_groups
    br1.ofctl('add-flow', f'table=0,priority=1,cookie={FOREIGN_COOKIE:#x},dl_type=0x88cc,actions=drop')
    br1.ofctl('add-group', 'group_id=2130706433,type=all')
    doc = copy.deepcopy(net.base)
    del doc['datapaths']['br1'], doc['interfaces']['s1'], doc['interfaces']['side-gw'], doc['networks']['side']
    try:
        mark = net.log_mark()
        net.editor.save(doc)
        wait_for(lambda: br1.dump_flows() == [], timeout=5, what='our flows to leave br1',
                 state=lambda: br1.dump_flows())
        wait_for(lambda: 'br1 (dpid 0x11): topology change: applied' in net.log_since(mark), timeout=5,
                 what='the removal to be confirmed')
        assert 'br1 (dpid 0x11): no longer in the topology; removing our flows' in net.log_since(mark)
        foreign = br1.dump_flows(cookie=f'{FOREIGN_COOKIE:#x}/-1')
        assert len(foreign) == 1 and foreign[0]['match'] == 'dl_type=0x88cc', foreign
        assert {g['group_id'] for g in br1.dump_groups()} == {2130706433}
        assert br1.is_connected()
        assert not s1.ping('172.16.9.254', count=1, timeout=1)
        assert net.host('t1').ping('172.16.2.1', count=1, timeout=2)       # br0 untouched

        mark = net.log_mark()
        net.editor.save(net.base)
        wait_for(lambda: {f['cookie'] for f in br1.dump_flows()} == ours, timeout=5,
                 what='br1 to be programmed again', state=lambda: len(br1.dump_flows()))
        # adopted again: it read the switch back and found nothing of ours (the bundle was committed)
        assert 'br1 (dpid 0x11): found 0 of our flows, 0 groups and 0 meters installed' in net.log_since(mark)
        wait_reachable(s1, '172.16.9.254', timeout=5)
        assert {g['group_id'] for g in br1.dump_groups()} == our_groups | {2130706433}
        assert len(br1.dump_flows(cookie=f'{FOREIGN_COOKIE:#x}/-1')) == 1
    finally:
        net.restore()
        br1.ofctl('del-flows', f'cookie={FOREIGN_COOKIE:#x}/-1')
        br1.ofctl('del-groups', 'group_id=2130706433')


# --------------------------------------------------------------------------
# 7. big files

def big_invalid_topology(size):
    """A syntactically fine file of about `size` bytes whose every interface
    names a network that does not exist."""
    lines = ['datapaths:', '  br0: {dpid: 0x10}', 'networks:', '  net1: {ipv4: 172.16.1.0/24}', 'interfaces:']
    i, total = 0, 0
    while total < size:
        line = (f'  x{i}: {{network: nope{i % 7}, mac: "52:54:01:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:'
                f'{i & 255:02x}", ipv4: 172.16.1.{i % 250 + 1}, datapath: br0, port: p{i}}}')
        lines.append(line)
        total += len(line) + 1
        i += 1
    return '\n'.join(lines) + '\n'


def test_a_huge_invalid_save_is_refused_briefly_while_dhcp_keeps_answering(net):
    t1 = net.host('t1')
    T = net.mac('t1')
    flows = {f['cookie'] for f in net.br0.dump_flows()}
    text = big_invalid_topology(5 << 20)
    try:
        with RawPort(t1) as port:
            assert dhcp_discover(port, T) is not None
            mark = net.log_mark()
            saved = time.time()
            net.editor.save(None, text=text)
            exchanges = []                          # (start, end, seconds or None), wall clock
            deadline = time.monotonic() + 20
            while 'refusing the edit' not in net.log_since(mark) and time.monotonic() < deadline:
                start = time.time()
                took = dhcp_discover(port, T)
                exchanges.append((start, time.time(), took))
                time.sleep(0.05)
        refused_at, block = log_record(net.log_since(mark), 'refusing the edit')
        assert all(took is not None and took < 2.0 for _, _, took in exchanges), exchanges
        during = [took for start, end, took in exchanges if start > saved + 0.2 and end < refused_at]
        assert during, (f'no DHCP exchange fell inside the validation ({refused_at - saved:.2f} s after '
                        f'the save): {exchanges}')
        assert len(block) <= 60, '\n'.join(block)
        assert re.search(r'\.\.\. and \d+ more problems', block[-1]), block[-1]
        assert {f['cookie'] for f in net.br0.dump_flows()} == flows

        mark = net.log_mark()
        with open(str(net.s.path) + '.tmp', 'w') as f:
            f.write('datapaths:\n  br0: {dpid: 0x10}\n')
            f.write(('#' * 1023 + '\n') * (20 << 10))
        os.replace(str(net.s.path) + '.tmp', net.s.path)
        wait_for(lambda: 'larger than 16 MiB' in net.log_since(mark), timeout=5, what='the size refusal')
        assert len(net.log_since(mark).splitlines()) <= 3, net.log_since(mark)
        with RawPort(t1) as port:
            assert dhcp_discover(port, T) is not None
        assert {f['cookie'] for f in net.br0.dump_flows()} == flows
    finally:
        net.restore()
    print(f'validation of the 5 MiB file: {refused_at - saved:.2f} s; {len(during)} DHCP exchanges '
          f'inside it, slowest {max(during) * 1000:.0f} ms')
