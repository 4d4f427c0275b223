"""The service port on real OVS (controller.pipeline.service_port): with it,
the switch sends DNS queries and DHCP requests to the bridge's internal port
`<bridge>-svc` and the controller reads them there, not by packet-in.  The
answers leave by the asking vif's own device (a veth here), or, with
--noanswers-by-device, tagged back through the service port.  A frame
written into the port without a return tag goes nowhere; without the port
(deleted while the controller runs) both services fall back to packet-ins,
and use the port again once it is back.  `vnetctl setup --apply` adds the
port once.

The evidence that a query took the port and not a packet-in: the flows that
match it (udp tp_dst=53 / 67) output to the service port's number and to no
CONTROLLER, and their packet counts rose.  Which road the answers took: the
classifier's return flow (priority SERVICE_RETURN_PRIORITY, in_port=<service
port>), which every answer written into the service port passes, stays put
while answers leave by the vif's device, and counts them otherwise."""
import re
import secrets
import socket
import time
import zlib

import pytest
import yaml

from controller.pipeline.service_port import SERVICE_RETURN_PRIORITY, service_port_name, tagged
from lab import Lab, free_tcp_port, sh, wait_for
from lab.netns import in_netns
from lab.ovs import ofport
from tests.integration.attachlab import ok
from tests.integration.dhcp_clients import udhcpc_once
from tests.integration.dig_output import answers, status

DOMAIN = 'svc.internal'
DNS_IP, DHCP_IP, GATEWAY = '10.66.1.53', '10.66.1.253', '10.66.1.254'
HOSTS = {'vm1': ('52:54:00:66:01:01', '10.66.1.1'), 'vm2': ('52:54:00:66:01:02', '10.66.1.2'),
         'dh': ('52:54:00:66:01:03', '10.66.1.3')}          # dh: no address, asks DHCP
ETH_P_ALL = 0x0003
TEST_ETHERTYPE = b'\x88\xb5'                                # IEEE local experimental


def topology(lab, dpid: int) -> dict:
    interfaces = {name: {'network': 'net1', 'mac': mac, 'ipv4': ip, 'datapath': 'br0',
                         'port': lab.ifname(name)} for name, (mac, ip) in HOSTS.items()}
    interfaces.update({
        'dns': {'network': 'net1', 'mode': 'simulated', 'mac': '52:54:00:66:01:35',
                'ipv4': DNS_IP, 'services': ['dns']},
        'dhcp': {'network': 'net1', 'mode': 'simulated', 'mac': '52:54:00:66:01:fd',
                 'ipv4': DHCP_IP, 'services': ['dhcp']},
        'gw': {'network': 'net1', 'mode': 'simulated', 'mac': '52:54:00:66:01:fe',
               'ipv4': GATEWAY, 'services': ['router']}})
    return {'datapaths': {'br0': {'dpid': dpid}},
            'networks': {'net1': {'ipv4': '10.66.1.0/24', 'domain_name': DOMAIN,
                                  'dns_servers': [DNS_IP]}},
            'interfaces': interfaces}


class ServiceLab:
    def __init__(self, lab):
        self.lab = lab
        dpid = 0x66000000 + (zlib.crc32(lab.prefix.encode()) & 0xffffff)   # unique per lab
        port = free_tcp_port()
        self.br = lab.bridge('br0', dpid, controller_port=port, service_port=True)
        self.svc_name = self.br.service_port
        assert self.svc_name == service_port_name(self.br.name)
        path = lab.write('service-port.yml', yaml.safe_dump(topology(lab, dpid), sort_keys=False))
        self.hosts = {name: lab.host(name, self.br, lab.ifname(name), mac,
                                     None if name == 'dh' else f'{ip}/24')
                      for name, (mac, ip) in HOSTS.items()}
        self.ctl = lab.controller(path, port=port)
        self.br.wait_connected()
        self.wait_punting_to(self.svc())

    # -- what the switch has ------------------------------------------------------
    def svc(self) -> int:
        return ofport(self.svc_name, check=False)

    def punts(self, udp_port: int) -> list:
        return [f for f in self.br.dump_flows() if f'tp_dst={udp_port}' in f['match']
                and f['actions'] != 'drop']

    def return_flow(self, svc: int, priority: int = SERVICE_RETURN_PRIORITY) -> dict:
        found = [f for f in self.br.dump_flows() if f['priority'] == priority
                 and re.search(rf'\bin_port={svc}\b', f['match'])]
        assert len(found) == 1, f'no flow at priority {priority} for in_port={svc}: {found}'
        return found[0]

    def targets(self, udp_port: int) -> set:
        """Where the DNS (53) or DHCP (67) punt flows send: 'CONTROLLER' or a port."""
        out = set()
        for f in self.punts(udp_port):
            out |= {'CONTROLLER' if 'CONTROLLER' in a else a.split(':')[1]
                    for a in re.findall(r'(?:output:\d+|CONTROLLER:\d+)', f['actions'])}
        return out

    def wait_punting_to(self, target) -> None:
        """Until both services' punt flows send to `target` (a port number or 'CONTROLLER')."""
        want = {str(target)}
        wait_for(lambda: self.targets(53) == want and self.targets(67) == want, timeout=20,
                 what=f'DNS and DHCP punts to {target}',
                 state=lambda: f'dns -> {self.targets(53)}, dhcp -> {self.targets(67)}')

    def punted(self, udp_port: int) -> int:
        return sum(f['n_packets'] for f in self.punts(udp_port))

    def dig(self, *query: str) -> str:
        return self.hosts['vm1'].run(['dig', f'@{DNS_IP}', '+time=2', '+tries=2', *query],
                                     check=False, timeout=15).stdout


