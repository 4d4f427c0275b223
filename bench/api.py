"""``python -m bench.api``: the API under load while a 10,000-interface
topology is applied, and what the API costs the apply.

One private ovs-vswitchd (bench.scale's), one bridge with a port per vif,
and in alternating rounds (mirrored: on, off, off, on, ...) the controller
installs the whole generated topology from empty:

* **api on**: ``--api-listen`` on a free port, and a load generator sending
  50 requests/s, alternately ``GET /metrics`` and ``GET /v1/status``, from
  before the switch connects until after the install is confirmed.  Each
  request's latency counts from the moment it was due (so a stalled server
  is not hidden by requests that were never sent); those due while the
  install ran (switch connected -> install confirmed, from the controller's
  log) are reported separately from the rest (after it, and before it once
  the API answered).
* **api off**: ``--api-listen off``, no load.

The apply time is the controller's own: from the switch connecting to the
barrier confirming the install (its log's timestamps).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.scale.controllog import APPLIED_RE, CONNECTED_RE, PLAN_RE, LogWatch
from bench.scale.pure import ScaleTopology
from bench.scale.switch import PrivateOvs
from bench.stats import alternating, fmt, median, percentile
from lab import Controller, Lab, NetlabError, free_tcp_port
from lab.netns import in_netns

KINDS = ('/metrics', '/v1/status')
TIMEOUT_S = 5.0
WORKERS = 16


@dataclass
class Sample:
    path: str
    due: float          # wall clock the request was due
    seconds: float      # from due to the full answer
    ok: bool


@dataclass
class Load:
    """Requests at `rate` per second to `base`, alternating KINDS, until stopped."""
    base: str
    rate: float
    paths: tuple = KINDS
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Runs inside the controller's network namespace; so do the worker
        threads it starts (a new thread keeps its creator's namespaces)."""
        while not self.stop.is_set() and not self._answers():
            time.sleep(0.02)                 # the controller is starting
        with ThreadPoolExecutor(WORKERS) as pool:
            due, k = time.time(), 0
            while not self.stop.is_set():
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(self._one, self.paths[k % len(self.paths)], due)
                k += 1
                due += 1 / self.rate

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + '/v1/status', timeout=TIMEOUT_S):
                return True
        except (OSError, urllib.error.URLError):
            return False

    def _one(self, path: str, due: float) -> None:
        ok = False
        try:
            with urllib.request.urlopen(self.base + path, timeout=TIMEOUT_S) as reply:
                ok = reply.status == 200 and bool(reply.read())
        except (OSError, urllib.error.URLError):
            pass
        self.samples.append(Sample(path, due, time.time() - due, ok))


def latency(samples: list[Sample], path: str) -> dict:
    ok = sorted(s.seconds for s in samples if s.path == path and s.ok)
    return {'requests': sum(1 for s in samples if s.path == path), 'ok': len(ok),
            'p50_ms': _ms(percentile(ok, 50)), 'p99_ms': _ms(percentile(ok, 99)),
            'max_ms': _ms(ok[-1] if ok else None)}


