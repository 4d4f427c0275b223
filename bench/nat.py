"""``python -m bench.nat``: iperf3 through NAT at the edge against routed without NAT.

    make bench-nat                   # = .venv/bin/python -m bench.nat
    .venv/bin/python -m bench.nat --rounds 7 --seconds 5 --json

One OVS userspace bridge programmed by the controller, one topology: a
physical LAN 10.0.10.0/24 (a host behind the uplink runs the iperf3 server)
and three VMs behind one route link, each leaving through the same edge
router interface to the LAN host:

* ``routed``: a VM of net2 (172.16.2.0/24), which no NAT rule covers: routed
  as before (the LAN host has a route to net2 via the router);
* ``1:1``: a VM of net1 with a floating IP (conntrack too: its connections
  leave from the floating address);
* ``many:1``: another VM of net1, source-NATed by conntrack
  (``ct(commit, nat(src=...))``, the route link's zone).

Before measuring, each VM's packets must reach the LAN host from the address
its case says (``ss`` on the LAN host sees it), else the run fails.  Rounds
alternate the three sides (mirrored), so drifting load hits all alike.  The
result per NAT side is the ratio of medians against ``routed``; target
>= 0.90.  Spread is max/min of a side's runs.

Exit status: 0 when measured (with --strict, 1 when a ratio misses the
target), 2 when the setup does not work.
"""
from __future__ import annotations

import argparse
import sys

import yaml

from bench import iperf_sides
from bench.common import Say, SetupError
from lab import Lab, NetlabError, free_tcp_port, iperf3_tcp, wait_for

SIDES = ('routed', '1:1', 'many:1')
TARGET = 0.90
LAN_HOST, FLOATING, SNAT = '10.0.10.11', '10.0.10.110', '10.0.10.100'
SOURCE_SEEN = {'routed': '172.16.2.10', '1:1': FLOATING, 'many:1': SNAT}
CLIENT_OF = {'routed': 'vmr', '1:1': 'vm1', 'many:1': 'vm2'}


def topology(lab: Lab) -> dict:
    def vif(network, mac, ip, port):
        return {'network': network, 'mac': mac, 'ipv4': ip, 'datapath': 'br0', 'port': lab.ifname(port)}

    def router(network, mac, ip):
        return {'network': network, 'mode': 'simulated', 'mac': mac, 'ipv4': ip, 'services': ['router']}
    return {
        'datapaths': {'br0': {'dpid': 0x4e}},
        'networks': {'lan': {'ipv4': '10.0.10.0/24', 'mode': 'physical'},
                     'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'}},
        'interfaces': {
            'lan': {'network': 'lan', 'mode': 'host', 'mac': '52:54:00:0a:00:0b', 'ipv4': LAN_HOST,
                    'datapath': 'br0', 'port': lab.ifname('up')},
            'vm1': vif('net1', '52:54:00:00:01:0a', '172.16.1.10', 'v1'),
            'vm2': vif('net1', '52:54:00:00:01:14', '172.16.1.20', 'v2'),
            'vmr': vif('net2', '52:54:00:00:02:0a', '172.16.2.10', 'vr'),
            'lan-gw': router('lan', '52:54:00:74:0a:01', '10.0.10.1'),
            'net1-gw': router('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net2-gw': router('net2', '52:54:00:74:02:fe', '172.16.2.254'),
        },
        'route_links': {'edge': {
            'routes': [{'interface': 'lan-gw', 'ipv4': '0.0.0.0/0', 'gateway': '10.0.10.254'},
                       {'interface': 'net1-gw'}, {'interface': 'net2-gw'}],
            'nat': [{'inside': '172.16.1.10', 'outside': FLOATING},
                    {'inside': '172.16.1.0/24', 'outside': SNAT}]}},
    }


class Bench:
    def __init__(self, lab: Lab, args: argparse.Namespace, say: Say):
        self.lab, self.args, self.say = lab, args, say
        self.hosts: dict = {}

    def setup(self) -> None:
        doc = topology(self.lab)
        path = self.lab.write('nat-bench.yml', yaml.safe_dump(doc, sort_keys=False))
        port = free_tcp_port()
        br = self.lab.bridge('br0', dpid=0x4e, controller_port=port)
        ifaces = doc['interfaces']
        for name, gw in (('lan', None), ('vm1', '172.16.1.254'), ('vm2', '172.16.1.254'),
                         ('vmr', '172.16.2.254')):
            i = ifaces[name]
            prefix = doc['networks'][i['network']]['ipv4'].split('/')[1]
            self.hosts[name] = self.lab.host(name, br, i['port'], i['mac'], f"{i['ipv4']}/{prefix}",
                                             gateway=gw)
        self.hosts['lan'].run('ip route add 172.16.2.0/24 via 10.0.10.1')   # routed side only
        self.ctl = self.lab.controller(path, port=port)
        br.wait_connected()
        for side in SIDES:
            self.check(side)

    def check(self, side: str) -> None:
        """The side's VM reaches the LAN host, seen from the address the side says."""
        client, lan = self.hosts[CLIENT_OF[side]], self.hosts['lan']
        try:
            wait_for(lambda: client.ping(LAN_HOST, count=1, timeout=1), timeout=15,
                     what=f'{side}: {client.name} to reach {LAN_HOST}')
        except NetlabError as exc:
            raise SetupError(f'{exc}\n{self.ctl.log_text()[-3000:]}') from None
        server = lan.popen(['nc', '-n', '-l', '-p', '5001'])
        try:
            wait_for(lambda: ':5001 ' in lan.run('ss -ltn').stdout, timeout=5, what='nc to listen')
            client.popen(['sh', '-c', f'sleep 2 | nc -n -w 3 {LAN_HOST} 5001'])
            seen = SOURCE_SEEN[side]
            wait_for(lambda: f'{seen}:' in lan.run('ss -tn').stdout, timeout=5,
                     what=f'{side}: a connection from {seen} on the LAN host')
        except NetlabError as exc:
            raise SetupError(f'{side}: {exc}: {self.hosts["lan"].run("ss -tn").stdout}') from None
        finally:
            server.kill()
        self.say(f'{side}: {client.name} reaches {LAN_HOST}, seen as {seen}')

    def measure(self) -> dict:
        return iperf_sides.measure(SIDES, self.args.rounds, self.run_one, self.say)

    def run_one(self, side: str) -> float:
        return iperf3_tcp(self.hosts[CLIENT_OF[side]], self.hosts['lan'], LAN_HOST,
                          seconds=self.args.seconds, omit=1)


def summary(runs: dict) -> dict:
    rows = iperf_sides.rows(runs, SIDES, 'routed')
    meets = all(r['ratio'] is not None and r['ratio'] >= TARGET for r in rows if r['side'] != 'routed')
    return {'rows': rows, 'target': TARGET, 'meets_target': meets}


def table(result: dict) -> str:
    return iperf_sides.table(result, f'NAT / routed >= {TARGET:.2f}')


def main(argv=None) -> int:
    return iperf_sides.main('python -m bench.nat', __doc__, Bench, summary, table, argv)


if __name__ == '__main__':
    sys.exit(main())
