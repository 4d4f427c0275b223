"""A standing adversarial suite: crafted frames in every direction, floods and
bad edits against one running lab, bounded in count and time.

Throughout the module:
  * zero escapes: tcpdump runs in a VM of every other network (v2: routed
    to the attacker's network; v3: the same prefix, isolated; the physical
    LAN's host) and in h2, the attacker's honest neighbour; each may receive
    only what its network legitimately sends it (``allowed_in``), and each
    test judges the frames captured while it ran;
  * zero crashes: the controller stays up with no traceback in its log;
  * zero loss: h1 pings h2 at 10 Hz from the first test to the last.
Attack payloads carry a marker (b'ADV ...') so a capture names what got through.
"""
import copy
import time

import pytest
import yaml

from controller.packets import dhcp
from controller.packets.arp import ARP_BODY
from controller.packets.constants import ETH_TYPE_QINQ, ETH_TYPE_VLAN, IP_PROTO_ICMP, IP_PROTO_UDP
from controller.pipeline.port_security import DHCP_BURST, DHCP_RATE_PPS, dhcp_meter_id
from lab import Lab, sh, wait_for
from tests.integration.frames import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST_MAC,
    ETH_TYPE_ARP,
    ETH_TYPE_IP,
    Capture,
    Pinger,
    RawPort,
    arp_frame,
    dhcp_discover,
    eth,
    icmp_echo,
    ipv4_frame,
    meter_stats,
    punted,
    table_drops,
    tagged,
    udp_frame,
)
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable
from tests.integration.test_dhcp import malformed_requests
from tests.integration.test_live_edits import Editor

MAC = {
    'att': '52:54:00:20:01:66', 'h1': '52:54:00:20:01:01', 'h2': '52:54:00:20:01:02',
    'v2': '52:54:00:20:02:01', 'v3': '52:54:00:20:03:02', 'lanh': '52:54:00:20:0a:0b',
    'net1-gw': '52:54:00:74:21:fe', 'net1-dhcp': '52:54:00:74:21:fd', 'net2-gw': '52:54:00:74:22:fe',
    'net3-gw': '52:54:00:74:23:fe', 'lan-gw': '52:54:00:74:2a:01',
}
NET1_VIFS = {'172.16.1.66', '172.16.1.1', '172.16.1.2'}
TAGS = (((ETH_TYPE_VLAN, 3),), ((ETH_TYPE_QINQ, 3), (ETH_TYPE_VLAN, 4)), ((ETH_TYPE_VLAN, 0),))
GOOD = '676f6f64'           # "good": the pattern of the control pings
#: pinging these gets a legitimate frame into v3, lanh (answered by their
#: gateways), v2 (routed from h1) and h2
SENTINELS = {'v3': '172.16.1.254', 'lanh': '10.0.10.1', 'h1': '172.16.2.1', 'att': '172.16.1.2'}


def adversarial(lab):
    """net1: the attacker (att) and two honest VMs (h1 pings h2); net2 (v2)
    routed to net1 and to the physical LAN (its host lanh); net3 (v3): net1's
    prefix, on no route link."""
    def v(network, name, ip):
        return vif(lab, network, MAC[name], ip, 'br0', name)

    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x20}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'},
                  'net3': {'ipv4': '172.16.1.0/24'}, 'lan': {'ipv4': '10.0.10.0/24', 'mode': 'physical'}},
        interfaces={
            'att': v('net1', 'att', '172.16.1.66'),
            'h1': v('net1', 'h1', '172.16.1.1'),
            'h2': v('net1', 'h2', '172.16.1.2'),
            'net1-gw': gateway('net1', MAC['net1-gw'], '172.16.1.254'),
            'net1-dhcp': gateway('net1', MAC['net1-dhcp'], '172.16.1.253', services=('dhcp',)),
            'v2': v('net2', 'v2', '172.16.2.1'),
            'net2-gw': gateway('net2', MAC['net2-gw'], '172.16.2.254'),
            'v3': v('net3', 'v3', '172.16.1.2'),
            'net3-gw': gateway('net3', MAC['net3-gw'], '172.16.1.254'),
            'lanh': {'network': 'lan', 'mode': 'host', 'mac': MAC['lanh'], 'ipv4': '10.0.10.11',
                     'datapath': 'br0', 'port': lab.ifname('lanh')},
            'lan-gw': gateway('lan', MAC['lan-gw'], '10.0.10.1'),
        },
        route_links={'rl': {'routes': [
            {'interface': 'net1-gw'}, {'interface': 'net2-gw'},
            {'interface': 'lan-gw', 'ipv4': '0.0.0.0/0', 'gateway': '10.0.10.254'}]}})


