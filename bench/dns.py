"""DNS benchmark: queries/s and latency of OUR dns interface against dnsmasq.

    .venv/bin/python -m bench.dns                     # 3 rounds of 5 s per side, 16 and 64 in flight
    .venv/bin/python -m bench.dns --rounds 5 --concurrency 32 --json

One bridge run by the controller, one network (`bench.internal`) with
`--names` interfaces, a dns interface, a client namespace and a dnsmasq
namespace, both vifs of the network.  dnsmasq (`--host-record` for every
NAME.bench.internal: the same names and addresses) is reached through our
pipeline in the datapath; our queries go to the bridge's service port and
the controller answers them through its socket there
(controller.pipeline.service_port; `--packet-ins`: a bridge without the
port, so they take the punt to the controller and a packet-out).  The same
client, in the same namespace, asks both: A queries for random names with
`--concurrency` in flight for `--duration` seconds, for each of the
concurrencies given (16: the machine is not saturated, so latency decides;
64: both sides run the two cores flat out, so the rate is their capacity);
the sides alternate (mirrored rounds) so drifting load hits both alike.  The
peak line compares each side's best rate over the concurrencies.
Reported per side: answered queries/s and p50/p99 latency, medians over
the rounds with the spread (min-max); queries unanswered after 1 s count
as lost.  The network's DNS meter (pipeline/dns.py; a flood cap on the
service port, the packet-in budget without it) applies to ours; the side
`unmetered` is ours with that meter raised on the switch for its runs
(ovs-ofctl mod-meter, put back after), to show what the controller itself
takes (`--sides` chooses).
"""
from __future__ import annotations

import argparse
import json
import random
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import yaml

from bench.common import cannot_run, progress_printer
from bench.stats import alternating, fmt, median, percentile, proc_cpu_s, ratio
from controller.pipeline.dns import (
    DNS_BURST,
    DNS_RATE_PPS,
    DNS_SERVICE_PORT_BURST,
    DNS_SERVICE_PORT_RATE_PPS,
    dns_meter,
)
from controller.topology.validate import default_vni
from lab import Lab, free_tcp_port
from lab.netns import in_netns

DOMAIN = 'bench.internal'
NETWORK, PREFIX = '10.77.0.0/16', 16
DNS_IP, DNSMASQ_IP, CLIENT_IP = '10.77.0.53', '10.77.0.54', '10.77.0.1'
QUERY_TIMEOUT = 1.0
SIDES = ('dnsmasq', 'ours', 'unmetered')
VSWITCHD_PIDFILE = '/var/run/openvswitch/ovs-vswitchd.pid'


def name_ip(i: int) -> str:
    return f'10.77.{1 + i // 250}.{1 + i % 250}'


def topology(bridge_dpid: int, names: int, client_port: str, dnsmasq_port: str) -> dict:
    interfaces: Dict[str, dict] = {
        'client': {'network': 'bench', 'mac': '52:54:00:77:00:01', 'ipv4': CLIENT_IP,
                   'datapath': 'br', 'port': client_port},
        'dnsmasq': {'network': 'bench', 'mac': '52:54:00:77:00:54', 'ipv4': DNSMASQ_IP,
                    'datapath': 'br', 'port': dnsmasq_port},
        'dns': {'network': 'bench', 'mode': 'simulated', 'mac': '52:54:00:77:00:53',
                'ipv4': DNS_IP, 'services': ['dns']},
    }
    for i in range(names):            # not plugged in: answered by name all the same
        interfaces[f'vm{i}'] = {'network': 'bench', 'mac': f'52:54:01:77:{i >> 8:02x}:{i & 255:02x}',
                                'ipv4': name_ip(i), 'datapath': 'br', 'port': f'none{i}'}
    return {'datapaths': {'br': {'dpid': bridge_dpid}},
            'networks': {'bench': {'ipv4': NETWORK, 'domain_name': DOMAIN}},
            'interfaces': interfaces}


