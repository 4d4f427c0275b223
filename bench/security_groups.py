"""``python -m bench.security_groups``: iperf3 to a vif in security groups (100
rules, stateful, conntrack) against the same to a vif in no group.

    make bench-sg                    # = .venv/bin/python -m bench.security_groups
    .venv/bin/python -m bench.security_groups --rounds 7 --seconds 5 --json

One OVS userspace bridge programmed by the controller, one topology, one
network 172.16.1.0/24: a client in no group, and two iperf3 servers:

* ``plain``: a vif in no group (today's pipeline, no conntrack);
* ``groups``: a vif in four groups of 25 rules each (100 rules: TCP and UDP
  ports and ranges from prefixes, ICMP, a from_group), the one that lets
  iperf3 in among them; both directions go through conntrack (its ingress
  commits, the ACKs it sends are replies of that connection);
* ``2 rules``: a vif in one group with only the iperf3 and ICMP rules, for
  context: what conntrack costs by itself, apart from the number of rules.

Before measuring, the groups side must refuse a port no rule allows (nc)
and have its ingress rules on the bridge, else the run fails.  Rounds
alternate the sides (mirrored), so drifting load hits both alike.  The
result is the ratio of medians groups/plain; target >= 0.90.  Spread is
max/min of a side's runs.

Exit status: 0 when measured (with --strict, 1 when the ratio misses the
target), 2 when the setup does not work.
"""
from __future__ import annotations

import argparse
import sys
from typing import List

import yaml

from bench import iperf_sides
from bench.common import Say, SetupError
from lab import Lab, NetlabError, free_tcp_port, iperf3_tcp, ofctl, wait_for

SIDES = ('plain', 'groups', '2 rules')
TARGET = 0.90
RULES, GROUPS = 100, 4
IPERF_PORT = 5201
CLIENT, SERVER_OF = '172.16.1.3', {'plain': '172.16.1.1', 'groups': '172.16.1.2', '2 rules': '172.16.1.4'}


def security_groups() -> dict:
    """GROUPS groups, RULES rules in all; the last one lets iperf3 in."""
    rules: List[dict] = []
    for i in range(RULES - 3):
        kind = i % 4
        if kind == 0:
            rules.append({'proto': 'tcp', 'ports': 10000 + i, 'from': f'10.{i}.0.0/16'})
        elif kind == 1:
            rules.append({'proto': 'udp', 'ports': f'{20000 + 10 * i}-{20000 + 10 * i + 9}',
                          'from': f'192.168.{i}.0/24'})
        elif kind == 2:
            rules.append({'proto': 'tcp', 'ports': 30000 + i, 'from_group': 'g0'})
        else:
            rules.append({'proto': 'tcp', 'ports': 40000 + i})
    rules += [{'proto': 'icmp', 'from': '172.16.1.0/24'}, {'proto': 'udp', 'ports': 53},
              {'proto': 'tcp', 'ports': IPERF_PORT, 'from': '172.16.1.0/24'}]
    size = RULES // GROUPS
    groups = {f'g{k}': {'ingress': rules[k * size:(k + 1) * size], 'egress': 'all'} for k in range(GROUPS)}
    groups['single'] = {'ingress': [rules[-3], rules[-1]]}          # icmp, iperf3
    return groups


def topology(lab: Lab) -> dict:
    def vif(mac, ip, port, **extra):
        return {'network': 'net1', 'mac': mac, 'ipv4': ip, 'datapath': 'br0', 'port': lab.ifname(port),
                **extra}
    return {
        'datapaths': {'br0': {'dpid': 0x5e}},
        'networks': {'net1': {'ipv4': '172.16.1.0/24'}},
        'interfaces': {
            'plain': vif('52:54:00:5e:00:01', SERVER_OF['plain'], 'sp'),
            'groups': vif('52:54:00:5e:00:02', SERVER_OF['groups'], 'sg',
                          security_groups=[f'g{k}' for k in range(GROUPS)]),
            'client': vif('52:54:00:5e:00:03', CLIENT, 'sc'),
            'one': vif('52:54:00:5e:00:04', SERVER_OF['2 rules'], 'so', security_groups=['single']),
        },
        'security_groups': security_groups(),
    }


class Bench:
    def __init__(self, lab: Lab, args: argparse.Namespace, say: Say):
        self.lab, self.args, self.say = lab, args, say
        self.hosts: dict = {}

    def setup(self) -> None:
        doc = topology(self.lab)
        path = self.lab.write('sg-bench.yml', yaml.safe_dump(doc, sort_keys=False))
        port = free_tcp_port()
        self.br = self.lab.bridge('br0', dpid=0x5e, controller_port=port)
        for name, i in doc['interfaces'].items():
            self.hosts[name] = self.lab.host(name, self.br, i['port'], i['mac'], f"{i['ipv4']}/24")
        self.ctl = self.lab.controller(path, port=port)
        self.br.wait_connected()
        client = self.hosts['client']
        def reaches(ip: str):
            return lambda: client.ping(ip, count=1, timeout=1)
        for side in SIDES:
            try:
                wait_for(reaches(SERVER_OF[side]), timeout=15,
                         what=f'{side}: the client to reach {SERVER_OF[side]}')
            except (AssertionError, NetlabError) as exc:
                raise SetupError(f'{exc}\n{self.ctl.log_text()[-3000:]}') from None
        self.check_groups()

    def check_groups(self) -> None:
        """The groups side refuses what no rule allows, and has its rules installed."""
        server, client = self.hosts['groups'], self.hosts['client']
        listener = server.popen(['nc', '-lk', SERVER_OF['groups'], '9'])
        try:
            wait_for(lambda: ':9 ' in server.run('ss -ltn').stdout, timeout=5, what='nc to listen')
            refused = client.run(['nc', '-z', '-w', '1', SERVER_OF['groups'], '9'], check=False)
            if refused.returncode == 0:
                raise SetupError('the groups side let in a port no rule allows: the groups are not in force')
        finally:
            listener.kill()
        installed = ofctl(self.br, 'dump-flows', 'table=45').count('ct(commit')
        if installed < RULES:
            raise SetupError(f'only {installed} ingress rule flows on the bridge; expected {RULES} or more')
        self.say(f'groups: {RULES} rules in {GROUPS} groups, {installed} commit flows; port 9 refused')

    def measure(self) -> dict:
        return iperf_sides.measure(SIDES, self.args.rounds, self.run_one, self.say)

    def run_one(self, side: str) -> float:
        host = {'plain': 'plain', 'groups': 'groups', '2 rules': 'one'}[side]
        return iperf3_tcp(self.hosts['client'], self.hosts[host], SERVER_OF[side],
                          seconds=self.args.seconds, omit=1)


def summary(runs: dict) -> dict:
    rows = iperf_sides.rows(runs, SIDES, 'plain')
    meets = rows[1]['ratio'] is not None and rows[1]['ratio'] >= TARGET     # groups / plain
    return {'rows': rows, 'rules': RULES, 'target': TARGET, 'meets_target': meets}


def table(result: dict) -> str:
    return iperf_sides.table(result, f"{result['rules']} rules / no groups >= {TARGET:.2f}")


def main(argv=None) -> int:
    return iperf_sides.main('python -m bench.security_groups', __doc__, Bench, summary, table, argv)


if __name__ == '__main__':
    sys.exit(main())
