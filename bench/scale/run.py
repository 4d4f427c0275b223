#!/usr/bin/env python3
"""Control-plane scale benchmark: 100, 1,000 and 10,000 interfaces on one datapath.

    .venv/bin/python bench/scale                     # sizes 100,1000,10000
    .venv/bin/python bench/scale --sizes 100,1000 --json
    .venv/bin/python bench/scale --sizes 10000 --strict

For each size N a topology is generated: one datapath, N vif interfaces in
networks of ``--per-network`` (default 100) vifs each, and in every network a
simulated gateway (services [router]) and a simulated DHCP interface
(services [dhcp]).  Every vif has its own OVS port: a *patch* port without a
peer (``type=patch options:peer=<name that does not exist>``).  OVS gives such
a port an OpenFlow number and announces it with its name like any other port,
but creates no kernel device, so 10,000 of them cost a few seconds.  They are
created straight through the OVSDB socket in large transactions (ovs-vsctl
spends O(n) client time per ``add-port`` on a big database: 1,000 ports per
call took 20-30 s there).

Measured, per size:

1. the pure layer, in-process: ``controller.validate.validate_file(path)``
   (parse + validate) and ``controller.pipeline.compile_datapath(topology,
   'br0', ports)``; median of a few runs (fewer when one run is slow).
2. programming the datapath from empty: the controller (netlab's
   ``Controller``, i.e. ``ryu-manager --ofp-tcp-listen-port P
   --ofp-listen-host 127.0.0.1 --topology FILE controller.app``) is started
   with the bridge already holding all ports and no flows, groups or meters.
   "install s" is the wall time from the bridge's connection (the controller's
   ``connected with N ports`` log line) until ``ovs-ofctl dump-aggregate``
   (cookie 0x766e000000000000/0xffff000000000000) counts every expected flow.
   The controller's own ``applied in X ms`` (first message sent -> barrier
   reply) is reported too, and the log timestamps split the wall time into
   read-back, compile+plan, building/serialising/sending, and the switch.
3. the limit: our installed flows, groups and meters are dumped
   (``dump-flows --no-stats``, ``dump-groups``, ``dump-meters``); with the
   controller stopped, flows and groups are deleted from the same bridge
   (same ports) and re-installed with ``ovs-ofctl --bundle add-groups`` and
   ``ovs-ofctl -O OpenFlow14 --bundle add-flows``; the add-flows wall time is
   the comparison (flows/s, and the ratio ours/ovs-ofctl = ovs-ofctl time /
   our install time).  Meters are left in place for it: ovs-ofctl has no
   batch ``add-meters`` (one process per meter, ~15 ms each here).  The
   result is checked to be identical to what the controller installed.
4. a one-interface edit: the topology file is rewritten atomically (temp file
   + os.replace) with one vif more in the first network (its patch port was
   created with the others).  Reported: the controller's flow-mod count K and
   its ``applied in X ms``, and the time from the write until the new flows
   are visible in ``ovs-ofctl`` (this includes the 200 ms file poll, and the
   controller re-validating and re-compiling the whole topology).  Small sizes
   alternate add / revert edits; the table shows the adds.

Targets: at 10,000 interfaces ratio >= 0.8; every edit applied in < 100 ms
and with the same K at every size.  Exit status 0 when measured (with
--strict: 1 when a measured target is missed); 2 when the setup fails.

Which ovs-vswitchd (``--ovs``):

* ``private`` (default): our own ovsdb-server and ovs-vswitchd -- the same
  OVS 3.1 binaries, bridges ``datapath_type=netdev`` -- with the vswitchd in a
  network namespace of ours, so its tap devices (``ovs-netdev``, the bridge's
  LOCAL port) and its 127.0.0.1 (where the controller, started in the same
  namespace, listens) clash with nothing.  It is killed (by PID) at the end of
  each size, which removes every bridge and port in a second.  The machine's
  ovs-vswitchd is never touched, and other users restarting it or loading it
  do not disturb the measurement.
* ``shared``: the machine's ovs-vswitchd.  Removing the ports afterwards is
  then the slow part: OVS (ofproto-dpif ``port_destruct``) copies its whole
  translation config for every port it removes, so deleting n ports costs
  O(n^2) -- about 6 minutes for 10,000 ports here, with ovs-vswitchd busy for
  everyone.  A restart of that ovs-vswitchd by someone else during a
  measurement is detected (its PID changes) and the measurement repeated.

Controller CPU time (from /proc) and how busy the machine was are recorded for
the install and the edits, so contention from other work can be told apart
from the controller's own cost.

Needs root and a running Open vSwitch installation (``make setup``; netlab's
checks).  No traffic is sent.  Everything created here is removed at exit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from lab import (  # noqa: E402
    VNET_COOKIE,
    Controller,
    GiveUp,
    Lab,
    NetlabError,
    check_environment,
    free_tcp_port,
    wait_for,
)

DEFAULT_SIZES = (100, 1000, 10000)
PER_NETWORK = 100
TARGET_RATIO = 0.8            # flows/s ours / ovs-ofctl --bundle, at TARGET_RATIO_SIZE
TARGET_RATIO_SIZE = 10000
TARGET_EDIT_MS = 100.0        # the controller's "applied in X ms" of a one-interface edit
DPID_BASE = 0x5ca1e0000000
POLL_S = 0.02                 # between ovs-ofctl polls (each takes a few ms more)
OVSDB_SOCK = Path(os.environ.get('OVS_RUNDIR', '/var/run/openvswitch')) / 'db.sock'


class SetupError(Exception):
    """The benchmark cannot measure: the message says why."""


class Interrupted(BaseException):
    """SIGTERM: clean up like after Ctrl-C (a BaseException, so that no
    ``except Exception`` -- e.g. in netlab's wait_for -- swallows it)."""


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def now() -> float:
    return time.time()


# --------------------------------------------------------------------------
# the generated topology

def vif_name(k: int) -> str:
    return f'vm{k}'


def topology_text(n_vifs: int, per_net: int, dpid: int, port: Callable[[int], str],
                  extra: bool = False) -> str:
    """N vifs in networks of per_net, each network with a router and a DHCP
    simulated interface.  ``extra`` adds vif number N to the first network
    (the one-interface edit)."""
    nets = max(1, -(-n_vifs // per_net))
    out = [f'# bench/scale: {n_vifs} vifs in {nets} networks of {per_net}'
           + (', plus one (the edit)' if extra else ''),
           'datapaths:', '  br0:', f'    dpid: {dpid:#x}', '', 'networks:']
    for i in range(nets):
        out += [f'  n{i}:', f'    ipv4: 10.{i >> 8}.{i & 255}.0/24']
    out += ['', 'interfaces:']

    def vif(k, net, host):
        return [f'  {vif_name(k)}:', f'    network: n{net}',
                f'    mac: 52:54:00:{(k >> 16) & 255:02x}:{(k >> 8) & 255:02x}:{k & 255:02x}',
                f'    ipv4: 10.{net >> 8}.{net & 255}.{host}',
                '    datapath: br0', f'    port: {port(k)}']
    for k in range(n_vifs):
        net, j = divmod(k, per_net)
        out += vif(k, net, j + 1)
    if extra:
        out += vif(n_vifs, 0, min(per_net, n_vifs) + 1)
    for i in range(nets):
        for tag, svc, host in (('gw', 'router', 254), ('dhcp', 'dhcp', 253)):
            out += [f'  n{i}-{tag}:', f'    network: n{i}', '    mode: simulated',
                    f'    mac: 52:54:{1 if svc == "router" else 2:02x}:00:'
                    f'{i >> 8:02x}:{i & 255:02x}',
                    f'    ipv4: 10.{i >> 8}.{i & 255}.{host}', f'    services: [{svc}]']
    return '\n'.join(out) + '\n'


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# shell helpers

OVS_ENV: Optional[dict] = None     # environment for ovs-* commands (a private instance)


def run(args, timeout: float = 120, check: bool = True, input: Optional[str] = None
        ) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    env = OVS_ENV if (OVS_ENV and args[0].startswith('ovs-')) else None
    try:
        cp = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input,
                            env=env)
    except subprocess.TimeoutExpired as e:
        raise NetlabError(f'timed out after {timeout}s: {" ".join(args)}') from e
    if check and cp.returncode != 0:
        raise NetlabError(f'command failed (exit {cp.returncode}): {" ".join(args)}\n'
                          f'{(cp.stderr or cp.stdout).strip()[:2000]}')
    return cp


def timed(args, timeout: float = 300) -> float:
    t = time.perf_counter()
    run(args, timeout=timeout)
    return time.perf_counter() - t


def flow_count(br: str, match: str = '') -> int:
    filt = f'cookie={VNET_COOKIE}' + (f',{match}' if match else '')
    out = run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-aggregate', br, filt], timeout=60).stdout
    m = re.search(r'flow_count=(\d+)', out)
    if not m:
        raise NetlabError(f'no flow_count in dump-aggregate output: {out!r}')
    return int(m.group(1))


def dump_lines(br: str, what: str, *extra: str) -> list[str]:
    """Our flows (with cookie), all groups or all meters, one entry per item."""
    if what == 'flows':
        out = run(['ovs-ofctl', '-O', 'OpenFlow13', '--no-names', 'dump-flows', '--no-stats',
                   br, f'cookie={VNET_COOKIE}'], timeout=120).stdout
        return [ln.strip() for ln in out.splitlines() if 'actions=' in ln]
    if what == 'groups':
        out = run(['ovs-ofctl', '-O', 'OpenFlow13', '--no-names', 'dump-groups', br],
                  timeout=120).stdout
        return [ln.strip() for ln in out.splitlines() if ln.strip().startswith('group_id=')]
    if what == 'meters':
        # "meter=1 pktps burst bands=\ntype=drop rate=50 burst_size=100" -> add-meter syntax
        out = run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-meters', br], timeout=120).stdout
        meters, cur = [], None
        for ln in out.splitlines():
            ln = ln.strip()
            if ln.startswith('meter='):
                cur = ln.replace(' bands=', '').replace(' ', ',')
                meters.append(cur)
            elif ln.startswith('type=') and cur is not None:
                meters[-1] += ',band=' + ln.replace(' ', ',')
        return meters
    raise ValueError(what)


def clear_bridge(br: str, meters: bool = True) -> None:
    run(['ovs-ofctl', '-O', 'OpenFlow13', 'del-flows', br], timeout=120)
    run(['ovs-ofctl', '-O', 'OpenFlow13', 'del-groups', br], timeout=120)
    if meters:
        run(['ovs-ofctl', '-O', 'OpenFlow13', 'del-meters', br], timeout=120)


_CLK_TCK = os.sysconf('SC_CLK_TCK')


def proc_cpu_s(pid: Optional[int]) -> Optional[float]:
    """CPU seconds (user + system) a process has used so far."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except (OSError, TypeError):
        return None
    fields = stat[stat.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_cpu() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of all CPUs, from /proc/stat."""
    vals = [int(v) for v in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals), (vals[7] if len(vals) > 7 else 0)


class CpuMeter:
    """The controller's CPU time and how busy the whole machine was over an interval."""

    def __init__(self, pid: Optional[int]):
        self.pid = pid
        self.t, self.cpu, self.machine = time.monotonic(), proc_cpu_s(pid), machine_cpu()

    def result(self) -> dict:
        wall = time.monotonic() - self.t
        cpu = proc_cpu_s(self.pid)
        busy, total, steal = machine_cpu()
        db, dt, ds = busy - self.machine[0], total - self.machine[1], steal - self.machine[2]
        return {'wall_s': wall,
                'controller_cpu_s': (cpu - self.cpu) if cpu is not None and self.cpu is not None
                else None,
                'machine_busy': (db / dt) if dt else None,
                'steal': (ds / dt) if dt else None, 'cpus': os.cpu_count()}


def ovs_version() -> str:
    cp = run(['ovs-vswitchd', '--version'], check=False, timeout=10)
    return (cp.stdout.splitlines() or ['?'])[0]


def port_numbers(br: str) -> dict[str, int]:
    out = run(['ovs-ofctl', '-O', 'OpenFlow13', 'show', br], timeout=60).stdout
    return {m.group(2): int(m.group(1))
            for m in re.finditer(r'^\s*(\d+)\(([^)]+)\):', out, re.M)}


# --------------------------------------------------------------------------
# OVSDB, directly: large port batches in one transaction each

class Ovsdb:
    """A minimal OVSDB JSON-RPC client on the local unix socket."""

    def __init__(self, path: Path = OVSDB_SOCK):
        self.path = str(path)
        self._id = 0

    def transact(self, ops: list, timeout: float = 120) -> list:
        self._id += 1
        req = json.dumps({'method': 'transact', 'params': ['Open_vSwitch', *ops],
                          'id': self._id}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.path)
            s.sendall(req)
            buf, dec = b'', json.JSONDecoder()
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise NetlabError('ovsdb-server closed the connection')
                buf += chunk
                try:
                    msg, _ = dec.raw_decode(buf.decode())
                except ValueError:
                    continue
                if msg.get('id') == self._id:
                    break
                buf = b''                      # a notification or echo: skip it
        if msg.get('error'):
            raise NetlabError(f'ovsdb transaction failed: {msg["error"]}')
        result = msg['result']
        errors = [r for r in result if isinstance(r, dict) and 'error' in r]
        if errors:
            raise NetlabError(f'ovsdb transaction failed: {errors[:3]}')
        return result

    def cur_cfg(self) -> int:
        res = self.transact([{'op': 'select', 'table': 'Open_vSwitch', 'where': [],
                              'columns': ['cur_cfg']}])
        return res[0]['rows'][0]['cur_cfg']

    def transact_and_wait(self, ops: list, timeout: float = 300) -> None:
        """Run ops, bump next_cfg and wait until ovs-vswitchd has applied it."""
        ops = ops + [{'op': 'mutate', 'table': 'Open_vSwitch', 'where': [],
                      'mutations': [['next_cfg', '+=', 1]]},
                     {'op': 'select', 'table': 'Open_vSwitch', 'where': [],
                      'columns': ['next_cfg']}]
        want = self.transact(ops)[-1]['rows'][0]['next_cfg']
        wait_for(lambda: self.cur_cfg() >= want, timeout=timeout, interval=0.02,
                 what=f'ovs-vswitchd to apply configuration {want}')

    def add_patch_ports(self, bridge: str, ports: dict[str, int], batch: int = 2500) -> None:
        """Peerless patch ports name -> requested ofport, in a few transactions."""
        items = list(ports.items())
        for start in range(0, len(items), batch):
            ops, refs = [], []
            for i, (name, ofport) in enumerate(items[start:start + batch]):
                ops.append({'op': 'insert', 'table': 'Interface', 'uuid-name': f'i{i}',
                            'row': {'name': name, 'type': 'patch', 'ofport_request': ofport,
                                    'options': ['map', [['peer', name + 'x']]]}})
                ops.append({'op': 'insert', 'table': 'Port', 'uuid-name': f'p{i}',
                            'row': {'name': name, 'interfaces': ['named-uuid', f'i{i}']}})
                refs.append(['named-uuid', f'p{i}'])
            ops.append({'op': 'mutate', 'table': 'Bridge', 'where': [['name', '==', bridge]],
                        'mutations': [['ports', 'insert', ['set', refs]]]})
            self.transact_and_wait(ops)

    def delete_ports(self, bridge: str, names, progress=None) -> None:
        """Delete ports from ``bridge`` in batches small enough that
        ovs-vswitchd stays responsive (each removal costs O(all ports))."""
        names = set(names)
        rows = self.transact([{'op': 'select', 'table': 'Port', 'where': [],
                               'columns': ['_uuid', 'name']}])[0]['rows']
        uuids = [r['_uuid'][1] for r in rows if r['name'] in names]
        total, t0, done = len(uuids), time.monotonic(), 0
        while uuids:
            # ~1 s of ovs-vswitchd work per batch (~1.8 us per remaining port per removal)
            batch = int(min(5000, max(50, 1.0 / (1.8e-6 * max(1, len(uuids))))))
            chunk, uuids = uuids[:batch], uuids[batch:]
            self.transact_and_wait([{'op': 'mutate', 'table': 'Bridge',
                                     'where': [['name', '==', bridge]],
                                     'mutations': [['ports', 'delete',
                                                    ['set', [['uuid', u] for u in chunk]]]]}])
            done += len(chunk)
            if progress and total >= 2000 and (done % 1000 < len(chunk) or not uuids):
                progress(f'    removed {done}/{total} ports ({time.monotonic() - t0:.0f} s)')


# --------------------------------------------------------------------------
# which ovs-vswitchd: the machine's (shared) or one of our own (private)

class NsController(Controller):
    """netlab's Controller, run inside a network namespace (where a private
    ovs-vswitchd connects to 127.0.0.1)."""

    def __init__(self, ns: str, *args, **kw):
        self.ns = ns
        super().__init__(*args, **kw)

    @property
    def argv(self) -> list[str]:
        return ['ip', 'netns', 'exec', self.ns, *super().argv]

    def listening(self) -> bool:
        cp = run(['ip', 'netns', 'exec', self.ns, 'ss', '-Htln', f'sport = :{self.port}'],
                 check=False, timeout=10)
        return bool(cp.stdout.strip())


class SharedOvs:
    """The machine's ovs-vswitchd.  Removing n ports costs it O(n^2) (see the
    module docstring): minutes at 10,000, during which it serves nobody else."""
    kind = 'shared'

    def __init__(self, lab: Lab):
        self.lab = lab
        self.db = Ovsdb(OVSDB_SOCK)

    def start(self) -> None:
        global OVS_ENV
        OVS_ENV = None

    def pid(self) -> Optional[int]:
        """ovs-vswitchd's PID: a change means someone restarted it under us."""
        try:
            return int((OVSDB_SOCK.parent / 'ovs-vswitchd.pid').read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def add_bridge(self, dpid: int, ctl_port: int) -> str:
        br = self.lab.bridge('s', dpid=dpid, controller_port=ctl_port).name
        run(['ovs-vsctl', '--timeout=60', 'set', 'Bridge', br, 'protocols=OpenFlow13,OpenFlow14'])
        return br

    def controller(self, path: Path, port: int, log_path: Path) -> Controller:
        return self.lab.controller(path, port=port, wait=False, log_path=log_path)

    def remove_ports(self, br: str, names, say) -> None:
        self.db.delete_ports(br, names, progress=say)

    def stop(self) -> None:
        pass


class PrivateOvs(SharedOvs):
    """Our own ovsdb-server + ovs-vswitchd (same binaries, datapath netdev),
    the vswitchd in a network namespace of ours so that its tap devices
    (ovs-netdev, the bridge's LOCAL port) and 127.0.0.1 are private too.
    Isolated from other users' bridges and restarts, and gone in a second
    when killed -- instead of minutes of port removal."""
    kind = 'private'
    SCHEMA = Path('/usr/share/openvswitch/vswitch.ovsschema')

    def __init__(self, lab: Lab):
        super().__init__(lab)
        self.dir = lab.path('ovs')
        self.ns = f'{lab.prefix}-ovs'
        self.db = Ovsdb(self.dir / 'db.sock')
        self.procs: list[subprocess.Popen] = []
        self.vswitchd: Optional[subprocess.Popen] = None

    def _spawn(self, argv, name: str) -> subprocess.Popen:
        log = open(self.dir / f'{name}.out', 'ab')
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=OVS_ENV, start_new_session=True)
        log.close()
        self.procs.append(p)
        self.lab._track_process(p)          # netlab kills it by PID if we die
        return p

    def start(self) -> None:
        global OVS_ENV
        if not self.SCHEMA.exists():
            raise SetupError(f'{self.SCHEMA} not found: cannot start a private ovsdb-server '
                             '(use --ovs shared)')
        self.dir.mkdir(parents=True, exist_ok=True)
        OVS_ENV = dict(os.environ, OVS_RUNDIR=str(self.dir), OVS_LOGDIR=str(self.dir),
                       OVS_DBDIR=str(self.dir))
        d = self.dir
        run(['ovsdb-tool', 'create', d / 'conf.db', self.SCHEMA])
        self._spawn(['ovsdb-server', d / 'conf.db', f'--remote=punix:{d / "db.sock"}',
                     f'--unixctl={d / "ovsdb-server.ctl"}', f'--pidfile={d / "ovsdb-server.pid"}',
                     f'--log-file={d / "ovsdb-server.log"}', '-vconsole:off'], 'ovsdb-server')
        wait_for(lambda: (d / 'db.sock').exists(), timeout=20, interval=0.05,
                 what='the private ovsdb-server')
        run(['ovs-vsctl', f'--db=unix:{d / "db.sock"}', '--no-wait', 'init'])
        # the namespace is recorded as a netlab "host" so a crashed run is swept too
        from lab import Host
        self.lab.hosts.append(Host(self.lab, 'ovs', self.ns, None, '', '', None, None))
        self.lab._save()
        run(['ip', 'netns', 'add', self.ns])
        run(['ip', 'netns', 'exec', self.ns, 'ip', 'link', 'set', 'lo', 'up'])
        self.vswitchd = self._spawn(
            ['ip', 'netns', 'exec', self.ns, 'ovs-vswitchd', f'unix:{d / "db.sock"}',
             f'--unixctl={d / "ovs-vswitchd.ctl"}', f'--pidfile={d / "ovs-vswitchd.pid"}',
             f'--log-file={d / "ovs-vswitchd.log"}', '-vconsole:off'], 'ovs-vswitchd')

    def pid(self) -> Optional[int]:
        return self.vswitchd.pid if self.vswitchd and self.vswitchd.poll() is None else None

    def add_bridge(self, dpid: int, ctl_port: int) -> str:
        br = self.lab.ifname('s')
        run(['ovs-vsctl', f'--db=unix:{self.dir / "db.sock"}', '--timeout=60',
             '--', 'add-br', br,
             '--', 'set', 'Bridge', br, 'datapath_type=netdev', 'fail_mode=secure',
             'protocols=OpenFlow13,OpenFlow14', f'other-config:datapath-id={dpid:016x}',
             'other-config:disable-in-band=true',
             '--', 'set-controller', br, f'tcp:127.0.0.1:{ctl_port}',
             '--', 'set', 'Controller', br, 'connection-mode=out-of-band', 'max_backoff=1000'])
        return br

    def controller(self, path: Path, port: int, log_path: Path) -> Controller:
        c = NsController(self.ns, path, port=port, log_path=log_path)
        self.lab.controllers.append(c)
        try:
            c.start(wait=False)
        finally:
            self.lab._save()
        return c

    def remove_ports(self, br: str, names, say) -> None:
        pass                                # they go with the instance

    def stop(self) -> None:
        global OVS_ENV
        for p in reversed(self.procs):      # ovs-vswitchd first, then ovsdb-server
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        self.procs.clear()
        run(['ip', 'netns', 'del', self.ns], check=False)
        OVS_ENV = None


# --------------------------------------------------------------------------
# the controller's log

_TS_RE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ')
CONNECTED_RE = r'\): connected with (?P<ports>\d+) ports'
FOUND_RE = r'\): found (?P<flows>\d+) of our flows'
PLAN_RE = (r'\): (?P<reason>connected|topology change): \+(?P<add>\d+) -(?P<dele>\d+) flows'
           r'(?P<rest>.*)\((?P<mods>\d+) flow-mods(?P<bundle>, one bundle)?\)')
APPLIED_RE = (r'\): (?P<reason>connected|topology change): applied in (?P<ms>[\d.]+) ms '
              r'\((?P<mods>\d+) flow-mods\)')
CHANGED_RE = r'topology .* changed: (?P<what>.*)'
REFUSED_RE = r'(switch refused a message|refusing the edit|Traceback)'


def log_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, '%Y-%m-%d %H:%M:%S,%f').timestamp()


class LogWatch:
    """Find timestamped lines in a controller log after a mark."""

    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.offset = 0

    def mark(self) -> None:
        self.offset = len(self.ctl.log_text())

    def lines(self):
        return self.ctl.log_text()[self.offset:].splitlines()

    def find(self, pattern: str, reason: Optional[str] = None):
        """(time, match) of the first line after the mark matching pattern."""
        for ln in self.lines():
            m = re.search(pattern, ln)
            if m and (reason is None or m.groupdict().get('reason') == reason):
                ts = _TS_RE.match(ln)
                return (log_time(ts.group(1)) if ts else None), m
        return None

    def wait(self, pattern: str, timeout: float, what: str, reason: Optional[str] = None):
        def found():
            hit = self.find(pattern, reason)
            if hit is None and not self.ctl.running():
                raise GiveUp(f'controller exited while waiting for {what}; log '
                             f'{self.ctl.log_path}:\n{self.ctl.log_tail(40)}')
            return hit
        return wait_for(found, timeout=timeout, interval=0.05, what=what,
                        state=lambda: self.ctl.log_tail(20))

    def problems(self) -> list[str]:
        return [ln for ln in self.lines() if re.search(REFUSED_RE, ln)]


# --------------------------------------------------------------------------
# one size

class PureLab:
    """What SizeRun needs of a Lab when no switch is involved (--pure-only)."""
    prefix = 'nl000'

    def __init__(self, tmp: Path):
        self.tmp = tmp

    def ifname(self, base: str) -> str:
        return self.prefix + base

    def path(self, name: str) -> Path:
        return self.tmp / name


class SizeRun:
    def __init__(self, lab: Lab, n: int, args, progress):
        self.lab, self.n, self.args, self.say = lab, n, args, progress
        self.per_net = args.per_network
        self.nets = max(1, -(-n // self.per_net))
        self.dpid = DPID_BASE | (int(lab.prefix[2:], 16) << 8) | (len(str(n)))
        self.port_names = {k: lab.ifname(f'v{k}') for k in range(n + 1)}
        self.ofports = {self.port_names[k]: k + 1 for k in range(n + 1)}
        self.base_path = lab.path(f'scale-{n}.yml')
        self.topo_text = topology_text(n, self.per_net, self.dpid, self.port_names.__getitem__)
        self.edit_text = topology_text(n, self.per_net, self.dpid, self.port_names.__getitem__,
                                       extra=True)
        self.edit_ofport = n + 1
        self.br: Optional[str] = None
        self.ovs: Optional[SharedOvs] = None
        self.ctl: Optional[Controller] = None
        self.ctl_port = 0
        self.created_ports = False
        self.res: dict[str, Any] = {'size': n, 'vifs': n, 'networks': self.nets,
                                    'interfaces': n + 2 * self.nets}
        big = n > args.repeat_limit
        self.rounds = args.rounds if args.rounds else (1 if big else 3)
        self.edits = args.edits if args.edits else (1 if big else 5)

    # -- 1. the pure layer ---------------------------------------------------
    def pure(self) -> None:
        from controller.pipeline import compile_datapath
        from controller.topology.validate import validate_file
        self.base_path.write_text(self.topo_text)
        budget = self.args.pure_budget
        val, topo = [], None
        while not val or (len(val) < 5 and sum(val) < budget):
            t = time.perf_counter()
            topo = validate_file(str(self.base_path))
            val.append(time.perf_counter() - t)
        ports = {name: ofport for name, ofport in self.ofports.items()}
        from controller import pipeline
        comp, warm, desired = [], [], None
        while not comp or (len(comp) < 5 and sum(comp) < budget):
            pipeline._PORT_FLOWS.clear()      # cold: as a controller's first compile
            t = time.perf_counter()
            desired = compile_datapath(topo, 'br0', ports)
            comp.append(time.perf_counter() - t)
            t = time.perf_counter()           # warm: per-port flows remembered, as on an edit
            compile_datapath(topo, 'br0', ports)
            warm.append(time.perf_counter() - t)
        self.res.update(flows=len(desired.flows), groups=len(desired.groups),
                        meters=len(desired.meters),
                        validate_ms={'median': median(val) * 1e3, 'runs': [v * 1e3 for v in val]},
                        compile_ms={'median': median(comp) * 1e3, 'runs': [c * 1e3 for c in comp]},
                        recompile_ms={'median': median(warm) * 1e3, 'runs': [w * 1e3 for w in warm]})
        self.say(f'  pure layer: {len(desired.flows)} flows, {len(desired.groups)} groups, '
                 f'{len(desired.meters)} meters; validate {median(val) * 1e3:.0f} ms, '
                 f'compile {median(comp) * 1e3:.0f} ms cold, {median(warm) * 1e3:.0f} ms '
                 f'with per-port flows remembered (median of {len(val)}/{len(comp)})')

    # -- the switch ---------------------------------------------------------------
    def setup_switch(self) -> None:
        self.ovs = (PrivateOvs if self.args.ovs == 'private' else SharedOvs)(self.lab)
        self.ovs.start()
        self.res['ovs'] = self.ovs.kind
        self.ctl_port = free_tcp_port()
        self.br = self.ovs.add_bridge(self.dpid, self.ctl_port)
        t = time.perf_counter()
        self.created_ports = True
        self.ovs.db.add_patch_ports(self.br, self.ofports)
        have = port_numbers(self.br)
        wrong = {p: (o, have.get(p)) for p, o in self.ofports.items() if have.get(p) != o}
        if wrong:
            raise SetupError(f'{len(wrong)} ports lack the requested OpenFlow number, e.g. '
                             f'{list(wrong.items())[:3]}')
        self.res['port_setup_s'] = time.perf_counter() - t
        self.say(f'  bridge {self.br} ({self.ovs.kind} ovs-vswitchd): '
                 f'{len(self.ofports)} patch ports '
                 f'({self.n} + 1 for the edit) in {self.res["port_setup_s"]:.1f} s')

    def start_controller(self, path: Path, tag: str) -> LogWatch:
        self.ctl = self.ovs.controller(path, self.ctl_port,
                                       self.lab.path(f'controller-{self.n}-{tag}.log'))
        self.ctl.wait_listening(timeout=300)
        return LogWatch(self.ctl)

    def stop_controller(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    # -- robustness: ovs-vswitchd restarted by someone else ----------------------------
    def attempt(self, what: str, fn, *a, **kw):
        """fn(*a), again (up to 3 times) when ovs-vswitchd was restarted meanwhile
        (by something else: that wipes flows, groups and meters)."""
        if self.ovs.kind == 'private':      # nobody else touches ours
            return fn(*a, **kw)
        for _ in range(3):
            pid = self.ovs.pid()
            try:
                result = fn(*a, **kw)
            except (AssertionError, NetlabError, SetupError):
                if self.ovs.pid() == pid:
                    raise
                result = None
            if self.ovs.pid() == pid:
                return result
            self.res.setdefault('disturbed', []).append(what)
            self.say(f'  ovs-vswitchd was restarted (pid {pid} -> {self.ovs.pid()}, not by '
                     f'bench/scale) during {what}: measuring it again')
            wait_for(lambda: port_numbers(self.br).get(self.port_names[self.n]) == self.edit_ofport,
                     timeout=120, interval=0.2, what='the bridge to be back with its ports')
            self.settle()
        raise SetupError(f'ovs-vswitchd was restarted during every attempt of {what}')

    def settle(self, timeout: float = 300) -> None:
        """With a controller running: wait until every connection of the bridge
        has had its install applied (and no new one came for a second)."""
        if self.ctl is None:
            return
        last = [None, time.monotonic()]

        def settled():
            text = self.ctl.log_text()
            state = (text.count('connected with'),
                     len(re.findall(r': connected: (applied|already)', text)))
            if state != last[0]:
                last[:] = [state, time.monotonic()]
            return state[0] > 0 and state[0] <= state[1] and time.monotonic() - last[1] > 1.0
        wait_for(settled, timeout=timeout, interval=0.1, what='the controller to re-install',
                 state=lambda: self.ctl.log_tail(10))

    # -- 2. ours, from empty ---------------------------------------------------------
    def ours_round(self, i: int) -> dict:
        self.stop_controller()
        clear_bridge(self.br)
        if flow_count(self.br) != 0:
            raise SetupError(f'{self.br} still has flows after del-flows')
        expected = self.res['flows']
        self.base_path.write_text(self.topo_text)
        log = self.start_controller(self.base_path, f'ours{i}')
        t_conn, m = log.wait(CONNECTED_RE, 120, 'the bridge to connect')
        meter = CpuMeter(self.ctl.pid)
        poll = []

        def complete():
            # flows only appear when the bundle commits, after everything is
            # sent: poll gently until the controller says it has sent it all
            if log.find(PLAN_RE, 'connected') is None:
                time.sleep(0.1)
            t = time.perf_counter()
            c = flow_count(self.br)
            poll.append(time.perf_counter() - t)
            return c >= expected and c

        seen = wait_for(complete, timeout=self.args.install_timeout, interval=POLL_S,
                        what=f'{expected} flows on {self.br}',
                        state=lambda: self.ctl.log_tail(20))
        t_all = now()
        t_app, app = log.wait(APPLIED_RE, 120, 'the barrier reply of the install', 'connected')
        cpu = meter.result()
        t_plan, plan = log.find(PLAN_RE, 'connected')
        found = log.find(FOUND_RE)
        t_found = found[0] if found else None
        applied_ms = float(app.group('ms'))
        send_start = t_app - applied_ms / 1e3
        r = {'wall_s': t_all - t_conn, 'flows_seen': seen,
             'ports_at_connect': int(m.group('ports')),
             'applied_ms': applied_ms, 'flow_mods': int(plan.group('mods')),
             'one_bundle': bool(plan.group('bundle')),
             'plan': plan.group(0).split(': ', 2)[-1],
             'split_s': {
                 'read_back': (t_found - t_conn) if t_found else None,
                 'compile_plan': (send_start - t_found) if t_found else None,
                 'build_send': t_plan - send_start,
                 'switch_after_send': t_app - t_plan,
                 'visible_after_barrier': t_all - t_app},
             'poll_ms': median(poll) * 1e3, 'cpu': cpu,
             'problems': log.problems()[:5]}
        if seen != expected:
            r['problems'].append(f'{seen} flows instead of {expected}')
        self.say(f'  ours #{i}: {expected} flows in {r["wall_s"]:.2f} s from connection '
                 f'({expected / r["wall_s"]:.0f} flows/s); controller: applied in '
                 f'{applied_ms:.0f} ms, {r["flow_mods"]} flow-mods'
                 f'{", one bundle" if r["one_bundle"] else ""}; split '
                 + ', '.join(f'{k} {v:.2f}s' for k, v in r['split_s'].items() if v is not None)
                 + f'; {cpu_text(cpu)}')
        for p in r['problems']:
            self.say(f'    problem: {p}')
        return r

    def dump_installed(self) -> None:
        self.files = {}
        self.installed = {}
        for what in ('flows', 'groups', 'meters'):
            lines = dump_lines(self.br, what)
            self.installed[what] = sorted(lines)
            path = self.lab.path(f'scale-{self.n}-{what}.txt')
            path.write_text('\n'.join(lines) + '\n')
            self.files[what] = path
        self.res['dumped'] = {k: len(v) for k, v in self.installed.items()}
        want = {'flows': self.res['flows'], 'groups': self.res['groups'],
                'meters': self.res['meters']}
        if self.res['dumped'] != want:
            raise SetupError(f'dumped {self.res["dumped"]} from {self.br}, compiled {want}')

    # -- 3. the limit: ovs-ofctl --bundle ------------------------------------------------
    def ofctl_round(self, i: int, version: str) -> dict:
        self.stop_controller()
        if len(dump_lines(self.br, 'meters')) < len(self.installed['meters']):
            # ovs-vswitchd was restarted: ovs-ofctl has no batch add-meters, so
            # let the controller put them back (not measured)
            self.say('  meters are gone (ovs-vswitchd restarted?): reinstalling via the controller')
            self.ours_round(0)
            self.stop_controller()
        clear_bridge(self.br, meters=False)
        if flow_count(self.br) != 0:
            raise SetupError(f'{self.br} still has flows after del-flows')
        t_groups = timed(['ovs-ofctl', '-O', version, '--bundle', 'add-groups', self.br,
                          self.files['groups']])
        t_flows = timed(['ovs-ofctl', '-O', version, '--bundle', 'add-flows', self.br,
                         self.files['flows']], timeout=600)
        count = flow_count(self.br)
        r = {'version': version, 'flows_s': t_flows, 'groups_s': t_groups, 'flows_seen': count}
        if i == 1 and version == self.args.ofctl_version:
            # flows and groups re-installed; meters were left alone (an edit may have added one)
            same = {w: sorted(dump_lines(self.br, w)) == self.installed[w]
                    for w in ('flows', 'groups')}
            same['meters'] = set(self.installed['meters']) <= set(dump_lines(self.br, 'meters'))
            r['identical_to_ours'] = all(same.values()) or same
        self.say(f'  ovs-ofctl -O {version} --bundle #{i}: add-flows {t_flows:.2f} s '
                 f'({count / t_flows:.0f} flows/s), add-groups {t_groups * 1e3:.0f} ms'
                 + (f'; identical to ours: {r["identical_to_ours"]}'
                    if 'identical_to_ours' in r else ''))
        return r

    # -- 4. a one-interface edit --------------------------------------------------------
    def edit(self, i: int) -> dict:
        """Add the extra interface, or remove it if the file has it."""
        add = self.base_path.read_text() != self.edit_text
        log = LogWatch(self.ctl)
        log.mark()
        match = f'table=0,in_port={self.edit_ofport}'
        before = flow_count(self.br)
        meter = CpuMeter(self.ctl.pid)
        write_atomic(self.base_path, self.edit_text if add else self.topo_text)
        t_w = now()

        def visible():
            if log.find(CHANGED_RE) is None:    # still waiting for the file poll
                time.sleep(0.03)                # / validation: poll gently
            c = flow_count(self.br, match)
            if (c > 0) == add:
                return True
            if not self.ctl.running():
                raise GiveUp('controller exited')
            return False
        wait_for(visible, timeout=self.args.install_timeout, interval=POLL_S,
                 what=f'the edit ({"add" if add else "revert"}) to show on {self.br}',
                 state=lambda: self.ctl.log_tail(20))
        t_vis = now()
        t_app, app = log.wait(APPLIED_RE, 120, 'the barrier reply of the edit', 'topology change')
        cpu = meter.result()
        t_plan, plan = log.find(PLAN_RE, 'topology change')
        changed = log.find(CHANGED_RE)
        applied_ms = float(app.group('ms'))
        total = flow_count(self.br)
        r = {'kind': 'add' if add else 'revert', 'flow_mods': int(plan.group('mods')),
             'plan': plan.group(0).split(': ', 2)[-1], 'applied_ms': applied_ms,
             'visible_ms': (t_vis - t_w) * 1e3, 'flows_after': total,
             'split_ms': {
                 'detect_validate': ((changed[0] - t_w) * 1e3) if changed else None,
                 'compile_plan_build_send': ((t_plan - changed[0]) * 1e3) if changed else None,
                 'switch_after_send': (t_app - t_plan) * 1e3},
             'cpu': cpu, 'problems': log.problems()[:5]}
        expected_after = before + int(plan.group('add')) - int(plan.group('dele'))
        if total != expected_after:
            r['problems'].append(f'{total} flows after the edit, expected {expected_after} '
                                 f'({before} before, plan {r["plan"]})')
        self.say(f'  edit #{i} ({r["kind"]}): {r["flow_mods"]} flow-mods, applied in '
                 f'{applied_ms:.1f} ms, visible {r["visible_ms"]:.0f} ms after the write ('
                 + ', '.join(f'{k} {v:.0f}' for k, v in r['split_ms'].items() if v is not None)
                 + f' ms); {cpu_text(cpu)}')
        for p in r['problems']:
            self.say(f'    problem: {p}')
        return r

    # -- teardown ------------------------------------------------------------------------
    def teardown(self) -> None:
        self.stop_controller()
        if self.ovs is None:
            return
        t = time.perf_counter()
        if self.br and self.created_ports and self.ovs.kind == 'shared':
            try:
                clear_bridge(self.br)
            except NetlabError as e:
                self.say(f'  warning: {e}')
            self.say(f'  removing {len(self.ofports)} ports from {self.br} ...')
            self.ovs.remove_ports(self.br, self.ofports, self.say)
        self.created_ports = False
        self.ovs.stop()
        self.res['port_teardown_s'] = time.perf_counter() - t

    # -- all of it --------------------------------------------------------------------
    def run(self) -> dict:
        t_start = time.perf_counter()
        self.say(f'size {self.n}: {self.n} vifs in {self.nets} networks of {self.per_net}, '
                 f'+{2 * self.nets} simulated interfaces')
        self.pure()
        if self.args.pure_only:
            return self.res
        try:
            self.setup_switch()
            ours, ofctl, edits = [], [], []
            for i in range(1, self.rounds + 1):
                ours.append(self.attempt(f'install #{i}', self.ours_round, i))
                if i == 1:
                    self.attempt('the dump', self.dump_installed)
                if i < self.rounds:
                    ofctl.append(self.attempt(f'ovs-ofctl #{i}', self.ofctl_round, i,
                                              self.args.ofctl_version))
            for j in range(1, self.edits + 1):
                edits.append(self.attempt(f'edit #{j}', self.edit, j))
            last = edits[-1] if edits else None
            if last and last['kind'] == 'revert' and last['flows_after'] != self.res['flows']:
                edits[-1]['problems'].append(f'{edits[-1]["flows_after"]} flows after reverting, '
                                             f'expected {self.res["flows"]}')
            ofctl.append(self.attempt(f'ovs-ofctl #{self.rounds}', self.ofctl_round, self.rounds,
                                      self.args.ofctl_version))
            other = 'OpenFlow13' if self.args.ofctl_version != 'OpenFlow13' else 'OpenFlow14'
            if self.args.ofctl_both:
                ofctl.append(self.attempt('ovs-ofctl (other version)', self.ofctl_round,
                                          self.rounds + 1, other))
            self.summarise(ours, ofctl, edits)
        finally:
            self.teardown()
        self.res['elapsed_s'] = time.perf_counter() - t_start
        return self.res

    def summarise(self, ours, ofctl, edits) -> None:
        flows = self.res['flows']
        main = [o for o in ofctl if o['version'] == self.args.ofctl_version]
        wall = median([o['wall_s'] for o in ours])
        t_ofctl = median([o['flows_s'] for o in main])
        adds = [e for e in edits if e['kind'] == 'add']
        self.res.update(
            install={'rounds': ours, 'wall_s': wall, 'flows_per_s': flows / wall,
                     'applied_ms': median([o['applied_ms'] for o in ours]),
                     'flow_mods': ours[0]['flow_mods']},
            ofctl={'rounds': ofctl, 'version': self.args.ofctl_version, 'flows_s': t_ofctl,
                   'flows_per_s': flows / t_ofctl,
                   'identical_to_ours': next((o['identical_to_ours'] for o in ofctl
                                              if 'identical_to_ours' in o), None)},
            ratio=t_ofctl / wall,
            edit={'edits': edits,
                  'flow_mods': sorted({e['flow_mods'] for e in adds}),
                  'applied_ms': median([e['applied_ms'] for e in adds]),
                  'visible_ms': median([e['visible_ms'] for e in adds]),
                  'revert_applied_ms': median([e['applied_ms'] for e in edits
                                               if e['kind'] == 'revert']),
                  'max_applied_ms': max((e['applied_ms'] for e in edits), default=None)},
            problems=[p for o in ours + edits for p in o['problems']])


# --------------------------------------------------------------------------
# report

def cpu_text(cpu: dict) -> str:
    c, b = cpu.get('controller_cpu_s'), cpu.get('machine_busy')
    return (f'controller CPU {c:.2f} s of {cpu["wall_s"]:.2f} s'
            if c is not None else 'controller CPU ?') + \
        (f', machine {b * 100:.0f}% busy ({cpu["cpus"]} CPUs'
         + (f', {cpu["steal"] * 100:.0f}% stolen' if cpu.get('steal') else '') + ')'
         if b is not None else '')


def targets(results: list[dict]) -> list[dict]:
    out = []
    for r in results:
        if r['size'] == TARGET_RATIO_SIZE and r.get('ratio') is not None:
            out.append({'target': f'ratio >= {TARGET_RATIO} at {TARGET_RATIO_SIZE}',
                        'value': round(r['ratio'], 3), 'met': r['ratio'] >= TARGET_RATIO})
        e = r.get('edit')
        if e and e.get('max_applied_ms') is not None:
            out.append({'target': f'edit applied < {TARGET_EDIT_MS:g} ms at {r["size"]}',
                        'value': round(e['max_applied_ms'], 1),
                        'met': e['max_applied_ms'] < TARGET_EDIT_MS})
    ks = {tuple(r['edit']['flow_mods']) for r in results if r.get('edit')}
    if ks:
        out.append({'target': 'edit flow-mods the same at every size',
                    'value': sorted(k for ks_ in ks for k in ks_),
                    'met': len(ks) == 1 and len(next(iter(ks))) == 1})
    for r in results:
        if r.get('problems'):
            out.append({'target': f'no problems at {r["size"]}', 'value': r['problems'][:3],
                        'met': False})
    return out


def fmt(v, spec='.0f', single=False):
    if v is None:
        return '-'
    return format(v, spec) + ('*' if single else '')


def table(results: list[dict]) -> str:
    head = ['size', 'interfaces', 'flows', 'compile ms', 'validate ms', 'install s (ours)',
            'flows/s ours', 'flows/s ovs-ofctl bundle', 'ratio', 'edit flow-mods',
            'edit applied ms', 'edit visible ms']
    rows = []
    for r in results:
        inst, ofc, ed = r.get('install'), r.get('ofctl'), r.get('edit')
        n_inst = len(inst['rounds']) if inst else 0
        n_ofc = len([o for o in ofc['rounds'] if o['version'] == ofc['version']]) if ofc else 0
        n_adds = len([e for e in ed['edits'] if e['kind'] == 'add']) if ed else 0
        rows.append([
            str(r['size']), str(r['interfaces']), str(r['flows']),
            fmt(r['compile_ms']['median'], single=len(r['compile_ms']['runs']) == 1),
            fmt(r['validate_ms']['median'], single=len(r['validate_ms']['runs']) == 1),
            fmt(inst and inst['wall_s'], '.2f', n_inst == 1),
            fmt(inst and inst['flows_per_s'], '.0f', n_inst == 1),
            fmt(ofc and ofc['flows_per_s'], '.0f', n_ofc == 1),
            fmt(r.get('ratio'), '.2f', n_inst == 1 or n_ofc == 1),
            ('/'.join(map(str, ed['flow_mods'])) + ('*' if n_adds == 1 else '')) if ed else '-',
            fmt(ed and ed['applied_ms'], '.1f', n_adds == 1),
            fmt(ed and ed['visible_ms'], '.0f', n_adds == 1),
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: ' | '.join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return '\n'.join([line(head), '-+-'.join('-' * w for w in widths)] + [line(r) for r in rows])


def _runs(r: dict) -> str:
    text = (f'{r["size"]}: validate {len(r["validate_ms"]["runs"])}, '
            f'compile {len(r["compile_ms"]["runs"])}')
    if r.get('install'):
        ofc = r['ofctl']
        n_ofctl = len([o for o in ofc['rounds'] if o['version'] == ofc['version']])
        text += (f', install {len(r["install"]["rounds"])}, ovs-ofctl {n_ofctl}, '
                 f'edits {len(r["edit"]["edits"])} (table: adds only)')
    return text


def notes(results: list[dict]) -> list[str]:
    out = ['medians; * = a single run. Runs: ' + '; '.join(_runs(r) for r in results)]
    for r in results:
        inst = r.get('install')
        if not inst:
            continue
        split = inst['rounds'][0]['split_s']
        out.append(f'{r["size"]}: ours = connection -> all flows visible; controller "applied in" '
                   f'{inst["applied_ms"]:.0f} ms ({inst["flow_mods"]} flow-mods); first install '
                   'split: ' + ', '.join(f'{k} {v:.2f} s' for k, v in split.items()
                                         if v is not None)
                   + f'; {cpu_text(inst["rounds"][0]["cpu"])}')
        ed = r['edit']
        if ed['edits']:
            s = ed['edits'][0]['split_ms']
            out.append(f'{r["size"]}: edit visible = write -> flows in ovs-ofctl; '
                       'first edit split: '
                       + ', '.join(f'{k} {v:.0f} ms' for k, v in s.items() if v is not None)
                       + f'; {cpu_text(ed["edits"][0]["cpu"])}'
                       + (f'; reverts applied in {ed["revert_applied_ms"]:.1f} ms'
                          if ed['revert_applied_ms'] is not None else ''))
        ofc = r['ofctl']
        others = [o for o in ofc['rounds'] if o['version'] != ofc['version']]
        out.append(f'{r["size"]}: ovs-ofctl -O {ofc["version"]} --bundle add-flows '
                   f'{ofc["flows_s"]:.2f} s; identical to ours: {ofc["identical_to_ours"]}'
                   + ''.join(f'; -O {o["version"]} --bundle: {o["flows_s"]:.2f} s' for o in others)
                   + f'; {r.get("ovs", "?")} ovs-vswitchd: ports created in '
                     f'{r.get("port_setup_s", 0):.1f} s, teardown '
                     f'{r.get("port_teardown_s", 0):.1f} s')
    return out


# --------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='See the module docstring (head -95 bench/scale) for '
                                        'what each column means.')
    ap.add_argument('--sizes', default=','.join(map(str, DEFAULT_SIZES)),
                    help='comma-separated numbers of vif interfaces (default %(default)s)')
    ap.add_argument('--per-network', type=int, default=PER_NETWORK, metavar='N',
                    help='vifs per network (default %(default)s)')
    ap.add_argument('--rounds', type=int, default=0, metavar='N',
                    help='install rounds (ours and ovs-ofctl each); default 3, 1 above '
                         '--repeat-limit')
    ap.add_argument('--edits', type=int, default=0, metavar='N',
                    help='edits, alternating add/revert; default 5, 1 above --repeat-limit')
    ap.add_argument('--repeat-limit', type=int, default=2000, metavar='N',
                    help='sizes above this run once (default %(default)s)')
    ap.add_argument('--pure-budget', type=float, default=3.0, metavar='S',
                    help='seconds to spend repeating validate / compile (1-5 runs each)')
    ap.add_argument('--ofctl-version', default='OpenFlow14',
                    choices=['OpenFlow13', 'OpenFlow14', 'OpenFlow15'],
                    help='ovs-ofctl -O for the --bundle comparison (default %(default)s)')
    ap.add_argument('--ofctl-both', action='store_true',
                    help='also time the other of OpenFlow13/14 once per size')
    ap.add_argument('--ovs', choices=['private', 'shared'], default='private',
                    help='private (default): our own ovsdb-server + ovs-vswitchd (netdev '
                         'datapath, in a namespace of ours), removed in a second at the end; '
                         'shared: the machine\'s ovs-vswitchd (removing 10,000 ports from it '
                         'takes minutes)')
    ap.add_argument('--install-timeout', type=float, default=300, metavar='S')
    ap.add_argument('--pure-only', action='store_true',
                    help='only the in-process validate/compile timings (no OVS)')
    ap.add_argument('--json', action='store_true',
                    help='print JSON on stdout (progress and the table go to stderr)')
    ap.add_argument('--strict', action='store_true',
                    help='exit 1 when a measured target is missed')
    args = ap.parse_args(argv)
    try:
        sizes = [int(s.replace('_', '')) for s in args.sizes.split(',') if s.strip()]
    except ValueError:
        ap.error(f'--sizes: expected numbers, got {args.sizes!r}')
    if not sizes or min(sizes) < 1 or max(sizes) > 60000:
        ap.error('--sizes: 1 .. 60000 interfaces')

    out = sys.stderr if args.json else sys.stdout
    say = lambda m: print(m, file=out, flush=True)  # noqa: E731
    if not args.pure_only:
        problems = check_environment()
        if problems:
            say('cannot run here:\n  ' + '\n  '.join(problems))
            return 2

    def on_term(signum, frame):
        raise Interrupted(f'signal {signum}')
    signal.signal(signal.SIGTERM, on_term)

    results, t0 = [], time.perf_counter()
    try:
        for n in sizes:
            if args.pure_only:
                with tempfile.TemporaryDirectory(prefix='bench-scale-') as tmp:
                    results.append(SizeRun(PureLab(Path(tmp)), n, args, say).run())
                continue
            with Lab() as lab:
                results.append(SizeRun(lab, n, args, say).run())
    except (SetupError, NetlabError, AssertionError) as e:
        say(f'bench/scale: setup failed: {e}')
        return 2
    except (KeyboardInterrupt, Interrupted):
        say('bench/scale: interrupted; cleaned up')
        return 130
    tgt = [] if args.pure_only else targets(results)
    met = all(t['met'] for t in tgt)
    doc = {'machine': {'host': platform.node(), 'cpus': os.cpu_count(),
                       'python': platform.python_version(), 'ovs': ovs_version(),
                       'ovs_instance': args.ovs},
           'elapsed_s': time.perf_counter() - t0, 'sizes': results, 'targets': tgt,
           'meets_targets': met}
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    # the table (on stderr with --json, after the progress lines)
    if args.pure_only:
        for r in results:
            say(f'{r["size"]}: {r["flows"]} flows; validate {r["validate_ms"]["median"]:.0f} '
                f'ms, compile {r["compile_ms"]["median"]:.0f} ms')
    else:
        say('')
        say(table(results))
        for n_ in notes(results):
            say('  ' + n_)
        for t in tgt:
            say(f'  target {t["target"]}: {t["value"]} -> {"met" if t["met"] else "MISSED"}')
    say(f'  total {time.perf_counter() - t0:.0f} s')
    return 1 if (args.strict and not met) else 0


if __name__ == '__main__':
    sys.exit(main())
