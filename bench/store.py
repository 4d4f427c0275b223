"""An edit's way to every host: `vnetctl apply` into etcd with an agent per
host, against saving the file of one central controller, in the same run.

    python -m bench.store [--hosts 10] [--rounds 3] [--sizes 30,10000]

Emulated hosts (lab/hosts.py, each its own OVS) get two controller targets:
their own agent (``ryu-manager --topology etcd://...`` in the host's
namespace, lab/agents.py) and one central controller (the topology file) in
the root namespace; one of the two runs at a time, both compile the same
flows, so switching reads back and changes nothing.

The topology (lab/topogen.py): SIZE vifs in networks of 100 spread over the
hosts (one network on one host, tunnel addresses set), plus network ``edit``
with one vif (port plugged) on every host.  The edit adds (then removes) vif ``edit-new``
on the first host, whose port is plugged: every host then gets (loses) the
flows that forward to its MAC, locally or through the tunnel.  Timed from
the start of `vnetctl apply` (and from its exit: the write committed) or
from the file's rename, to the last host where the MAC's flows are in (out).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.stats import median, spread
from lab import VNET_COOKIE, Controller, Lab, NetlabError, free_tcp_port, wait_for
from lab.agents import etcd_for, start_agent
from lab.hosts import EmulatedHost, MultiHost
from lab.topogen import Spec, datapaths, topology_text

EDIT_MAC = '52:54:00:fe:00:01'
VNETCTL = str(Path(sys.executable).parent / 'vnetctl')


def documents(size: int, hosts: int) -> tuple[str, str]:
    """(before, after) the edit: SIZE vifs over the hosts, and network `edit`."""
    spec = Spec(vifs=size, per_network=min(100, size), datapaths=hosts, span=1, tunnel_ips=True)
    text = topology_text(spec)
    head, tail = text.split('\ninterfaces:\n')
    head += '  edit:\n    ipv4: 10.250.0.0/24\n'
    base = ''.join(f'  edit{d}:\n    network: edit\n    mac: 52:54:00:fe:01:{d:02x}\n'
                   f'    ipv4: 10.250.0.{d + 10}\n    datapath: br{d}\n    port: e{d}\n'
                   for d in range(hosts))
    before = f'{head}\ninterfaces:\n{tail}{base}'
    new = (f'  edit-new:\n    network: edit\n    mac: {EDIT_MAC}\n    ipv4: 10.250.0.1\n'
           f'    datapath: br0\n    port: enew\n')
    return before, before + new


class Fabric:
    def __init__(self, lab: Lab, hosts: int, say: Say):
        self.lab, self.say = lab, say
        self.agent_port, self.central_port = free_tcp_port(), free_tcp_port()
        self.mh = MultiHost(lab, controller_port=self.agent_port, local_agents=True)
        spec = Spec(vifs=hosts, per_network=1, datapaths=hosts, span=1, tunnel_ips=True)
        self.hosts: list[EmulatedHost] = []
        for dp in datapaths(spec):
            h = self.mh.host(f'h{len(self.hosts)}', dpid=dp.dpid, tunnel_ip=dp.tunnel_ip)
            # a second target, the central controller (only one of the two runs at a time)
            h.vsctl('set-controller', 'br-int', f'tcp:127.0.0.1:{self.agent_port}',
                    f'tcp:{self.mh.controller_ip}:{self.central_port}')
            self.hosts.append(h)
        # network `edit` is delivered to a host only where one of its ports is plugged
        for d, h in enumerate(self.hosts):
            h.vm(f'e{d}', port=f'e{d}', mac=f'52:54:00:fe:01:{d:02x}', cidr=f'10.250.0.{d + 10}/24')
        self.hosts[0].vm('enew', port='enew', mac=EDIT_MAC, cidr='10.250.0.1/24')
        self.etcd = etcd_for(self.mh)
        self.url = self.etcd.store_url('bench')
        self.file = lab.path('topology.yml')
        self.running: list[Controller] = []
        self.run = 0

    def store(self, text: str) -> float:
        """`vnetctl apply` the text; seconds the command took."""
        path = self.lab.write('apply.yml', text)
        t0 = time.monotonic()
        cp = subprocess.run([VNETCTL, 'apply', str(path), '--store', self.url, '--timeout', '10'],
                            capture_output=True, text=True, timeout=300)
        if cp.returncode:
            raise SetupError(f'vnetctl apply failed: {cp.stdout}{cp.stderr}')
        return time.monotonic() - t0

    def save(self, text: str) -> None:
        tmp = self.file.with_suffix('.tmp')
        tmp.write_text(text)
        os.replace(tmp, self.file)

    def start(self, mode: str, timeout: float) -> float:
        """Stop what runs, start the agents or the central controller, wait until
        every host's switch is synced; seconds that took."""
        for c in self.running:
            c.stop()
        self.run += 1
        t0 = time.monotonic()
        if mode == 'agents':
            self.running = [start_agent(self.lab, h, self.url, self.agent_port, run=self.run)
                            for h in self.hosts]
        else:
            self.running = [self.lab.controller(
                self.file, port=self.central_port, log_path=self.lab.path(f'central-{self.run}.log'),
                extra_args=['--ofp-listen-host', self.mh.controller_ip, '--api-listen', 'off',
                            '--election', 'off'])]
        switches = len(self.hosts) if mode == 'file' else 1
        for c in self.running:
            wait_for(functools.partial(_synced, c, switches), timeout=timeout, interval=0.2,
                     what=f'{mode} to sync every switch', state=functools.partial(c.log_tail, 10))
        return time.monotonic() - t0

    def visible(self, present: bool, timeout: float) -> dict[str, float]:
        """Poll every host (one at a time: ofctl processes would crowd the
        agents off the two cores) until the MAC's flows are in (out);
        monotonic time each host was first seen so."""
        seen: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(seen) < len(self.hosts):
            for h in self.hosts:
                if h.name not in seen and _has_mac_flows(h) == present:
                    seen[h.name] = time.monotonic()
            if time.monotonic() > deadline:
                raise SetupError(f'the edit did not reach {sorted({h.name for h in self.hosts} - set(seen))}'
                                 f' within {timeout:g} s')
        return seen