def allowed_in(victim, f):
    """May `victim` receive frame `f`?  Never a tagged one; otherwise only
    what its network sends: its gateway answering (ARP, ping, ICMP errors
    from the gateway's own address) and packets routed to it (from the
    router's MAC, TTL decremented, from a real address of a linked network)."""
    if f.tags:
        return False
    gw_mac, gw_ip, routed_from = {
        'v3': (MAC['net3-gw'], '172.16.1.254', set()),        # isolated: its gateway only
        'v2': (MAC['net2-gw'], '172.16.2.254', NET1_VIFS | {'10.0.10.11'}),
        'lanh': (MAC['lan-gw'], '10.0.10.1', NET1_VIFS | {'172.16.2.1'}),
    }.get(victim, (None, None, set()))
    if victim == 'h2':                  # its own network, or routed in through net1-gw
        if f.src in (MAC['att'], MAC['h1'], MAC['net1-dhcp']):
            return True
        gw_mac, gw_ip, routed_from = MAC['net1-gw'], '172.16.1.254', {'172.16.2.1', '10.0.10.11'}
    if f.src != gw_mac:
        return False
    if f.arp_op is not None:
        return f.arp_spa == gw_ip
    if f.ip_src == gw_ip:
        return f.proto == IP_PROTO_ICMP
    return f.ip_src in routed_from and f.ttl is not None and f.ttl < 64


class Suite:
    """The running lab: captures in the victims, then (once each capture has
    seen legitimate traffic, so an empty one would prove nothing) h1's ping."""

    def __init__(self, lab, s, ctl):
        self.lab, self.s, self.ctl = lab, s, ctl
        self.br = s.bridges['br0']
        self.host = s.hosts
        self.captures = {name: Capture(s.hosts[name]) for name in ('v2', 'v3', 'lanh', 'h2')}
        self.sentinels()
        self.ping = Pinger(s.hosts['h1'], '172.16.1.2', hz=10)
        self.since = self.mark()

    def mark(self):
        """Where each capture is now: a test judges only what comes after."""
        return {name: len(cap.frames()) for name, cap in self.captures.items()}

    def escapes(self, since):
        return [f'{name}: {f}' for name, cap in self.captures.items()
                for f in cap.frames()[since[name]:] if not allowed_in(name, f)]

    def sentinels(self):
        """A legitimate frame into every capture, sent after everything else:
        once each capture holds its sentinel, it holds every frame before it."""
        before = self.mark()
        for host, target in SENTINELS.items():
            self.host[host].run(f'ping -n -c 1 -W 1 -p {GOOD} {target}')
        wait_for(lambda: all(any(f.has(b'good') for f in cap.frames()[before[name]:])
                             for name, cap in self.captures.items()),
                 timeout=5, what='every capture to see its sentinel',
                 state=lambda: {name: len(cap.frames()) - before[name] for name, cap in self.captures.items()})

    def check(self, since, settle=0.3):
        """What every test ends with: nothing escaped since `since`, nothing
        crashed, no echo of the honest ping lost so far."""
        time.sleep(settle)              # frames still on their way through the switch
        self.sentinels()
        escapes = self.escapes(since)
        assert not escapes, f'{len(escapes)} frames reached another network:\n' + '\n'.join(escapes[:30])
        self.ctl.assert_running()
        log = self.ctl.log_text()
        assert 'Traceback' not in log and 'switch refused' not in log, log[-3000:]
        lost = self.ping.lost()
        assert not lost, f'the honest ping lost echoes {lost} (of {self.ping.sent()})'