def reaches(read, value: int, what: str, timeout: float = 5) -> None:
    """Until `read()` >= `value` (OVS folds datapath counters into its flows'
    within about a second)."""
    wait_for(lambda: read() >= value, timeout=timeout, interval=0.2,
             what=f'{what} to reach {value}', state=lambda: f'now {read()}')


@pytest.fixture(scope='module')
def service_lab():
    with Lab() as lab:
        yield ServiceLab(lab)


@pytest.fixture
def s(service_lab, request):
    request.node._vnet_controllers = [service_lab.ctl]
    service_lab.ctl.assert_running()
    return service_lab


def resolves(s) -> None:
    """A, PTR and NXDOMAIN answers (the caller says which way they went)."""
    assert answers(s.dig(f'vm2.{DOMAIN}')) == [HOSTS['vm2'][1]]
    assert answers(s.dig('-x', HOSTS['vm2'][1])) == [f'vm2.{DOMAIN}.']
    assert status(s.dig(f'nope.{DOMAIN}')) == 'NXDOMAIN'


def test_dig_gets_a_ptr_and_nxdomain_answers_through_the_service_port_and_its_vifs_device(s):
    svc = s.svc()
    assert s.targets(53) == {str(svc)}          # the query flows name no CONTROLLER
    punted, returned = s.punted(53), s.return_flow(svc)['n_packets']
    resolves(s)
    reaches(lambda: s.punted(53), punted + 3, 'queries to the service port')
    assert s.return_flow(svc)['n_packets'] == returned, 'answers went back through the switch'


def test_udhcpc_gets_its_lease_through_the_service_port_and_its_vifs_device(s):
    svc = s.svc()
    assert s.targets(67) == {str(svc)}
    punted, returned = s.punted(67), s.return_flow(svc)['n_packets']
    leased(s)
    reaches(lambda: s.punted(67), punted + 2, 'DISCOVER and REQUEST to the service port')
    assert s.return_flow(svc)['n_packets'] == returned, 'answers went back through the switch'


def leased(s) -> None:
    lease = udhcpc_once(s.lab, s.hosts['dh'])
    assert lease is not None, 'no lease'
    assert (lease['ip'], lease['serverid'], lease['domain']) == (HOSTS['dh'][1], DHCP_IP, DOMAIN)
    assert lease['router'].split() == [GATEWAY] and lease['dns'].split() == [DNS_IP]


def test_with_noanswers_by_device_the_answers_go_back_tagged_through_the_switch(s):
    svc = s.svc()
    s.ctl.stop()
    s.ctl.extra_args.append('--noanswers-by-device')
    try:
        s.ctl.start()
        s.br.wait_connected()
        wait_for(lambda: answers(s.dig(f'vm2.{DOMAIN}')) == [HOSTS['vm2'][1]], timeout=15,
                 what='an answer from the restarted controller')
        punted, returned = s.punted(53), s.return_flow(svc)['n_packets']
        resolves(s)
        leased(s)
        # 3 queries and DISCOVER, REQUEST in; 3 answers, OFFER and ACK out by the return flow
        reaches(lambda: s.punted(53), punted + 3, 'queries to the service port')
        reaches(lambda: s.return_flow(svc)['n_packets'], returned + 5, 'answers through the return flow')
    finally:
        s.ctl.stop()
        s.ctl.extra_args.remove('--noanswers-by-device')
        s.ctl.start()
        s.br.wait_connected()
    wait_for(lambda: answers(s.dig(f'vm2.{DOMAIN}')) == [HOSTS['vm2'][1]], timeout=15,
             what='an answer once the controller is back as it was')


