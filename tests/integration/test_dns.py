"""The dns service on real Open vSwitch: dig from VMs on two emulated hosts
(weave's layout, tests/integration/multihost.py; red1 on h1, red3 on h3
behind the underlay router), NXDOMAIN, forwarding to a dnsmasq upstream in
its own namespace, a live edit resolvable at once, random bytes to port 53,
DHCP handing out the server, and SERVFAIL once the upstream is gone."""
import copy
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import Lab, wait_for
from lab.api import ApiClient, api_args
from lab.dnsmasq import DnsmasqServer
from tests.integration.dhcp_clients import udhcpc_once
from tests.integration.dig_output import answers, status
from tests.integration.multihost import VMS, VmSpec, Weave

DNS_IP = '10.44.1.53'
UPSTREAM_NAME, UPSTREAM_ADDRESS = 'host.example.test', '192.0.2.98'
DHCP_CLIENT = VmSpec('red4', 'red', 'h3', '10.44.1.4', '52:54:00:44:01:04')


class DnsLab:
    def __init__(self, lab):
        self.lab = lab
        self.upstream = DnsmasqServer(lab, 'up', records={UPSTREAM_NAME: UPSTREAM_ADDRESS})
        self.w = Weave(lab, [VMS['red1'], VMS['red3'], DHCP_CLIENT])
        self.doc = self.topology()
        self.w.save(self.doc)
        args, base = api_args()
        self.api = ApiClient(base)
        self.w.ctl = lab.controller(self.w.path, port=self.w.hosts.controller_port,
                                    extra_args=['--ofp-listen-host', self.w.hosts.controller_ip, *args])
        self.w.wait_synced()

    def topology(self) -> dict:
        doc = copy.deepcopy(self.w.topology())
        doc['networks']['red'] = dict(doc['networks']['red'], domain_name='red.internal',
                                      dns_upstream=[self.upstream.ip],
                                      dns_records={'www': '10.44.1.80'})
        doc['interfaces']['red-dns'] = {'network': 'red', 'mode': 'simulated', 'ipv4': DNS_IP,
                                        'mac': '52:54:00:44:01:53', 'services': ['dns']}
        return doc

    def dig(self, vm: str, *query: str, timeout: int = 2) -> str:
        return self.w.vm[vm].run(['dig', f'@{DNS_IP}', f'+time={timeout}', '+tries=1', *query],
                                 check=False, timeout=timeout + 5).stdout

    def queries(self) -> dict:
        text = self.api.request('GET', '/metrics')[1]
        return {m[0]: float(m[1]) for m in
                re.findall(r'^vnet_dns_queries_total\{result="(\w+)"\} (\S+)$', text, re.M)}


@pytest.fixture(scope='module')
def dns_lab():
    with Lab() as lab:
        d = DnsLab(lab)
        yield d
        d.w.close()


@pytest.fixture
def d(dns_lab, request):
    request.node._vnet_controllers = [dns_lab.w.ctl]
    dns_lab.w.ctl.assert_running()
    return dns_lab


def test_vms_on_different_hosts_resolve_each_other_records_and_addresses(d):
    out = d.dig('red1', 'red3.red.internal')
    assert (status(out), answers(out)) == ('NOERROR', ['10.44.1.3']), out
    assert ' aa ' in out.split('flags:')[1].split(';')[0] + ' '         # authoritative
    assert answers(d.dig('red3', 'red1.red.internal')) == ['10.44.1.1']
    assert answers(d.dig('red3', 'www.red.internal')) == ['10.44.1.80']
    assert answers(d.dig('red1', '-x', '10.44.1.3')) == ['red3.red.internal.']


def test_an_unknown_name_in_the_domain_is_nxdomain(d):
    assert status(d.dig('red3', 'nobody.red.internal')) == 'NXDOMAIN'
    assert status(d.dig('red1', '-x', '10.44.1.99')) == 'NXDOMAIN'


def test_other_names_are_forwarded_to_the_upstream_dnsmasq(d):
    out = d.dig('red3', UPSTREAM_NAME)
    assert (status(out), answers(out)) == ('NOERROR', [UPSTREAM_ADDRESS]), out
    assert d.queries()['forwarded'] >= 1


