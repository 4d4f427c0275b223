"""The simulated DHCP responder, with stock clients on real OVS."""
import signal

from lab import free_tcp_port
from tests.integration.dhcp_clients import (
    client_script,
    dhclient_once,
    parse_events,
    udhcpc_once,
    wait_for_event,
)
from tests.integration.frames import punted
from tests.integration.scenarios import Scenario, gateway, vif


def dhcp_scenario(lab):
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x1}},
        networks={
            'net1': {'ipv4': '172.16.1.0/24', 'dns_servers': ['172.16.1.53', '172.16.1.54'],
                     'domain_name': 'example.internal', 'lease_time': 600},
            'bare': {'ipv4': '10.5.0.0/24'},
        },
        interfaces={
            'vm1': vif(lab, 'net1', '52:54:00:0d:84:01', '172.16.1.1', 'br0', 'p1'),
            'vm2': vif(lab, 'net1', '52:54:00:0d:84:02', '172.16.1.2', 'br0', 'p2'),
            'noip': dict(vif(lab, 'net1', '52:54:00:0d:84:03', '172.16.1.3', 'br0', 'p3')),
            'b1': vif(lab, 'bare', '52:54:00:0d:85:01', '10.5.0.1', 'br0', 'q1'),
            'b2': vif(lab, 'bare', '52:54:00:0d:85:02', '10.5.0.2', 'br0', 'q2'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net1-dhcp': gateway('net1', '52:54:00:74:01:fd', '172.16.1.253', services=('dhcp',)),
        })


def start(lab, s, hosts):
    port = free_tcp_port()
    del s.doc['interfaces']['noip']['ipv4']
    s.write()
    br = s.make_bridge('br0', port)
    for name in hosts:
        iface = s.doc['interfaces'][name]
        # Hosts start without an address: DHCP is what gives them one.
        s.hosts[name] = lab.host(name, br, iface['port'], iface['mac'], None)
    ctl = lab.controller(s.path, port=port)
    br.wait_connected()
    br.wait_for_flows(10)
    return br, ctl


def assert_full_lease(env, ip):
    """The lease as udhcpc reports it to its script."""
    assert env is not None, 'no lease'
    assert env['ip'] == ip
    assert env['subnet'] == '255.255.255.0'
    assert env['router'].split() == ['172.16.1.254']
    assert env['dns'].split() == ['172.16.1.53', '172.16.1.54']
    assert env['domain'] == 'example.internal'
    assert env['lease'] == '600'
    assert env['serverid'] == '172.16.1.253'


def test_udhcpc_gets_the_full_registered_lease_and_renews_it(lab):
    s = dhcp_scenario(lab)
    start(lab, s, ['vm1'])
    vm1 = s.hosts['vm1']
    assert_full_lease(udhcpc_once(lab, vm1), '172.16.1.1')
    # Renewal: a bound udhcpc renews by unicast to the server id on SIGUSR1.
    vm1.run('ip addr add 172.16.1.1/24 dev eth0')
    script, out = client_script(lab, vm1)
    proc = vm1.popen(['udhcpc', '-i', 'eth0', '-f', '-t', '3', '-T', '1', '-s', str(script)])
    assert wait_for_event(out, 'bound') is not None
    seen = len(parse_events(out))
    proc.send_signal(signal.SIGUSR1)
    renewed = wait_for_event(out, 'renew', after=seen)
    proc.terminate()
    assert renewed is not None and renewed['ip'] == '172.16.1.1'
    assert renewed['serverid'] == '172.16.1.253'


def test_dhclient_gets_the_full_registered_lease_and_renews_it(lab):
    s = dhcp_scenario(lab)
    start(lab, s, ['vm2'])
    vm2 = s.hosts['vm2']
    lease = dhclient_once(lab, vm2)
    assert lease is not None, 'dhclient got no lease'
    assert lease['new_ip_address'] == '172.16.1.2'
    assert lease['new_subnet_mask'] == '255.255.255.0'
    assert lease['new_routers'] == '172.16.1.254'
    assert lease['new_domain_name_servers'] == '172.16.1.53 172.16.1.54'
    assert lease['new_domain_name'] == 'example.internal'
    assert lease['new_dhcp_lease_time'] == '600'
    assert lease['new_dhcp_server_identifier'] == '172.16.1.253'
    # Second run reuses the lease file: INIT-REBOOT REQUEST for the same address.
    again = dhclient_once(lab, vm2)
    assert again is not None and again['new_ip_address'] == '172.16.1.2'


def test_an_interface_without_an_address_and_a_network_without_the_service_get_nothing(lab):
    s = dhcp_scenario(lab)
    br, ctl = start(lab, s, ['noip', 'b1'])
    assert udhcpc_once(lab, s.hosts['noip']) is None
    assert udhcpc_once(lab, s.hosts['b1']) is None
    ctl.assert_running()