def _ms(seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else seconds * 1e3


class Bench:
    def __init__(self, lab: Lab, args: argparse.Namespace, say: Say):
        self.lab, self.args, self.say = lab, args, say
        self.topo = ScaleTopology(args.vifs, args.per_network, lab.prefix)
        self.ovs = PrivateOvs(lab)
        self.path = lab.path('api-bench.yml')
        self.path.write_text(self.topo.text)
        self.ctl_port = free_tcp_port()
        self.br = ''

    def setup(self) -> None:
        self.ovs.start()
        self.br = self.ovs.add_bridge(self.topo.dpid, self.ctl_port)
        t = time.perf_counter()
        self.ovs.db.add_patch_ports(self.br, self.topo.ofports)
        self.say(f'bridge {self.br}: {len(self.topo.ofports)} ports in '
                 f'{time.perf_counter() - t:.1f} s; topology {self.topo.n} vifs, '
                 f'{self.topo.networks} networks')

    def round(self, k: int, side: str) -> dict:
        self.ovs.clear_bridge(self.br)
        api_port = free_tcp_port()
        listen = f'127.0.0.1:{api_port}' if side == 'api on' else 'off'
        ctl = Controller(self.path, port=self.ctl_port, netns=self.ovs.ns,
                         log_path=self.lab.path(f'controller-{k}-{side.replace(" ", "-")}.log'),
                         extra_args=['--api-listen', listen])
        load = (Load(f'http://127.0.0.1:{api_port}', self.args.rate, tuple(self.args.paths))
                if side == 'api on' else None)
        runner = None
        ctl.start(wait=False)
        if ctl.proc is not None:
            self.lab.track_process(ctl.proc)
        try:
            if load is not None:
                runner = threading.Thread(target=in_netns, args=(self.ovs.ns, load.run))
                runner.start()
            log = LogWatch(ctl)
            t_conn, _ = log.wait(CONNECTED_RE, 120, 'the bridge to connect')
            t_done, applied = log.wait(APPLIED_RE, self.args.install_timeout,
                                       'the install to be confirmed', 'connected')
            _, plan = log.get(PLAN_RE, 'connected')
            if load is not None:
                time.sleep(1.0)              # a second of load after the install, for contrast
        finally:
            if load is not None:
                load.stop.set()
            if runner is not None:
                runner.join()
            ctl.stop()
        flows = self.ovs.flow_count(self.br)
        result: dict = {'side': side, 'apply_s': t_done - t_conn, 'flows': flows,
                          'flows_planned': int(plan.group('add')),
                          'controller_applied_ms': float(applied.group('ms'))}
        if flows != result['flows_planned']:
            raise SetupError(f'{flows} flows on {self.br} after the install, planned '
                             f'{result["flows_planned"]}')
        if load is not None:
            during = [s for s in load.samples if t_conn <= s.due <= t_done]
            idle = [s for s in load.samples if not t_conn <= s.due <= t_done]
            result['during'] = {p: latency(during, p) for p in load.paths}
            result['idle'] = {p: latency(idle, p) for p in load.paths}
        self.say(f'  #{k + 1} {side}: {flows} flows applied in {result["apply_s"]:.2f} s' +
                 ('' if load is None else '; during it ' + ', '.join(
                     f'{p} p50 {fmt(v["p50_ms"], ".1f")} / p99 {fmt(v["p99_ms"], ".1f")} ms '
                     f'({v["ok"]}/{v["requests"]} ok)' for p, v in result['during'].items())))
        return result


def summarise(results: list[dict], paths: list[str]) -> dict:
    out: dict = {}
    for side in ('api on', 'api off'):
        runs = [r['apply_s'] for r in results if r['side'] == side]
        out[side] = {'apply_s': median(runs), 'min_s': min(runs), 'max_s': max(runs)}
    on = [r for r in results if r['side'] == 'api on']
    for when in ('during', 'idle'):
        for path in paths:
            merged = {'p50_ms': median(r[when][path]['p50_ms'] for r in on),
                      'p99_ms': max((r[when][path]['p99_ms'] or 0) for r in on),
                      'requests': sum(r[when][path]['requests'] for r in on),
                      'ok': sum(r[when][path]['ok'] for r in on)}
            out.setdefault(when, {})[path] = merged
    off = out['api off']['apply_s']
    out['apply_ratio_on_off'] = out['api on']['apply_s'] / off if off else None
    return out


def table(s: dict, args: argparse.Namespace) -> str:
    lines = [f'API at {args.rate:g} requests/s ({" and ".join(args.paths)} in turn) while '
             f'{args.vifs} interfaces are installed; {args.rounds} rounds per side',
             '', '| side | apply, s (min-max) |', '|---|---|']
    for side in ('api on', 'api off'):
        v = s[side]
        lines.append(f'| {side} | {v["apply_s"]:.2f} ({v["min_s"]:.2f}-{v["max_s"]:.2f}) |')
    lines += ['', f'apply with the API on / off: {s["apply_ratio_on_off"]:.2f}', '',
              '| request | when | p50 ms | p99 ms (worst round) | ok / sent |', '|---|---|---|---|---|']
    for when in ('during', 'idle'):
        for path in args.paths:
            v = s[when][path]
            lines.append(f'| GET {path} | {"during the install" if when == "during" else "otherwise"} '
                         f'| {fmt(v["p50_ms"], ".1f")} | {fmt(v["p99_ms"], ".1f")} | '
                         f'{v["ok"]} / {v["requests"]} |')
    return '\n'.join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog='python -m bench.api', description=(__doc__ or '').split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--vifs', type=int, default=10000, help='interfaces (default %(default)s)')
    ap.add_argument('--per-network', type=int, default=100, metavar='N')
    ap.add_argument('--rounds', type=int, default=3, help='rounds per side (default %(default)s)')
    ap.add_argument('--rate', type=float, default=50.0, help='requests/s (default %(default)s)')
    ap.add_argument('--paths', default=','.join(KINDS),
                    help='comma-separated GET paths to send in turn (default %(default)s)')
    ap.add_argument('--install-timeout', type=float, default=300, metavar='S')
    ap.add_argument('--json', action='store_true', help='raw numbers as JSON on stdout')
    args = ap.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(',') if p.strip()]
    if not args.paths or not all(p.startswith('/') for p in args.paths):
        ap.error('--paths: paths starting with /, e.g. /metrics,/v1/status')
    if args.vifs < 1 or args.rounds < 1 or args.rate <= 0:
        ap.error('--vifs, --rounds and --rate must be positive')
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    say = progress_printer(to_stderr=args.json)
    if cannot_run('bench.api'):
        return 2
    try:
        with Lab() as lab:
            bench = Bench(lab, args, say)
            try:
                bench.setup()
                results = [bench.round(k, side) for k, side in
                           alternating(('api on', 'api off'), args.rounds, mirrored=True)]
            finally:
                bench.ovs.stop()
    except (SetupError, NetlabError, AssertionError) as exc:
        say(f'bench.api: {exc}')
        return 2
    except KeyboardInterrupt:
        say('bench.api: interrupted; cleaned up')
        return 130
    summary = summarise(results, args.paths)
    if args.json:
        print(json.dumps({'rounds': results, 'summary': summary}, indent=2))
    print(table(summary, args), file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