@pytest.fixture(scope='module')
def suite():
    with Lab() as lab:
        s = adversarial(lab)
        ctl = s.start(['att', 'h1', 'h2', 'v2', 'v3', 'lanh'],
                      {'att': '172.16.1.254', 'h1': '172.16.1.254', 'h2': '172.16.1.254',
                       'v2': '172.16.2.254', 'v3': '172.16.1.254'})
        s.hosts['lanh'].run('ip route add 172.16.0.0/16 via 10.0.10.1')
        sh(['ip', 'link', 'set', lab.ifname('att'), 'mtu', '9000'])      # room for jumbo frames
        s.hosts['att'].run('ip link set eth0 mtu 9000')
        wait_reachable(s.hosts['h1'], '172.16.1.2')
        wait_reachable(s.hosts['h1'], '172.16.2.1')
        wait_reachable(s.hosts['v3'], '172.16.1.254')
        wait_reachable(s.hosts['lanh'], '172.16.2.1')
        yield Suite(lab, s, ctl)


@pytest.fixture
def adv(suite, request):
    request.node._vnet_controllers = [suite.ctl]
    suite.since = suite.mark()
    return suite


A, AIP = MAC['att'], '172.16.1.66'


def marked(text):
    return b'ADV ' + text.encode()


# --------------------------------------------------------------------------

def test_frames_from_a_vm_to_other_networks_and_their_routers_arrive_nowhere_tagged_or_not(adv):
    frames = []
    for name, ip in (('v2', '172.16.2.1'), ('v3', '172.16.1.2'), ('lanh', '10.0.10.11')):
        frames += [udp_frame(A, MAC[name], AIP, ip, 5000, 5000, marked(f'att to {name}')),
                   icmp_echo(A, MAC[name], AIP, ip, marked(f'att echo to {name}')),
                   arp_frame(ARP_REQUEST, A, MAC[name], A, AIP, '00:00:00:00:00:00', ip,
                             trailer=marked('arp'))]
    for router, ip in (('net2-gw', '172.16.2.1'), ('net3-gw', '172.16.1.2'), ('lan-gw', '10.0.10.11')):
        frames += [udp_frame(A, MAC[router], AIP, ip, 5000, 5001, marked(f'att via {router}')),
                   icmp_echo(A, MAC[router], AIP, '172.16.1.254', marked(f'echo at {router}'))]
    frames += [
        udp_frame(A, BROADCAST_MAC, AIP, '255.255.255.255', 5000, 5002, marked('broadcast')),
        udp_frame(A, '01:00:5e:00:00:fb', AIP, '224.0.0.251', 5353, 5353, marked('multicast')),
        arp_frame(ARP_REQUEST, A, BROADCAST_MAC, A, AIP, '00:00:00:00:00:00', '172.16.2.1', trailer=marked('who-has v2')),
        arp_frame(ARP_REQUEST, A, BROADCAST_MAC, A, AIP, '00:00:00:00:00:00', '10.0.10.11', trailer=marked('who-has lanh')),
    ]
    jumbo = [udp_frame(A, dst, AIP, ip, 5000, 5003, (marked('jumbo') * 1000)[:8900])
             for dst, ip in ((BROADCAST_MAC, '255.255.255.255'), (MAC['v3'], '172.16.1.2'),
                             (MAC['net2-gw'], '172.16.2.1'))]
    drops_before = table_drops(adv.br, 0)
    with RawPort(adv.host['att']) as port:
        for frame in frames + jumbo:
            port.send(frame)
            for tags in TAGS:
                port.send(tagged(frame, tags))
        sent_tagged = len(frames + jumbo) * len(TAGS)
    adv.check(adv.since)
    # they did reach the switch (OVS credits a flow's counters from its datapath
    # flows every half second or so, so the count may lag the frames a little)
    wait_for(lambda: table_drops(adv.br, 0) - drops_before >= sent_tagged, timeout=5,
             what='the classifier to count every tagged frame',
             state=lambda: table_drops(adv.br, 0) - drops_before)


