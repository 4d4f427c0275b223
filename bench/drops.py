"""``python -m bench.drops``: what one poll of the drop counters costs at
10,000 interfaces, per-flow (the old way) against one aggregate per reason
(controller.observe.dropstats), side by side in one run.

One private ovs-vswitchd (bench.scale's), one bridge with a port per vif,
the controller installs the generated topology (50,000 drop flows at
10,000 vifs: five per vif).  Then:

1. **replay**, both modes in alternating rounds (mirrored) on the same
   bridge, over an OpenFlow 1.3 connection of this process to the bridge's
   management socket, parsed with os-ken's own parser as the controller
   does:
   * *per flow*: one flow-stats request for every drop flow (cookie
     0x766e8.../0xffff8...), the poll as it was;
   * *aggregate*: the requests `DropStats.request()` sends (one aggregate
     per reason in its table, one meter-stats request), whose replies go
     through `DropStats.on_reply`.
   Per poll: CPU seconds of this process (receiving and parsing), wall time
   from the first request sent to the last reply parsed, and the entries
   that came back.  The per-flow figure leaves out what the old code did
   with each parsed entry afterwards, so it is a lower bound of its cost.
2. **the controller**: CPU seconds of the controller process (/proc) per
   on-demand poll (`GET /v1/drops`, which asks the switch afresh when the
   last poll is over a second old), in batches, against batches of
   `GET /v1/status` (the API's own cost), in alternating turns; and the
   wall time of a per-port query (`GET /v1/drops?port=...`).

Needs root and Open vSwitch (``make setup``).  Everything is removed at exit.
"""
from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time
import urllib.request
from types import SimpleNamespace as NS
from typing import List, Optional

from os_ken.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser

from bench.common import Say, SetupError, cannot_run, progress_printer
from bench.scale.controllog import APPLIED_RE, CONNECTED_RE, LogWatch
from bench.scale.pure import ScaleTopology
from bench.scale.switch import PrivateOvs
from bench.stats import alternating, fmt, median, proc_cpu_s
from controller.observe.dropstats import DropStats
from controller.openflow.session import State
from controller.pipeline.flows import DROP_COOKIE, DROP_COOKIE_MASK
from lab import Controller, Lab, NetlabError, free_tcp_port
from lab.netns import in_netns

MODES = ('per flow', 'aggregate')
HEADER = struct.Struct('!BBHI')