def _has_mac_flows(h: EmulatedHost) -> bool:
    out = h.ofctl('dump-flows', 'br-int', f'cookie={VNET_COOKIE},dl_dst={EDIT_MAC}')
    return 'actions=' in out


def _synced(c: Controller, switches: int) -> bool:
    c.assert_running()
    log = c.log_text().split('### netlab')[-1]
    return log.count(': connected: applied') + log.count(': connected: already in sync') >= switches


def measure(fab: Fabric, size: int, rounds: int, timeout: float, say: Say) -> dict:
    before, after = documents(size, len(fab.hosts))
    fab.save(before)
    fab.store(before)
    result: dict = {'size': size, 'document_bytes': len(after.encode()), 'startup_s': {}}
    for mode in ('agents', 'file'):
        result['startup_s'][mode] = round(fab.start(mode, timeout), 2)
        say(f'  {size} vifs, {mode}: every switch synced in {result["startup_s"][mode]:.1f} s')
        samples: list[float] = []
        committed: list[Optional[float]] = []
        for k in range(rounds):
            for text, present in ((after, True), (before, False)):
                t0 = time.monotonic()
                if mode == 'agents':
                    took = fab.store(text)
                    committed.append(None)
                else:
                    fab.save(text)
                    took = 0.0
                last = max(fab.visible(present, timeout).values()) - t0
                samples.append(round(last, 3))
                if mode == 'agents':
                    committed[-1] = round(last - took, 3)
                say(f'  {size} vifs, {mode}, round {k + 1} {"add" if present else "remove"}: '
                    f'all {len(fab.hosts)} hosts in {last:.2f} s')
        result[mode] = {'samples_s': samples, 'median_s': median(samples),
                        'spread': round(spread(samples), 2) if min(samples) > 0 else None}
        if mode == 'agents':
            result[mode]['after_commit_median_s'] = median(committed)
    return result


def table(results: list[dict], hosts: int) -> str:
    lines = [f'edit -> flows on all {hosts} hosts (median s, max/min over the samples)',
             f'{"vifs":>6} {"doc KB":>7} | {"agents+etcd: apply":>18} {"after commit":>12} '
             f'{"spread":>6} | {"central file":>12} {"spread":>6}']
    for r in results:
        a, f = r['agents'], r['file']
        lines.append(f'{r["size"]:>6} {r["document_bytes"] / 1024:>7.0f} | {a["median_s"]:>18.2f} '
                     f'{a["after_commit_median_s"]:>12.2f} {a["spread"] or 0:>6.2f} | '
                     f'{f["median_s"]:>12.2f} {f["spread"] or 0:>6.2f}')
    return '\n'.join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m bench.store', description=__doc__.split('\n')[0])
    ap.add_argument('--hosts', type=int, default=10, help='emulated hosts, one agent each (10)')
    ap.add_argument('--sizes', default='30,10000', help='vifs of each measured topology')
    ap.add_argument('--rounds', type=int, default=3, help='add+remove edits per mode and size (3)')
    ap.add_argument('--timeout', type=float, default=300, help='seconds for any one step (300)')
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args(argv)
    if cannot_run('bench.store', [] if os.path.exists('/usr/bin/etcd') else ['no /usr/bin/etcd']):
        return 2
    say = progress_printer(to_stderr=args.json)
    results = []
    try:
        with Lab() as lab:
            say(f'building {args.hosts} emulated hosts and etcd ...')
            fab = Fabric(lab, args.hosts, say)
            for size in (int(s) for s in args.sizes.split(',')):
                results.append(measure(fab, size, args.rounds, args.timeout, say))
            for c in fab.running:
                c.stop()
            fab.mh.close()
    except (SetupError, NetlabError, AssertionError) as exc:
        print(f'bench.store: {exc}', file=sys.stderr)
        return 1
    print(json.dumps(results, indent=2) if args.json else table(results, args.hosts))
    return 0


if __name__ == '__main__':
    sys.exit(main())