def test_frames_with_another_machines_source_mac_or_address_arrive_nowhere(adv):
    att = adv.host['att']
    spoofs = []
    for src in (MAC['v3'], MAC['v2'], MAC['h1'], MAC['net1-gw'], MAC['net3-gw'], MAC['lanh'],
                BROADCAST_MAC, '00:00:00:00:00:00', '01:00:5e:00:00:01'):
        for dst, ip in ((MAC['v3'], '172.16.1.2'), (BROADCAST_MAC, '255.255.255.255'), (MAC['v2'], '172.16.2.1')):
            spoofs.append(udp_frame(src, dst, AIP, ip, 5000, 5004, marked('spoofed mac')))
        spoofs.append(arp_frame(ARP_REQUEST, src, BROADCAST_MAC, src, '172.16.1.2', '00:00:00:00:00:00',
                                '172.16.1.1', trailer=marked('spoofed arp')))
    for ip in ('172.16.2.1', '10.0.10.11', '172.16.1.2', '172.16.1.254', '0.0.0.0', '255.255.255.255'):
        spoofs += [udp_frame(A, MAC['net1-gw'], ip, '172.16.2.1', 5000, 5005, marked('spoofed ip')),
                   udp_frame(A, BROADCAST_MAC, ip, '255.255.255.255', 5000, 5006, marked('spoofed ip')),
                   arp_frame(ARP_REPLY, A, BROADCAST_MAC, A, ip, BROADCAST_MAC, ip, trailer=marked('poison'))]
    with RawPort(att) as port:
        port.send_all(spoofs)
    adv.check(adv.since)
    assert MAC['att'] not in adv.host['h2'].run('ip neigh show 172.16.1.254').stdout
    assert MAC['att'] not in adv.host['h1'].run('ip neigh show 172.16.1.2').stdout


def broken_ipv4(eth_src, eth_dst, src, dst, ttl, tag):
    """IPv4 packets that are odd in every way a parser trips on."""
    udp_hdr = bytes.fromhex('13881389000c0000') + tag[:4]
    return [
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, udp_hdr + tag, ttl=ttl, options=b'\x01' * 40),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, b'', ttl=ttl),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, udp_hdr, ttl=ttl, total_length=1400),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, udp_hdr + tag, ttl=ttl, total_length=21),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, udp_hdr + tag, ttl=ttl, bad_checksum=True),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, udp_hdr + tag, ttl=ttl, frag=0x2000),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, tag, ttl=ttl, frag=0x0123),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_ICMP, b'\x0b', ttl=ttl),
        ipv4_frame(eth_src, eth_dst, src, dst, 253, tag, ttl=ttl),
        eth(eth_dst, eth_src, ETH_TYPE_IP, bytes.fromhex('4f'), pad=False),
        eth(eth_dst, eth_src, ETH_TYPE_IP, b'', pad=False),
        ipv4_frame(eth_src, eth_dst, src, dst, IP_PROTO_UDP, udp_hdr + tag, ttl=ttl)[:14 + 24],
    ]


def broken_arp(eth_src, eth_dst, sha, spa, tpa, tag):
    good = arp_frame(ARP_REPLY, eth_src, eth_dst, sha, spa, eth_dst, tpa)
    body = bytearray(good[14:14 + ARP_BODY.size])
    frames = [good[:14 + 8], good[:14 + 20], eth(eth_dst, eth_src, ETH_TYPE_ARP, b'', pad=False)]
    for offset, value in ((0, b'\x00\x06'), (2, b'\x86\xdd'), (4, b'\x08'), (5, b'\x06'), (6, b'\x00\x07'),
                          (6, b'\x00\x00')):
        odd = bytearray(body)
        odd[offset:offset + len(value)] = value
        frames.append(eth(eth_dst, eth_src, ETH_TYPE_ARP, bytes(odd) + tag))
    return frames


