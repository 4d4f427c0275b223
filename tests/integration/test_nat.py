"""NAT at the edge on real OVS: a LAN host (its own namespace behind the
uplink) and VMs on two overlapping inside networks, as topologies/nat.yml."""
import re
import select
import subprocess

from lab import NetlabError, wait_for
from lab.vxlan_flows import Capture
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable

LAN_HOST = '10.0.10.11'
FLOATING, SNAT1, SNAT3 = '10.0.10.110', '10.0.10.100', '10.0.10.103'
NAT_NO_CONNECTION_COOKIE = '0x766e9e0000000000/0xffffff0000000000'     # drop bit + reason 30


def edge(lab):
    """lan (physical) with host `lan`; net1 (vm1 1:1, vm2 SNAT) behind route
    link edge; net3, net1's prefix again, (vm3 SNAT) behind route link edge3."""
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x14}},
        networks={'lan': {'ipv4': '10.0.10.0/24', 'mode': 'physical'},
                  'net1': {'ipv4': '172.16.1.0/24'}, 'net3': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'lan': {'network': 'lan', 'mode': 'host', 'mac': '52:54:00:0a:00:0b',
                    'ipv4': LAN_HOST, 'datapath': 'br0', 'port': lab.ifname('up')},
            'vm1': vif(lab, 'net1', '52:54:00:00:01:0a', '172.16.1.10', 'br0', 'v1'),
            'vm2': vif(lab, 'net1', '52:54:00:00:01:14', '172.16.1.20', 'br0', 'v2'),
            'vm3': vif(lab, 'net3', '52:54:00:00:03:0a', '172.16.1.10', 'br0', 'v3'),
            'lan-gw': gateway('lan', '52:54:00:74:0a:01', '10.0.10.1'),
            'lan-gw3': gateway('lan', '52:54:00:74:0a:03', '10.0.10.3'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net3-gw': gateway('net3', '52:54:00:74:03:fe', '172.16.1.254'),
        },
        route_links={
            'edge': {'routes': [{'interface': 'lan-gw', 'ipv4': '0.0.0.0/0', 'gateway': '10.0.10.254'},
                                {'interface': 'net1-gw'}],
                     'nat': [{'inside': '172.16.1.10', 'outside': FLOATING},
                             {'inside': '172.16.1.0/24', 'outside': SNAT1}]},
            'edge3': {'routes': [{'interface': 'lan-gw3', 'ipv4': '0.0.0.0/0', 'gateway': '10.0.10.254'},
                                 {'interface': 'net3-gw'}],
                      'nat': [{'inside': '172.16.1.0/24', 'outside': SNAT3}]}})


def start(lab, hosts=('lan', 'vm1', 'vm2', 'vm3')):
    s = edge(lab)
    s.ctl = s.start(list(hosts), {'vm1': '172.16.1.254', 'vm2': '172.16.1.254', 'vm3': '172.16.1.254'})
    return s


def nat_flows(bridge):
    """(cookie, duration) of the flows of the NAT tables."""
    return {f['cookie']: f['duration'] for f in bridge.dump_flows() if f['table'] in (25, 26, 27, 32, 33)}