def sniffer(host) -> socket.socket:
    """A packet socket on the host's eth0 (made in its namespace, read from here)."""
    def make():
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((host.ifname, 0))
        sock.settimeout(0.2)
        return sock
    return in_netns(host.ns, make)


def seen(sock: socket.socket, marker: bytes, seconds: float, first: bool = False) -> list:
    """The frames carrying `marker` that arrive within `seconds` (`first`: up to the first)."""
    found: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (first and found):
        try:
            frame = sock.recv(65535)
        except socket.timeout:
            continue
        if marker in frame:
            found.append(frame)
    return found


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(':', ''))


def test_an_untagged_frame_from_the_service_port_is_dropped_counted_and_reaches_no_vif(s):
    svc, vm2 = s.svc(), s.hosts['vm2']
    marker = b'service-port-test-' + secrets.token_hex(8).encode()
    frame = (mac_bytes(HOSTS['vm2'][0]) + mac_bytes('02:00:00:66:00:01') + TEST_ETHERTYPE
             + marker.ljust(46, b'\0'))
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    out.bind((s.svc_name, 0))
    rx = sniffer(vm2)
    try:
        dropped = s.return_flow(svc, SERVICE_RETURN_PRIORITY - 1)['n_packets']
        for _ in range(3):
            out.send(frame)
        reaches(lambda: s.return_flow(svc, SERVICE_RETURN_PRIORITY - 1)['n_packets'], dropped + 3,
                "the service port's drop flow")
        assert seen(rx, marker, 1.0) == []
        # the same frame with the return tag naming vm2's port does arrive, untagged:
        # the sniffer would have seen the first one
        out.send(tagged(frame, ofport(vm2.port)))
        assert [f[:len(frame)] for f in seen(rx, marker, 3.0, first=True)] == [frame]
    finally:
        out.close()
        rx.close()


def test_without_the_service_port_dhcp_and_dns_fall_back_to_packet_ins_and_use_it_again_when_back(s):
    sh(['ovs-vsctl', '--timeout=20', 'del-port', s.br.name, s.svc_name])
    try:
        s.wait_punting_to('CONTROLLER')
        punted = s.punted(53)
        resolves(s)
        reaches(lambda: s.punted(53), punted + 3, 'queries punted to the controller')
        lease = udhcpc_once(s.lab, s.hosts['dh'])
        assert lease is not None and lease['ip'] == HOSTS['dh'][1], f'no lease: {lease}'
    finally:
        sh(['ovs-vsctl', '--timeout=20', '--may-exist', 'add-port', s.br.name, s.svc_name,
            '--', 'set', 'Interface', s.svc_name, 'type=internal'])
    svc = s.svc()
    s.wait_punting_to(svc)
    punted = s.punted(53) + s.punted(67)
    wait_for(lambda: answers(s.dig(f'vm2.{DOMAIN}')) == [HOSTS['vm2'][1]], timeout=10,
             what='an answer through the service port once it is back')
    resolves(s)
    lease = udhcpc_once(s.lab, s.hosts['dh'])
    assert lease is not None and lease['ip'] == HOSTS['dh'][1], f'no lease: {lease}'
    reaches(lambda: s.punted(53) + s.punted(67), punted + 6, 'requests to the service port')


def test_vnetctl_setup_apply_adds_the_service_port_once(lab):
    bridge = lab.ifname('st')
    path = lab.write('setup.yml', yaml.safe_dump({
        'datapaths': {bridge: {'dpid': 0x66100000 + (zlib.crc32(lab.prefix.encode()) & 0xffff)}},
        'networks': {'net1': {'ipv4': '10.66.2.0/24'}},
        'interfaces': {'vm1': {'network': 'net1', 'mac': '52:54:00:66:02:01', 'ipv4': '10.66.2.1',
                               'datapath': bridge, 'port': lab.ifname('st1')}}}))
    args = ('setup', bridge, '--topology', path, '--controller', f'tcp:127.0.0.1:{free_tcp_port()}',
            '--datapath-type', 'netdev', '--apply')
    lab.track_bridge(bridge)
    svc = service_port_name(bridge)
    first = ok(*args).splitlines()
    assert f'{bridge}: added service port {svc} (type internal)' in first
    assert sh(['ovs-vsctl', 'get', 'Interface', svc, 'type']).stdout.strip() == 'internal'
    assert sh(['ovs-vsctl', 'port-to-br', svc]).stdout.strip() == bridge
    assert ok(*args).endswith('nothing changed\n')
    sh(['ovs-vsctl', 'del-port', bridge, svc])
    again = ok(*args).splitlines()
    assert again[0] == f'{bridge}: added service port {svc} (type internal)' and len(again) == 2
    assert ok(*args).endswith('nothing changed\n')
