"""Failover: from killing the controller (SIGKILL) to the next DHCP reply and
to an edit applied, with two controllers elected through etcd, against one
controller restarted at once by a supervisor.

    .venv/bin/python -m bench.failover
    .venv/bin/python -m bench.failover --rounds 7 --json

Two rigs side by side, each its own bridge (fail_mode=secure) and hosts:
vm1 pings vm2 at 20 Hz throughout, vm3 renews its DHCP lease every 0.1 s
(lab.failover.RenewalProbe: a REQUEST with a new xid each time, every reply
timed; udhcpc's own back-off after unanswered renewals would blur the
measure by up to a second).

* ``failover``: two controllers (``--election etcd://...``, lease TTL 2 s)
  on the bridge.  Each round kills the leader; the killed one is started
  again as the new standby before the next round.
* ``restart``: one controller, killed and started again at once (the best
  a supervisor such as systemd's Restart= can do).

At the kill the topology file is saved with an edit (a simulated interface
added, or removed again): "edit" is the time until its flows are on the
switch.  Rounds alternate the rigs.  Context, once: two controllers on one
bridge with no election (both EQUAL, Faucet's hot/hot): duplicate DHCP
replies in 3 s of renewals.

Target: failover < 5 s (median) with 0 pings lost.  Exit status 0 when
measured, 2 when the set-up fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Optional

import yaml

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.stats import alternating, median
from lab import Controller, Lab, NetlabError, free_tcp_port, wait_for
from lab.etcd import EtcdCluster
from lab.failover import RenewalProbe, election_args, ping_counts, set_controllers

TTL = 2
TARGET_S = 5.0
PROBE_IP = '172.16.1.200'
SIDES = ('failover', 'restart')


def topology(lab: Lab, tag: str, dpid: int, probe: bool) -> dict:
    vifs: dict[str, dict] = {f'vm{i}': {'network': 'net1', 'mac': f'52:54:00:fb:{dpid:02x}:{i:02x}',
                       'ipv4': f'172.16.1.{i}', 'datapath': 'br0', 'port': lab.ifname(f'{tag}{i}')}
            for i in (1, 2, 3)}
    simulated = {'net1-gw': ('52:54:00:74:fb:fe', '172.16.1.254', ['router']),
                 'net1-dhcp': ('52:54:00:74:fb:fd', '172.16.1.253', ['dhcp'])}
    if probe:
        simulated['probe'] = ('52:54:00:74:fb:c8', PROBE_IP, ['router'])
    for name, (mac, ip, services) in simulated.items():
        vifs[name] = {'network': 'net1', 'mode': 'simulated', 'mac': mac, 'ipv4': ip,
                      'services': services}
    return {'datapaths': {'br0': {'dpid': dpid}},
            'networks': {'net1': {'ipv4': '172.16.1.0/24', 'lease_time': 600}},
            'interfaces': vifs}


class Rig:
    """One bridge, its three hosts, its topology file and its controllers."""

    def __init__(self, lab: Lab, tag: str, dpid: int, controllers: int, extra_args: list[str]):
        self.lab, self.tag, self.dpid, self.extra = lab, tag, dpid, extra_args
        self.probe = False
        self.path = lab.path(f'{tag}-topology.yml')
        self.save()
        self.bridge = lab.bridge(f'{tag}br', dpid=dpid)
        self.ports = [free_tcp_port() for _ in range(controllers)]
        set_controllers(self.bridge, self.ports)
        doc = topology(lab, tag, dpid, False)['interfaces']
        self.hosts = {n: lab.host(f'{tag}{n}', self.bridge, doc[n]['port'], doc[n]['mac'],
                                  f"{doc[n]['ipv4']}/24") for n in ('vm1', 'vm2', 'vm3')}
        self.ctls: list[Controller] = []
        for i, port in enumerate(self.ports):
            self.ctls.append(self.start(port))
            self.wait_role(self.ctls[-1], 'MASTER' if i == 0 else None)
        self.bridge.wait_for_flows(10)
        self.dhcp = RenewalProbe(self.hosts['vm3'], '172.16.1.253', every=0.1)

    def save(self) -> None:
        tmp = self.path.with_suffix('.tmp')
        tmp.write_text(yaml.safe_dump(topology(self.lab, self.tag, self.dpid, self.probe)))
        os.replace(tmp, self.path)

    def start(self, port: int) -> Controller:
        return self.lab.controller(self.path, port=port, extra_args=self.extra)

    @staticmethod
    def wait_role(ctl: Controller, role: Optional[str]) -> None:
        """Until the switch confirmed `role` (None: any role, or no election at all)."""
        text = f'the switch confirms role {role or ""}' if ctl.extra_args[:1] == ['--election'] \
            else 'already in sync'
        wait_for(lambda: text in ctl.log_text() or 'flow-mods)' in ctl.log_text(), timeout=30,
                 what=f'{ctl} to take its role')

    def leader(self) -> Controller:
        """The controller that most recently became master (or the only one)."""
        def became(c: Controller) -> str:
            lines = [ln for ln in c.log_text().splitlines() if 'confirms role MASTER' in ln]
            return lines[-1][:23] if lines else ''
        return max((c for c in self.ctls if c.running()), key=became)

    def probe_visible(self) -> bool:
        return any(PROBE_IP in f['match'] for f in self.bridge.dump_flows()) == self.probe

    def kill_round(self) -> dict:
        """Kill the leader with an edit saved at that moment; time the next
        DHCP reply and the edit; count pings lost across it all."""
        pinger = self.hosts['vm1'].popen(['ping', '-i', '0.05', '-W', '1', '172.16.1.2'],
                                         stdout=-1, text=True)
        time.sleep(1)
        victim = self.leader()
        port, pid = victim.port, victim.pid
        assert pid is not None
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        self.probe = not self.probe
        self.save()
        if len(self.ctls) == 1:                  # the supervisor restarts it at once
            self.ctls = [self.start(port)]
        answered = wait_for(lambda: self.dhcp.first_reply_after(killed_at), timeout=30,
                            interval=0.02, what=f'{self.tag}: a DHCP reply after the kill')
        dhcp = answered - killed_at
        wait_for(self.probe_visible, timeout=30, interval=0.02, what=f'{self.tag}: the edit')
        edit = time.time() - killed_at
        time.sleep(1)
        pinger.send_signal(signal.SIGINT)
        out, _ = pinger.communicate(timeout=10)
        sent, received = ping_counts(out)
        victim.stop()
        if len(self.ctls) > 1:                   # the killed one comes back as the standby
            self.ctls.remove(victim)
            self.ctls.append(self.start(port))
            self.wait_role(self.ctls[-1], 'SLAVE')
        return {'dhcp_s': round(dhcp, 3), 'edit_s': round(edit, 3), 'pings': sent,
                'lost': sent - received}

    def close(self) -> None:
        self.dhcp.stop()


def hot_hot_duplicates(lab: Lab, say: Say) -> dict:
    """Two EQUAL controllers (no election) on one bridge: DHCP replies per request."""
    rig = Rig(lab, 'e', 0xfe, 2, ['--api-listen', 'off'])
    start = time.time()
    time.sleep(3)
    rig.close()
    asked = [x for x, t in rig.dhcp.sent.items() if t > start]
    requests = len(asked)
    replies = sum(len(rig.dhcp.replies.get(x, [])) for x in asked)
    say(f'hot/hot EQUAL: {requests} requests, {replies} replies')
    return {'requests': requests, 'replies': replies}


def measure(rounds: int, say: Say) -> dict:
    with Lab() as lab:
        etcd = EtcdCluster(lab).start()
        say(f'etcd at {etcd.store_url()}; building the rigs')
        rigs = {'failover': Rig(lab, 'f', 0xf1, 2, election_args(etcd.store_url(), TTL)),
                'restart': Rig(lab, 'r', 0xf2, 1, ['--api-listen', 'off'])}
        runs: dict[str, list[dict]] = {side: [] for side in SIDES}
        for k, side in alternating(SIDES, rounds, mirrored=True):
            run = rigs[side].kill_round()
            runs[side].append(run)
            say(f'round {k + 1} {side}: DHCP after {run["dhcp_s"]:.2f} s, edit after '
                f'{run["edit_s"]:.2f} s, {run["lost"]} of {run["pings"]} pings lost')
        for rig in rigs.values():
            rig.close()
        duplicates = {rig: rigs[rig].dhcp.duplicates() for rig in SIDES}
        hot = hot_hot_duplicates(lab, say)
    return {'runs': runs, 'duplicates': duplicates, 'hot_hot': hot, 'ttl': TTL, 'rounds': rounds}


def summary(result: dict) -> dict:
    out: dict = {}
    for side, runs in result['runs'].items():
        row = {}
        for key in ('dhcp_s', 'edit_s'):
            values = [r[key] for r in runs]
            row[key] = {'median': median(values), 'min': min(values), 'max': max(values)}
        row['lost'] = sum(r['lost'] for r in runs)
        row['pings'] = sum(r['pings'] for r in runs)
        row['duplicate_replies'] = result['duplicates'][side]
        out[side] = row
    fo = out['failover']
    out['meets_target'] = bool(fo['dhcp_s']['median'] < TARGET_S and fo['edit_s']['median'] < TARGET_S
                               and fo['lost'] == 0 and fo['duplicate_replies'] == 0)
    return out


def table(result: dict, rows: dict) -> str:
    def cell(v: dict) -> str:
        return f"{v['median']:.2f} ({v['min']:.2f}-{v['max']:.2f})"
    lines = [f"failover: {result['rounds']} kills per side (SIGKILL), alternating; medians (min-max), "
             f"seconds from the kill; lease TTL {result['ttl']} s",
             '| side | next DHCP reply | edit applied | pings lost (20 Hz) | duplicate DHCP replies |',
             '|---|---|---|---|---|']
    for side in SIDES:
        r = rows[side]
        lines.append(f"| {side} | {cell(r['dhcp_s'])} | {cell(r['edit_s'])} | "
                     f"{r['lost']} of {r['pings']} | {r['duplicate_replies']} |")
    hot = result['hot_hot']
    lines.append(f"hot/hot EQUAL, no election (context): {hot['replies']} DHCP replies to "
                 f"{hot['requests']} requests in 3 s")
    lines.append(f"target: failover < {TARGET_S:g} s with 0 pings lost: "
                 f"{'met' if rows['meets_target'] else 'MISSED'}")
    return '\n'.join(lines)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='python -m bench.failover', description=__doc__.split('\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rounds', type=int, default=5, help='kills per side (default 5)')
    p.add_argument('--json', action='store_true', help='print the raw numbers as JSON')
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if cannot_run('bench.failover'):
        return 2
    say = progress_printer(to_stderr=args.json)
    try:
        result = measure(args.rounds, say)
    except (SetupError, NetlabError, AssertionError) as e:
        print(f'bench.failover: FAILED: {e}', file=sys.stderr)
        return 2
    rows = summary(result)
    if args.json:
        print(json.dumps({**result, 'summary': rows}, indent=2))
    else:
        print()
        print(table(result, rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