def tcpdump(host, expression: str, count: int) -> Capture:
    """tcpdump on the host's eth0, returned once it listens."""
    p = host.popen(['tcpdump', '-l', '-nn', '-v', '-i', 'eth0', '-c', str(count), expression],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready, _, _ = select.select([p.stderr], [], [], 5)
    line = p.stderr.readline() if ready else ''
    if 'listening on' not in line:
        p.kill()
        raise NetlabError(f'tcpdump in {host} did not start: {line or "(no output)"}')
    return Capture(p)


def tcp_server(host, port: int, reply: str):
    """A one-shot TCP server that answers `reply` and prints its peer (nc -v)."""
    p = host.popen(f'echo {reply} | nc -n -v -l -p {port} -q 1', stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
    wait_for(lambda: f':{port} ' in host.run('ss -ltn').stdout, timeout=5,
             what=f'nc listening on {port} in {host}')
    return p


def peer_of(server) -> str:
    """The address nc -v saw the connection come from."""
    out, _ = server.communicate(timeout=10)
    found = re.search(r'[Cc]onnection (?:received on|from) \[?([0-9.]+)', out)
    assert found, out
    return found.group(1)


def test_a_lan_host_reaches_a_vm_by_its_floating_ip_and_the_replies_come_from_that_address(lab):
    s = start(lab, ('lan', 'vm1'))
    lan, vm1 = s.hosts['lan'], s.hosts['vm1']
    assert lan.arping(FLOATING) == '52:54:00:74:0a:01'          # the router answers for it
    capture = tcpdump(lan, 'icmp[icmptype] == icmp-echoreply', 2)
    wait_reachable(lan, FLOATING)
    assert lan.ping(FLOATING, count=2, timeout=2)
    replies = capture.wait()
    assert re.search(rf'{re.escape(FLOATING)} > {LAN_HOST}: ICMP echo reply', replies), replies
    assert '172.16.1.10' not in replies, replies                 # the inside address never shows
    server = tcp_server(vm1, 8080, 'vm1')
    out = lan.run(f'nc -w 3 {FLOATING} 8080 </dev/null').stdout
    assert out.strip() == 'vm1'
    assert peer_of(server) == LAN_HOST                           # only the destination is translated


def test_a_vm_reaches_the_lan_through_source_nat_and_the_lan_sees_the_outside_address(lab):
    s = start(lab, ('lan', 'vm1', 'vm2'))
    lan, vm1, vm2 = s.hosts['lan'], s.hosts['vm1'], s.hosts['vm2']
    capture = tcpdump(lan, f'icmp and src host {SNAT1}', 1)
    wait_reachable(vm2, LAN_HOST)
    assert re.search(rf'{re.escape(SNAT1)} > {LAN_HOST}: ICMP echo request', capture.wait())
    for vm, outside in ((vm2, SNAT1), (vm1, FLOATING)):          # many:1, then the 1:1 rule
        server = tcp_server(lan, 9000, 'lan')
        assert vm.run(f'nc -w 3 {LAN_HOST} 9000 </dev/null').stdout.strip() == 'lan'
        assert peer_of(server) == outside
    # Nothing from the LAN gets in through the source-NAT address uninvited
    assert not lan.ping(SNAT1, count=2, timeout=2)
    assert s.bridges['br0'].dump_flows(cookie=NAT_NO_CONNECTION_COOKIE)[0]['n_packets'] >= 2


def test_overlapping_inside_networks_share_the_edge_through_their_own_outside_addresses(lab):
    s = start(lab)
    lan, vm1, vm3 = s.hosts['lan'], s.hosts['vm1'], s.hosts['vm3']
    wait_reachable(vm3, LAN_HOST)
    # vm1 and vm3 have the same address; each leaves as its own link's outside address
    for vm, outside in ((vm3, SNAT3), (vm1, FLOATING), (vm3, SNAT3)):
        server = tcp_server(lan, 9001, 'lan')
        assert vm.run(f'nc -w 3 {LAN_HOST} 9001 </dev/null').stdout.strip() == 'lan'
        assert peer_of(server) == outside
    # The floating IP leads to vm1 only, never to vm3 with the same address
    server1, server3 = tcp_server(vm1, 8081, 'vm1'), tcp_server(vm3, 8081, 'vm3')
    assert lan.run(f'nc -w 3 {FLOATING} 8081 </dev/null').stdout.strip() == 'vm1'
    server1.communicate(timeout=10)
    assert server3.poll() is None                               # vm3 got no connection
    # vm3's outside address is source NAT only: it leads nowhere from the LAN
    assert lan.run(f'nc -w 2 {SNAT3} 8081 </dev/null', check=False).stdout.strip() == ''
    server3.kill()


def test_icmp_errors_are_translated_both_ways_so_traceroute_ends_at_the_right_address(lab):
    s = start(lab, ('lan', 'vm1', 'vm2'))
    lan, vm2 = s.hosts['lan'], s.hosts['vm2']
    wait_reachable(vm2, LAN_HOST)
    # UDP to a closed port: the LAN host's port unreachable (about 10.0.10.100) reaches vm2
    # with its inner header translated, so traceroute's socket gets it and stops there
    out = vm2.run(f'traceroute -n -U -q 1 -w 1 -m 4 {LAN_HOST}').stdout
    assert hops(out) == ['172.16.1.254', LAN_HOST], out
    # From the LAN to the floating IP: the router's time exceeded quotes what the LAN host
    # sent, and vm1's port unreachable leaves with the floating IP outside and inside
    wait_reachable(lan, FLOATING)
    out = lan.run(f'traceroute -n -U -q 1 -w 1 -m 4 {FLOATING}').stdout
    assert hops(out) == ['10.0.10.1', FLOATING], out


def hops(traceroute_output: str):
    return [line.split()[1] for line in traceroute_output.splitlines()[1:] if line.strip()]


def test_an_established_source_nat_connection_survives_an_unrelated_live_edit(lab):
    s = start(lab, ('lan', 'vm2'))
    lan, vm2, ctl, br = s.hosts['lan'], s.hosts['vm2'], s.ctl, s.bridges['br0']
    wait_reachable(vm2, LAN_HOST)
    server = lan.popen('nc -n -l -p 9100', stdout=subprocess.PIPE)
    wait_for(lambda: ':9100 ' in lan.run('ss -ltn').stdout, timeout=5, what='nc listening on 9100')
    client = vm2.popen(f'nc -n {LAN_HOST} 9100', stdin=subprocess.PIPE)
    client.stdin.write('before\n')
    client.stdin.flush()
    assert server.stdout.readline() == 'before\n'
    assert f'{SNAT1}:' in lan.run('ss -tn').stdout
    flows = nat_flows(br)
    # an edit elsewhere (a new VM): NAT's flows and the link's conntrack zone stay as they were
    changes = ctl.log_text().count('topology change: applied')
    s.doc['interfaces']['vm4'] = vif(lab, 'net1', '52:54:00:00:01:1e', '172.16.1.30', 'br0', 'v4')
    s.write()
    wait_for(lambda: ctl.log_text().count('topology change: applied') > changes, timeout=10,
             what='the edit to be applied')
    after = nat_flows(br)
    assert after.keys() == flows.keys() and all(after[c] >= flows[c] for c in flows)
    client.stdin.write('after\n')
    client.stdin.close()
    assert server.stdout.readline() == 'after\n'


def test_a_floating_ip_and_security_groups_work_together(lab):
    s = edge(lab)
    s.doc['interfaces']['vm1']['security_groups'] = ['web']
    s.doc['security_groups'] = {'web': {'ingress': [{'proto': 'tcp', 'ports': 8080, 'from': '0.0.0.0/0'}]}}
    s.start(['lan', 'vm1'], {'vm1': '172.16.1.254'})
    lan, vm1 = s.hosts['lan'], s.hosts['vm1']
    allowed, refused = tcp_server(vm1, 8080, 'vm1'), tcp_server(vm1, 8081, 'vm1')
    wait_for(lambda: lan.run(f'nc -w 2 {FLOATING} 8080 </dev/null', check=False).stdout.strip() == 'vm1',
             timeout=10, what='the allowed port through the floating IP')
    assert peer_of(allowed) == LAN_HOST
    assert lan.run(f'nc -w 2 {FLOATING} 8081 </dev/null', check=False).stdout.strip() == ''
    assert refused.poll() is None                                # the group kept it out
    refused.kill()