def test_malformed_frames_on_every_punt_path_crash_nothing_and_the_services_keep_answering(adv):
    att, lanh, h1 = adv.host['att'], adv.host['lanh'], adv.host['h1']
    punted_before = punted(adv.br)
    to_dhcp = malformed_requests(A, 60)
    truncated_dhcp = [dhcp.build_request(dhcp.DISCOVER, i, A)[:n] for i, n in enumerate((42, 60, 100, 250, 281))]
    ttl_path = broken_ipv4(A, MAC['net1-gw'], AIP, '172.16.2.1', 1, marked('ttl'))
    nexthop_path = broken_ipv4(A, MAC['net1-gw'], AIP, '10.0.10.201', 64, marked('nexthop'))
    from_lan = (broken_arp(MAC['lanh'], MAC['lan-gw'], MAC['lanh'], '10.0.10.201', '10.0.10.1', marked('arp'))
                + broken_ipv4(MAC['lanh'], MAC['lan-gw'], '10.0.10.11', '172.16.2.1', 1, marked('lan ttl'))
                + [arp_frame(ARP_REPLY, MAC['lanh'], MAC['lan-gw'], sha, spa, MAC['lan-gw'], '10.0.10.1')
                   for sha, spa in ((MAC['lan-gw'], '10.0.10.201'), (MAC['lanh'], '10.0.10.1'),
                                    ('01:00:5e:00:00:01', '10.0.10.201'), (MAC['lanh'], '0.0.0.0'),
                                    (MAC['lanh'], '255.255.255.255'))])
    with RawPort(att) as port:
        port.send_all(to_dhcp + truncated_dhcp + ttl_path + nexthop_path, pace=0.002)
    with RawPort(lanh) as port:
        port.send_all(from_lan, pace=0.002)
    adv.check(adv.since)
    reached = punted(adv.br) - punted_before
    assert reached >= 40, f'only {reached} of the malformed frames reached the controller'
    # every service still answers
    out = h1.run('ping -n -c 1 -t 1 -W 1 172.16.2.1', check=False).stdout
    assert 'From 172.16.1.254 icmp_seq=1 Time to live exceeded' in out, out
    with RawPort(h1) as port:
        assert dhcp_discover(port, MAC['h1']) is not None


def test_frames_from_the_lan_reach_no_virtual_network_except_through_the_router(adv):
    L = MAC['lanh']
    frames = []
    for name, ip in (('v2', '172.16.2.1'), ('v3', '172.16.1.2'), ('h2', '172.16.1.2')):
        frames += [udp_frame(L, MAC[name], '10.0.10.11', ip, 6000, 6000, marked(f'lan to {name}')),
                   arp_frame(ARP_REQUEST, L, MAC[name], L, '10.0.10.11', '00:00:00:00:00:00', ip,
                             trailer=marked('lan arp')),
                   udp_frame(MAC[name], MAC[name], ip, ip, 6000, 6001, marked('lan as ' + name))]
    for router, ip in (('net1-gw', '172.16.1.2'), ('net2-gw', '172.16.2.1'), ('net3-gw', '172.16.1.2')):
        frames.append(udp_frame(L, MAC[router], '10.0.10.11', ip, 6000, 6002, marked(f'lan at {router}')))
    frames += [udp_frame(L, BROADCAST_MAC, '10.0.10.11', '255.255.255.255', 6000, 6004, marked('lan broadcast')),
               arp_frame(ARP_REQUEST, L, BROADCAST_MAC, L, '10.0.10.11', '00:00:00:00:00:00', '172.16.1.2',
                         trailer=marked('lan who-has'))]
    frames += [tagged(f, tags) for f in frames for tags in TAGS]
    with RawPort(adv.host['lanh']) as port:
        port.send_all(frames)
    adv.check(adv.since)