class OpenFlowPeer:
    """A bare OpenFlow 1.3 connection to a bridge's management socket: sends
    os-ken messages, reads replies and parses them with os-ken."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(120)
        self.ofproto, self.ofproto_parser, self.id = ofproto_v1_3, ofproto_v1_3_parser, 0
        self.xid = 1
        self.sent: List[int] = []                      # xids of requests not yet answered
        self.send_msg(ofproto_v1_3_parser.OFPHello(self))
        self._read()                                   # the switch's hello
        self.sent = []

    def send_msg(self, msg) -> None:
        if msg.xid is None:
            msg.set_xid(self.xid)
            self.xid += 1
        msg.serialize()
        assert msg.xid is not None
        self.sent.append(msg.xid)
        self.sock.sendall(msg.buf)

    def _exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise NetlabError('the switch closed the OpenFlow connection')
            chunks.append(chunk)
            left -= len(chunk)
        return b''.join(chunks)

    def _read(self) -> tuple:
        head = self._exactly(HEADER.size)
        version, kind, length, xid = HEADER.unpack(head)
        return version, kind, length, xid, head + self._exactly(length - HEADER.size)

    def answers(self, on_reply) -> int:
        """Read and parse until every request sent has its last reply; the
        number of stats entries that came back."""
        waiting, entries = set(self.sent), 0
        while waiting:
            version, kind, length, xid, buf = self._read()
            if kind != ofproto_v1_3.OFPT_MULTIPART_REPLY:
                continue                               # an echo request, say: not ours
            msg = ofproto_parser.msg(self, version, kind, length, xid, buf)
            body = msg.body
            entries += len(body) if isinstance(body, list) else 1
            on_reply(msg)
            if not msg.flags & ofproto_v1_3.OFPMPF_REPLY_MORE:
                waiting.discard(xid)
        self.sent = []
        return entries

    def close(self) -> None:
        self.sock.close()


def replay_poll(peer: OpenFlowPeer, mode: str) -> dict:
    """One poll in `mode` over `peer`: CPU and wall seconds, entries returned."""
    cpu, wall = time.process_time(), time.perf_counter()
    if mode == 'per flow':
        ofp, parser = peer.ofproto, peer.ofproto_parser
        peer.send_msg(parser.OFPFlowStatsRequest(peer, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY,
                                                 ofp.OFPG_ANY, DROP_COOKIE, DROP_COOKIE_MASK,
                                                 parser.OFPMatch()))
        entries = peer.answers(lambda msg: None)
        counted = None
    else:
        stats = DropStats(lambda: [NS(state=State.READY, changing=False, dp=peer, dpid=1, name='br', ports={})])
        stats.request()
        entries = peer.answers(stats.on_reply)
        counted = sum(r['packets'] >= 0 for r in stats.counters.snapshot())
    return {'mode': mode, 'cpu_s': time.process_time() - cpu,
            'wall_s': time.perf_counter() - wall, 'entries': entries, 'rows': counted}


class Bench:
    def __init__(self, lab: Lab, args: argparse.Namespace, say: Say):
        self.lab, self.args, self.say = lab, args, say
        self.topo = ScaleTopology(args.vifs, args.per_network, lab.prefix)
        self.ovs = PrivateOvs(lab)
        self.path = lab.path('drops-bench.yml')
        self.path.write_text(self.topo.text)
        self.ctl: Optional[Controller] = None
        self.base = ''

    def setup(self) -> None:
        self.ovs.start()
        ctl_port, api_port = free_tcp_port(), free_tcp_port()
        br = self.br = self.ovs.add_bridge(self.topo.dpid, ctl_port)
        self.ovs.db.add_patch_ports(br, self.topo.ofports)
        self.ctl = Controller(self.path, port=ctl_port, netns=self.ovs.ns,
                              log_path=self.lab.path('controller.log'),
                              extra_args=['--api-listen', f'127.0.0.1:{api_port}'])
        self.base = f'http://127.0.0.1:{api_port}'
        self.ctl.start(wait=False)
        if self.ctl.proc is not None:
            self.lab.track_process(self.ctl.proc)
        log = LogWatch(self.ctl)
        t_conn, _ = log.wait(CONNECTED_RE, 300, 'the bridge to connect')
        t_done, _ = log.wait(APPLIED_RE, self.args.install_timeout, 'the install', 'connected')
        drops = int(self.ovs.ofctl('dump-aggregate', br, f'cookie={DROP_COOKIE:#x}/'
                                   f'{DROP_COOKIE_MASK:#x}').split('flow_count=')[1].split()[0])
        self.say(f'bridge {br}: {self.topo.n} vifs installed in {t_done - t_conn:.1f} s; '
                 f'{drops} drop flows')
        if drops < 5 * self.topo.n:
            raise SetupError(f'{drops} drop flows, expected at least {5 * self.topo.n}')

    def replay(self) -> List[dict]:
        peer = OpenFlowPeer(str(self.ovs.instance.dir / f'{self.br}.mgmt'))
        try:
            results = []
            for k, mode in alternating(MODES, self.args.polls, mirrored=True):
                r = replay_poll(peer, mode)
                results.append(r)
                self.say(f'  replay #{k + 1} {mode}: {r["cpu_s"]:.3f} s CPU, '
                         f'{r["wall_s"]:.3f} s wall, {r["entries"]} entries')
            return results
        finally:
            peer.close()

    def controller(self) -> dict:
        """The controller's CPU per on-demand poll, against GET /v1/status:
        batches of requests in turn, a batch's CPU over its requests (the
        kernel counts CPU in 10 ms ticks, too coarse for one request)."""
        pid = self.ctl.pid if self.ctl else None
        out: dict = {'GET /v1/drops': [], 'GET /v1/status': [], 'port_wall_s': []}
        port = self.topo.port_names[0]

        def batch(path: str) -> None:
            before = proc_cpu_s(pid) or 0.0
            for _ in range(self.args.batch):
                time.sleep(1.1)                        # over MIN_INTERVAL: a fresh poll each
                _get(self.base + path)
            time.sleep(0.2)                            # replies that came after the wait
            out['GET ' + path].append(((proc_cpu_s(pid) or 0.0) - before) / self.args.batch)

        def run() -> None:
            for _, path in alternating(('/v1/drops', '/v1/status'), self.args.polls,
                                       mirrored=True):
                batch(path)
                t = time.perf_counter()
                rows = _get(f'{self.base}/v1/drops?port={port}')
                out['port_wall_s'].append(time.perf_counter() - t)
                if not rows or any(r['port'] != port for r in rows):
                    raise SetupError(f'GET /v1/drops?port={port} answered {rows!r}')
        in_netns(self.ovs.ns, run)
        self.say(f'  controller: GET /v1/drops {fmt(median(out["GET /v1/drops"]), ".4f")} s CPU, '
                 f'GET /v1/status {fmt(median(out["GET /v1/status"]), ".4f")} s CPU (medians)')
        return out

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
        self.ovs.stop()


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _stats(values: List[float]) -> dict:
    return {'median': median(values), 'min': min(values), 'max': max(values), 'n': len(values)}


def summarise(replay: List[dict], ctl: dict) -> dict:
    out: dict = {}
    for mode in MODES:
        runs = [r for r in replay if r['mode'] == mode]
        out[mode] = {'cpu_s': _stats([r['cpu_s'] for r in runs]),
                     'wall_s': _stats([r['wall_s'] for r in runs]),
                     'entries': runs[0]['entries']}
    out['controller'] = {k: _stats(v) for k, v in ctl.items()}
    return out


def table(s: dict, args: argparse.Namespace) -> str:
    def cell(st: dict, spec: str = '.3f') -> str:
        return f'{fmt(st["median"], spec)} ({fmt(st["min"], spec)}-{fmt(st["max"], spec)})'
    lines = [f'drop counters, one poll, {args.vifs} vifs: median (min-max) of {args.polls} polls',
             '| mode | entries parsed | CPU s | wall s |', '|---|---|---|---|']
    for mode in MODES:
        m = s[mode]
        lines.append(f'| {mode} (replay) | {m["entries"]} | {cell(m["cpu_s"])} | {cell(m["wall_s"])} |')
    c = s['controller']
    lines += ['', f'| the controller process (batches of {args.batch}) | CPU s per request |',
              '|---|---|',
              f'| GET /v1/drops (a fresh poll) | {cell(c["GET /v1/drops"])} |',
              f'| GET /v1/status (no poll) | {cell(c["GET /v1/status"])} |',
              f'| GET /v1/drops?port= (wall s) | {cell(c["port_wall_s"])} |']
    ratio = s['per flow']['cpu_s']['median'] / max(s['aggregate']['cpu_s']['median'], 1e-6)
    lines.append(f'\nper flow / aggregate CPU: {ratio:.0f}x')
    return '\n'.join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog='python -m bench.drops',
                                 description=(__doc__ or '').split('\n\n')[0])
    ap.add_argument('--vifs', type=int, default=10000, help='interfaces (default %(default)s)')
    ap.add_argument('--per-network', type=int, default=100, metavar='N')
    ap.add_argument('--polls', type=int, default=5, help='polls per mode (default %(default)s)')
    ap.add_argument('--batch', type=int, default=5,
                    help='requests per batch for the controller\'s CPU (default %(default)s)')
    ap.add_argument('--install-timeout', type=float, default=300, metavar='S')
    ap.add_argument('--json', action='store_true', help='raw numbers as JSON on stdout')
    args = ap.parse_args(argv)
    if args.vifs < 1 or args.polls < 1 or args.batch < 1:
        ap.error('--vifs, --polls and --batch must be positive')
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    say = progress_printer(to_stderr=args.json)
    if cannot_run('bench.drops'):
        return 2
    try:
        with Lab() as lab:
            bench = Bench(lab, args, say)
            try:
                bench.setup()
                replay, ctl = bench.replay(), bench.controller()
            finally:
                bench.stop()
    except (SetupError, NetlabError, AssertionError, OSError) as exc:
        say(f'bench.drops: {exc}')
        return 2
    except KeyboardInterrupt:
        say('bench.drops: interrupted; cleaned up')
        return 130
    summary = summarise(replay, ctl)
    if args.json:
        print(json.dumps({'replay': replay, 'controller': ctl, 'summary': summary}, indent=2))
    print(table(summary, args), file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