def test_an_interface_added_by_a_live_edit_is_resolvable_at_once(d):
    d.doc['interfaces']['red7'] = {'network': 'red', 'mac': '52:54:00:44:01:07', 'ipv4': '10.44.1.7',
                                   'datapath': 'h2', 'port': 'red7-p'}
    saved = d.w.save(d.doc)
    wait_for(lambda: answers(d.dig('red1', 'red7.red.internal', timeout=1)) == ['10.44.1.7'],
             timeout=5, interval=0.05, what='red7 to resolve')
    assert time.monotonic() - saved < 2.0          # the file watch's settling time, then at once


def test_random_bytes_to_port_53_do_not_crash_the_controller_and_are_counted(d):
    before = d.queries()
    sender = ('import os, socket\n'
              's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
              'for n in range(300):\n'
              f'    s.sendto(os.urandom(n % 40 + 1), ("{DNS_IP}", 53))\n')
    d.w.vm['red1'].run(['python3', '-c', sender])

    def counted():
        now = d.queries()
        return sum(now.get(k, 0) - before.get(k, 0) for k in ('malformed', 'formerr')) >= 250
    wait_for(counted, timeout=5, interval=0.1, what='the malformed queries to be counted')
    d.w.ctl.assert_running()
    assert answers(d.dig('red3', 'red1.red.internal')) == ['10.44.1.1']
    assert 'Traceback' not in d.w.run_log()


def test_a_query_flood_is_capped_by_the_networks_dns_meter_in_the_switch(d):
    flood = ('import socket, time\n'
             's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
             'q = bytes.fromhex("123401000001000000000000") + b"\\x04red3\\x03red\\x08internal\\x00\\x00\\x01\\x00\\x01"\n'
             'end = time.monotonic() + 0.5\n'
             'while time.monotonic() < end:\n'
             f'    s.sendto(q, ("{DNS_IP}", 53))\n')
    d.w.vm['red1'].run(['python3', '-c', flood])

    def limited():
        text = d.api.request('GET', '/metrics')[1]
        found = re.search(r'^vnet_dropped_packets_total\{datapath="h1",reason="dns_rate_limited",'
                          r'table="20"\} (\S+)$', text, re.M)
        return found is not None and float(found.group(1)) > 0
    wait_for(limited, timeout=15, interval=0.5, what="h1's DNS meter to drop part of the flood")
    d.w.ctl.assert_running()
    assert answers(d.dig('red3', 'red1.red.internal')) == ['10.44.1.1']


def test_the_live_trace_of_a_query_takes_the_switchs_punt_flow_and_agrees_with_the_offline_one(d):
    vnetctl = Path(sys.executable).with_name('vnetctl')
    offline = subprocess.run([vnetctl, 'trace', d.w.path, '--from', 'red3', '--dns'],
                             capture_output=True, text=True, timeout=60)
    live = subprocess.run([vnetctl, 'trace', d.w.path, '--from', 'red3', '--dns', '--live',
                           f'--ovs=h3={d.w.h["h3"].ovs.dir}'], capture_output=True, text=True, timeout=60)
    assert (offline.returncode, live.returncode) == (0, 0), offline.stdout + live.stdout + live.stderr
    verdict = offline.stdout.splitlines()[-1]
    assert verdict.startswith('verdict: sent to the controller from h3 (punt reason DNS_QUERY (5)')
    assert live.stdout.splitlines()[-1] == verdict
    assert 'interfaces.red-dns.services' in live.stdout


def test_dhcp_hands_out_the_dns_interface_and_the_domain(d):
    lease = udhcpc_once(d.lab, d.w.vm['red4'])
    assert lease is not None
    assert (lease.get('dns'), lease.get('domain')) == (DNS_IP, 'red.internal'), lease


def test_a_forwarded_query_gets_servfail_when_the_upstream_is_gone(d):
    d.upstream.stop()
    started = time.monotonic()
    out = d.dig('red1', 'other.example.test', timeout=4)
    assert status(out) == 'SERVFAIL', out
    assert time.monotonic() - started < 3.5          # the forwarder's 1 s timeout, not dig's
    assert d.queries()['servfail'] >= 1