def query_wire(ident: int, name: str) -> bytes:
    """An A query (RD set, no EDNS), as dig +noedns sends it."""
    qname = b''.join(bytes([len(label)]) + label.encode() for label in name.split('.')) + b'\0'
    return struct.pack('!HHHHHH', ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack('!HH', 1, 1)


@dataclass
class Run:
    side: str
    concurrency: int = 16
    answered: int = 0
    lost: int = 0
    wrong: int = 0
    seconds: float = 0.0
    latencies: List[float] = field(default_factory=list)
    controller_cpu: Optional[float] = None     # seconds of the controller's CPU in the run
    vswitchd_cpu: Optional[float] = None       # seconds of ovs-vswitchd's CPU in the run

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> Optional[float]:
        value = percentile(sorted(self.latencies), q)
        return value * 1000 if value is not None else None


def load(side: str, server: str, names: List[str], concurrency: int, duration: float) -> Run:
    """Keep `concurrency` queries in flight to `server` for `duration` s (run
    inside the client's namespace)."""
    run, rng = Run(side, concurrency), random.Random(53)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect((server, 53))
    pending: Dict[int, float] = {}
    next_id = 1
    start = time.monotonic()
    end = start + duration
    while True:
        now = time.monotonic()
        for ident in [i for i, sent in pending.items() if now - sent > QUERY_TIMEOUT]:
            del pending[ident]
            run.lost += 1
        if now < end:
            while len(pending) < concurrency:
                next_id = next_id % 0xffff + 1
                pending[next_id] = time.monotonic()
                sock.send(query_wire(next_id, rng.choice(names)))
        elif not pending:
            break
        ready, _, _ = select.select([sock], [], [], 0.05)
        while ready:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                break
            sent = pending.pop(struct.unpack_from('!H', data)[0], None) if len(data) >= 12 else None
            if sent is None:
                continue
            run.latencies.append(time.monotonic() - sent)
            if data[3] & 0x0f or data[7] == 0:         # an error rcode, or no answer
                run.wrong += 1
            else:
                run.answered += 1
    run.seconds = duration            # answers to the queries sent in it (late ones: lost)
    sock.close()
    return run


class Bench:
    def __init__(self, lab: Lab, names: int, say, service_port: bool = True):
        self.lab, self.say = lab, say
        self.names = [f'vm{i}.{DOMAIN}' for i in range(names)]
        dpid = random.randrange(0x7700000000, 0x77ffffffff)
        port = free_tcp_port()
        self.bridge = lab.bridge('dnsb', dpid, controller_port=port, service_port=service_port)
        # the meter the controller installs, put back after an unmetered run
        self.meter = ((DNS_SERVICE_PORT_RATE_PPS, DNS_SERVICE_PORT_BURST) if service_port
                      else (DNS_RATE_PPS, DNS_BURST))
        client_port, dnsmasq_port = lab.ifname('dnc'), lab.ifname('dnd')
        doc = topology(dpid, names, client_port, dnsmasq_port)
        self.vni = default_vni('bench')
        path = lab.write('dns-bench.yml', yaml.safe_dump(doc, sort_keys=False))
        self.client = lab.host('dnsclient', self.bridge, client_port, '52:54:00:77:00:01',
                               f'{CLIENT_IP}/{PREFIX}')
        self.server = lab.host('dnsmasq', self.bridge, dnsmasq_port, '52:54:00:77:00:54',
                               f'{DNSMASQ_IP}/{PREFIX}')
        self.ctl = lab.controller(path, port=port, extra_args=['--api-listen', 'off'])
        argv = ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts',
                f'--listen-address={DNSMASQ_IP}', '--bind-interfaces', '--user=root',
                '--log-facility=/dev/null', f'--pid-file={lab.path("dnsmasq-bench.pid")}',
                '--local-ttl=0', f'--local=/{DOMAIN}/']
        argv += [f'--host-record=vm{i}.{DOMAIN},{name_ip(i)}' for i in range(names)]
        self.server.popen(argv)

    def ready(self) -> None:
        """Both sides answer (flows installed, dnsmasq listening)."""
        deadline = time.monotonic() + 30
        for server in (DNS_IP, DNSMASQ_IP):
            def warm(s: str = server) -> Run:
                return load('warmup', s, self.names, 1, 0.3)
            while True:
                run = in_netns(self.client.ns, warm)
                if run.answered:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f'bench.dns: {server} never answered (log: {self.ctl.log_tail(20)})')

    def measure(self, side: str, concurrency: int, duration: float) -> Run:
        server = DNSMASQ_IP if side == 'dnsmasq' else DNS_IP
        if side == 'unmetered':
            self.set_meter(10 ** 6, 10 ** 6)
        before = proc_cpu_s(self.ctl.pid), proc_cpu_s(vswitchd_pid())
        try:
            run = in_netns(self.client.ns, lambda: load(side, server, self.names, concurrency, duration))
        finally:
            after = proc_cpu_s(self.ctl.pid), proc_cpu_s(vswitchd_pid())
            if side == 'unmetered':
                self.set_meter(*self.meter)
        run.controller_cpu, run.vswitchd_cpu = (b - a if a is not None and b is not None else None
                                                for a, b in zip(before, after))
        return run


    def set_meter(self, rate: int, burst: int) -> None:
        meter = dns_meter(self.vni)
        self.bridge.ofctl('mod-meter', f'meter={meter},pktps,burst,bands=type=drop,rate={rate},'
                                       f'burst_size={burst}')


def vswitchd_pid() -> Optional[int]:
    try:
        return int(open(VSWITCHD_PIDFILE).read().strip())
    except (OSError, ValueError):
        return None


def per_query_us(cpu: Optional[float], run: Run) -> Optional[float]:
    return cpu / run.answered * 1e6 if cpu is not None and run.answered else None