def test_a_host_with_a_mac_the_topology_does_not_know_gets_nothing(lab):
    s = dhcp_scenario(lab)
    br, _ = start(lab, s, ['vm1'])
    vm1 = s.hosts['vm1']
    vm1.run('ip link set eth0 address 52:54:00:99:99:99')
    assert udhcpc_once(lab, vm1) is None


def test_a_rogue_dhcp_server_on_a_vif_is_blocked(lab):
    s = dhcp_scenario(lab)
    start(lab, s, ['vm1', 'vm2', 'b1', 'b2'])
    for rogue, net_ip in ((s.hosts['vm2'], '172.16.1.2/24'), (s.hosts['b2'], '10.5.0.2/24')):
        rogue.add_address(net_ip)
        base = net_ip.rsplit('.', 1)[0]
        rogue.popen(f'dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=eth0 '
                    f'--bind-interfaces --dhcp-range={base}.100,{base}.150,1h '
                    f'--dhcp-leasefile={lab.path(rogue.name + ".leases")} '
                    f'--pid-file={lab.path(rogue.name + ".pid")}')
    # With our server in the network the client gets ours, never the rogue's.
    lease = udhcpc_once(lab, s.hosts['vm1'])
    assert lease is not None and lease['serverid'] == '172.16.1.253' and lease['ip'] == '172.16.1.1'
    # Without one, the rogue's offers never arrive.
    assert udhcpc_once(lab, s.hosts['b1']) is None


SENDER = """
import socket, sys, time
frames = [bytes.fromhex(l) for l in open(sys.argv[1]).read().split()]
pace = float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
for f in frames:
    s.send(f)
    if pace:
        time.sleep(pace)
"""


def malformed_requests(mac, count):
    """Frames OVS sees as UDP 68->67 whose DHCP part is broken in many ways."""
    import random
    import struct

    from controller.packets import dhcp as p
    rnd = random.Random(7)
    good = p.build_request(p.DISCOVER, 0x1234, mac)
    udp_at = 14 + 20
    frames = []

    def with_payload(payload):
        ip_len, udp_len = 20 + 8 + len(payload), 8 + len(payload)
        head = bytearray(good[:udp_at + 8])
        struct.pack_into('!H', head, 16, ip_len)
        struct.pack_into('!H', head, 24, 0)
        struct.pack_into('!H', head, 24, p.ip_checksum(bytes(head[14:34])))
        struct.pack_into('!HH', head, udp_at + 4, udp_len, 0)   # UDP checksum 0: none
        return bytes(head) + payload

    dhcp = good[udp_at + 8:]
    for i in range(count):
        kind = i % 6
        if kind == 0:
            payload = dhcp[:rnd.randrange(0, 240)]                    # truncated BOOTP
        elif kind == 1:
            payload = dhcp[:236] + b'\x00\x00\x00\x00' + dhcp[240:]   # wrong magic cookie
        elif kind == 2:
            payload = dhcp[:240] + bytes([53, 200, 1])                # option past the end
        elif kind == 3:
            payload = dhcp[:240] + bytes([12, 3]) + b'abc' + b'\xff'  # no option 53
        elif kind == 4:
            payload = dhcp + bytes(rnd.randrange(256) for _ in range(1472 - len(dhcp)))  # MTU-sized
        else:
            payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600)))
        frames.append(with_payload(payload))
    return frames


def test_a_flood_of_malformed_dhcp_packets_leaves_the_controller_serving_honest_clients(lab):
    s = dhcp_scenario(lab)
    br, ctl = start(lab, s, ['vm1', 'vm2'])
    frames = malformed_requests('52:54:00:0d:84:01', 3000)
    data = lab.write('flood.hex', '\n'.join(f.hex() for f in frames))
    sender = lab.write('sender.py', SENDER)
    vm1 = s.hosts['vm1']
    paced = lab.write('paced.hex', '\n'.join(f.hex() for f in frames[:120]))
    vm1.run(['/usr/bin/python3', str(sender), str(paced), '0.025'], timeout=60)   # under the meter
    vm1.run(['/usr/bin/python3', str(sender), str(data), '0'], timeout=60)        # a burst over it
    assert_full_lease(udhcpc_once(lab, s.hosts['vm2']), '172.16.1.2')
    ctl.assert_running()
    log = ctl.log_text()
    assert 'Traceback' not in log
    assert 'dhcp from vm1' in log            # the malformed ones did reach the parser
    # Most of the 120 paced frames reached the controller (under load OVS's
    # receive buffer may drop a few, and much of the unpaced burst).
    assert punted(br) >= 60