def test_tagged_frames_from_the_lan_are_not_routed_into_a_virtual_network(adv):
    """What the router does with a frame is decided behind its first tag (OVS
    matches the inner ethertype); a vif may never receive a tagged frame."""
    L, ip = MAC['lanh'], '172.16.2.1'
    routed = udp_frame(L, MAC['lan-gw'], '10.0.10.11', ip, 6000, 6003, marked('lan routed'))
    with RawPort(adv.host['lanh']) as port:
        port.send_all([tagged(routed, tags) for tags in TAGS])
        port.send(routed)                                       # the honest one does arrive
    wait_for(lambda: any(f.has(b'lan routed') for f in adv.captures['v2'].frames()), timeout=3,
             what='the untagged routed datagram at v2')
    adv.check(adv.since)


def test_a_dhcp_discover_flood_from_one_port_leaves_the_others_served(adv):
    meter = dhcp_meter_id(adv.br.ofport(adv.host['att'].port))
    reached_before, dropped_before = meter_stats(adv.br)[meter]
    answers = []
    with RawPort(adv.host['att']) as flood, RawPort(adv.host['h1']) as h1:
        start = time.monotonic()
        for burst in range(20):                                 # 3,000 DISCOVERs in 1 s
            for i in range(150):
                flood.send(dhcp.build_request(dhcp.DISCOVER, burst << 16 | i, A))
            if burst % 4 == 0:
                answers.append(dhcp_discover(h1, MAC['h1'], timeout=1.0))
            time.sleep(max(0.0, start + (burst + 1) * 0.05 - time.monotonic()))
        took = time.monotonic() - start
    adv.check(adv.since)
    assert all(a is not None and a < 0.5 for a in answers), f'h1 DHCP exchanges during the flood: {answers}'
    reached, dropped = meter_stats(adv.br)[meter]
    reached, dropped = reached - reached_before, dropped - dropped_before
    assert reached >= 2500, f'only {reached} of 3,000 DISCOVERs reached the port\'s meter'
    assert reached - dropped <= DHCP_BURST + DHCP_RATE_PPS * (took + 0.5), (reached, dropped, took)


def test_bad_edits_are_refused_and_touch_no_flow(adv):
    editor = Editor(adv.s)
    good = adv.s.path.read_text()
    flows = {f['cookie'] for f in adv.br.dump_flows()}
    doc = yaml.safe_load(good)
    unknown = copy.deepcopy(doc)
    unknown['networks']['net1']['bogus'] = 1
    edits = {'a syntax error': good.replace('networks:', 'networks: [', 1),
             'an unknown key': yaml.safe_dump(unknown, sort_keys=False),
             'an empty file': ''}
    try:
        for what, text in edits.items():
            refusals = adv.ctl.log_text().count('refusing the edit')
            editor.save(None, by_rename=(what != 'an empty file'), text=text)
            wait_for(lambda n=refusals: adv.ctl.log_text().count('refusing the edit') > n, timeout=3,
                     what=f'{what} to be refused')
        assert ' changed: ' not in adv.ctl.log_text()
        assert {f['cookie'] for f in adv.br.dump_flows()} == flows
    finally:
        editor.save(None, text=good)
        wait_for(lambda: 'no change in content' in adv.ctl.log_text(), timeout=3, what='the good file back')
    adv.check(adv.since)
    assert {f['cookie'] for f in adv.br.dump_flows()} == flows


def test_throughout_the_suite_the_honest_ping_lost_nothing_and_the_controller_kept_serving(adv):
    adv.check(adv.since, settle=1.5)
    with RawPort(adv.host['h2']) as port:
        assert dhcp_discover(port, MAC['h2']) is not None
    sent, received = adv.ping.stop()
    frames = {name: cap.stop() for name, cap in adv.captures.items()}
    assert sent >= 50 and received == sent, f'the honest ping lost {sent - received} of {sent}'
    # every capture saw traffic (its controls at least): an empty one would have proved nothing
    assert all(frames.values()), {name: len(f) for name, f in frames.items()}