def summary(runs: List[Run]) -> dict:
    out: dict = {}
    for side in SIDES:
        mine = [r for r in runs if r.side == side]
        if not mine:
            continue
        rates = [r.rate for r in mine]
        out[side] = {'qps': median(rates), 'qps_min': min(rates), 'qps_max': max(rates),
                     'p50_ms': median([r.ms(50) for r in mine]),
                     'p99_ms': median([r.ms(99) for r in mine]),
                     'p99_ms_max': max((r.ms(99) or 0) for r in mine),
                     'lost': sum(r.lost for r in mine), 'wrong': sum(r.wrong for r in mine),
                     'rounds': [round(r, 1) for r in rates],
                     'controller_cpu_us_per_query': median([per_query_us(r.controller_cpu, r)
                                                             for r in mine]),
                     'vswitchd_cpu_us_per_query': median([per_query_us(r.vswitchd_cpu, r)
                                                          for r in mine])}
    for side in ('ours', 'unmetered'):
        if side in out and 'dnsmasq' in out:
            out[side]['ratio'] = ratio(out[side]['qps'], out['dnsmasq']['qps'])
    return out


def sweep(runs: List[Run]) -> dict:
    """summary() per concurrency, and under 'peak' each side's best median rate
    over them (with its ratio to dnsmasq's best)."""
    out: dict = {str(c): summary([r for r in runs if r.concurrency == c])
                 for c in sorted({r.concurrency for r in runs})}
    peak: dict = {}
    for side in SIDES:
        rates = [(s[side]['qps'], c) for c, s in out.items() if side in s]
        if rates:
            qps, at = max(rates)
            peak[side] = {'qps': qps, 'concurrency': int(at)}
    for side in ('ours', 'unmetered'):
        if side in peak and 'dnsmasq' in peak:
            peak[side]['ratio'] = ratio(peak[side]['qps'], peak['dnsmasq']['qps'])
    out['peak'] = peak
    return out


def sweep_table(by_concurrency: dict, args) -> str:
    blocks = [table(s, args, int(c)) for c, s in by_concurrency.items() if c != 'peak']
    peak = by_concurrency['peak']
    line = 'peak: ' + ', '.join(f'{side} {fmt(p["qps"], ".0f")} at {p["concurrency"]} in flight'
                                for side, p in peak.items())
    for side in ('ours', 'unmetered'):
        if 'ratio' in peak.get(side, {}):
            line += f'; {side} {peak[side]["ratio"]}x dnsmasq (target >= 1)'
    return '\n\n'.join(blocks + [line])


def table(s: dict, args, concurrency: int) -> str:
    lines = [f'DNS, {concurrency} queries in flight, {args.rounds} rounds of {args.duration:g} s '
             f'per side, {args.names} names; ours '
             + ('by packet-ins' if getattr(args, 'packet_ins', False) else 'through the service port'),
             f'{"side":<8} {"queries/s":>10} {"(min-max)":>15} {"p50 ms":>7} {"p99 ms":>7} {"lost":>5}']
    for side in SIDES:
        if side not in s:
            continue
        r = s[side]
        spread = f'({fmt(r["qps_min"])}-{fmt(r["qps_max"])})'
        lines.append(f'{side:<8} {fmt(r["qps"], ".0f", 10)} {spread:>15} '
                     f'{fmt(r["p50_ms"], ".2f", 7)} {fmt(r["p99_ms"], ".2f", 7)} {r["lost"]:>5}')
        lines[-1] += f'  CPU/query: ovs-vswitchd {fmt(r["vswitchd_cpu_us_per_query"], ".0f")} us'
        if 'ratio' in r:
            lines[-1] += (f', controller {fmt(r["controller_cpu_us_per_query"], ".0f")} us; '
                          f'{r["ratio"]}x dnsmasq (target >= 1)')
    return '\n'.join(lines)


def concurrencies(text: str) -> List[int]:
    try:
        found = [int(part) for part in text.split(',') if part.strip()]
    except ValueError:
        found = []
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: expected queries in flight, e.g. 16 or 16,64')
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m bench.dns', description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=float, default=5.0, metavar='S')
    ap.add_argument('--concurrency', type=concurrencies, default=[16, 64], metavar='C[,C...]',
                    help='queries in flight; each is a set of rounds (default 16,64)')
    ap.add_argument('--names', type=int, default=100, metavar='N')
    ap.add_argument('--sides', default=','.join(SIDES), help=f'some of {",".join(SIDES)}')
    ap.add_argument('--packet-ins', action='store_true',
                    help='no service port on the bridge: ours answers by packet-in/packet-out')
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args(argv)
    if cannot_run('bench.dns'):
        return 2
    say = progress_printer(args.json)
    with Lab() as lab:
        bench = Bench(lab, args.names, say, service_port=not args.packet_ins)
        bench.ready()
        runs = []
        sides = [s for s in args.sides.split(',') if s]
        if not sides or set(sides) - set(SIDES):
            ap.error(f'--sides takes some of {",".join(SIDES)}')
        for concurrency in args.concurrency:
            for k, side in alternating(sides, args.rounds, mirrored=True):
                run = bench.measure(side, concurrency, args.duration)
                say(f'{concurrency} in flight, round {k + 1} {side}: {run.rate:.0f} queries/s, '
                    f'p99 {fmt(run.ms(99), ".2f")} ms, lost {run.lost}, wrong {run.wrong}')
                runs.append(run)
        bench.ctl.assert_running()
    s = sweep(runs)
    print(json.dumps(s, indent=1) if args.json else sweep_table(s, args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
