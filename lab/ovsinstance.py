"""A private Open vSwitch: its own ovsdb-server and ovs-vswitchd.

Each instance has its own directory for the database, sockets, pidfiles and
logs, and runs inside a network namespace (or the root namespace).  Every
``ovs-*`` command it runs gets ``--db=``, ``-t`` or a ``unix:`` management
socket *and* ``OVS_RUNDIR``, so the machine's own Open vSwitch is never
touched, even by a command whose target we forgot to spell out.

    ovs = OvsInstance(lab.path('ovs-h1'), netns='nl1ab-h1', track=lab.track_process)
    ovs.start()
    ovs.vsctl('add-br', 'br0', '--', 'set', 'Bridge', 'br0', 'datapath_type=netdev')
    ovs.ofctl('dump-flows', 'br0')
    ovs.stop()              # kills exactly its two processes, by PID

Facts (OVS 3.1, Debian 12, no kernel module):

* Two netdev ovs-vswitchds cannot share a namespace: both create the tap
  ``ovs-netdev`` and the second one's bridges fail.  The machine's own
  vswitchd lives in the root namespace, so use ``netns=None`` only when you
  know nothing else uses the netdev datapath there.
* ``start()`` takes ~0.07 s (a host with two bridges ~0.3 s) and returns
  once ovs-vswitchd has applied the configuration, so nothing races it.
  Long rundirs are fine: OVS reaches long socket paths via /proc/self/fd.
* ``stop()`` SIGTERMs ovs-vswitchd first (it removes its taps on exit), then
  ovsdb-server.  A crashed run's processes are killed by the lab's state
  record (``track``) or with the namespace that holds them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from lab.proc import GiveUp, NetlabError, sh, stop_child, wait_for

SCHEMA = Path('/usr/share/openvswitch/vswitch.ovsschema')


class OvsInstance:
    """ovsdb-server + ovs-vswitchd with their own rundir, db, logs and pidfiles.

    ``rundir``: a directory of its own (created); everything lives there.
    ``netns``: run both daemons in this (existing) namespace; None = root.
    ``track``: called with each Popen right after it starts, e.g.
    ``lab.track_process``, so a crashed run's daemons are killed by PID.
    ``other_config``: extra ``Open_vSwitch . other_config`` keys set before
    ovs-vswitchd starts (e.g. ``{'n-handler-threads': '1'}``).
    """

    def __init__(self, rundir: Path | str, netns: Optional[str] = None,
                 track: Optional[Callable[[subprocess.Popen], None]] = None,
                 other_config: Optional[dict[str, str]] = None):
        self.dir = Path(rundir).resolve()
        self.netns = netns
        self.track = track
        self.other_config = dict(other_config or {})
        self.ovsdb: Optional[subprocess.Popen] = None
        self.vswitchd: Optional[subprocess.Popen] = None

    def __repr__(self) -> str:
        return f'<OvsInstance {self.dir} netns={self.netns} pids={self.pids()}>'

    def __enter__(self) -> 'OvsInstance':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- paths and environment ------------------------------------------------
    @property
    def db_sock(self) -> Path:
        return self.dir / 'db.sock'

    @property
    def db_url(self) -> str:
        return f'unix:{self.db_sock}'

    def ctl(self, daemon: str = 'ovs-vswitchd') -> Path:
        """The unixctl socket of 'ovs-vswitchd' or 'ovsdb-server'."""
        return self.dir / f'{daemon}.ctl'

    def mgmt(self, bridge: str) -> str:
        """The OpenFlow management socket of one of our bridges (for ovs-ofctl)."""
        return f'unix:{self.dir / bridge}.mgmt'

    @property
    def env(self) -> dict[str, str]:
        """os.environ with every OVS directory pointing at ours."""
        d = str(self.dir)
        return dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)

    def _in_ns(self, argv: Sequence[object]) -> list[str]:
        words = [str(a) for a in argv]
        return ['ip', 'netns', 'exec', self.netns, *words] if self.netns else words

    # -- life cycle -------------------------------------------------------------
    def start(self, timeout: float = 20) -> 'OvsInstance':
        """Create the database, start both daemons, wait until vswitchd is up."""
        if self.running():
            return self
        if not SCHEMA.exists():
            raise NetlabError(f'{SCHEMA} not found: is openvswitch-switch installed?')
        self.dir.mkdir(parents=True, exist_ok=True)
        db = self.dir / 'conf.db'
        if not db.exists():     # else a restart: the bridges come back from the db
            sh(['ovsdb-tool', 'create', str(db), str(SCHEMA)])
        for stale in (self.db_sock, self.ctl('ovsdb-server'), self.ctl()):
            stale.unlink(missing_ok=True)   # left by a SIGKILL; we wait for them below
        self.ovsdb = self._spawn('ovsdb-server', [
            db, f'--remote=punix:{self.db_sock}'])
        wait_for(lambda: self._alive('ovsdb-server', self.ovsdb) and self.db_sock.exists(),
                 timeout=timeout, interval=0.02, what=f'ovsdb-server in {self.dir}')
        self.vsctl('--no-wait', 'init', *self._other_config_args())
        self.vswitchd = self._spawn('ovs-vswitchd', [self.db_url])
        wait_for(lambda: self._alive('ovs-vswitchd', self.vswitchd) and
                 self.ctl().exists(), timeout=timeout, interval=0.02,
                 what=f'ovs-vswitchd in {self.dir}')
        # a vsctl that changes something waits until vswitchd has applied the
        # whole configuration (bridges of a restart included); a no-op never waits
        self.vsctl(f'--timeout={int(timeout)}', 'set', 'Open_vSwitch', '.',
                   f'external_ids:lab-started={time.time_ns()}')
        return self

    def _other_config_args(self) -> list[str]:
        if not self.other_config:
            return []
        return ['--', 'set', 'Open_vSwitch', '.'] + \
            [f'other_config:{k}={v}' for k, v in self.other_config.items()]

    def _spawn(self, daemon: str, args: Sequence[object]) -> subprocess.Popen:
        """Start a daemon in the foreground (no --detach/--monitor), so the
        Popen's PID is the daemon itself and the only process to kill."""
        argv = self._in_ns([daemon, *args,
                            f'--unixctl={self.ctl(daemon)}',
                            f'--pidfile={self.dir / daemon}.pid',
                            f'--log-file={self.dir / daemon}.log',
                            '-vconsole:off'])
        with open(self.dir / f'{daemon}.out', 'ab') as out:
            # own session: a Ctrl-C in the terminal goes to the test, which
            # then stops us in order, instead of killing us mid-test
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=self.env,
                                 start_new_session=True)
        if self.track is not None:
            self.track(p)
        return p

    def _alive(self, daemon: str, p: Optional[subprocess.Popen]) -> bool:
        if p is None or p.poll() is not None:
            log = self.dir / f'{daemon}.log'
            tail = log.read_text(errors='replace')[-2000:] if log.exists() else ''
            raise GiveUp(f'{daemon} exited ({p and p.returncode}); log {log}:\n{tail}')
        return True

    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.ovsdb, self.vswitchd))

    def pids(self) -> list[int]:
        return [p.pid for p in (self.vswitchd, self.ovsdb) if p is not None and p.poll() is None]

    def stop(self, grace: float = 5.0) -> None:
        """Stop ovs-vswitchd, then ovsdb-server: exactly these PIDs (idempotent)."""
        for p in (self.vswitchd, self.ovsdb):
            if p is not None:
                stop_child(p, grace)

    # -- commands ---------------------------------------------------------------
    def _run(self, argv: Sequence[object], check: bool, timeout: float,
             input: Optional[str] = None) -> str:
        words = [str(a) for a in argv]
        try:
            cp = subprocess.run(words, capture_output=True, text=True, timeout=timeout,
                                env=self.env, input=input)
        except subprocess.TimeoutExpired as e:
            raise NetlabError(f'timed out after {timeout}s: {shlex.join(words)}') from e
        if check and cp.returncode != 0:
            raise NetlabError(f'command failed (exit {cp.returncode}): {shlex.join(words)}\n'
                              f'{(cp.stderr or cp.stdout).strip()[:2000]}')
        return cp.stdout

    def vsctl(self, *args: object, check: bool = True, timeout: float = 20) -> str:
        """``ovs-vsctl --db=<ours> ARGS``; returns stdout."""
        return self._run(['ovs-vsctl', f'--db={self.db_url}', *args], check, timeout)

    def ofctl(self, command: str, bridge: str, *args: object, check: bool = True,
              timeout: float = 20, version: str = 'OpenFlow13',
              input: Optional[str] = None) -> str:
        """``ovs-ofctl -O VERSION COMMAND unix:<rundir>/BRIDGE.mgmt ARGS``.

        ovs-ofctl needs no namespace: it talks to vswitchd over that socket.
        ``input`` is fed on stdin (use ``-`` as the file for add-flows)."""
        return self._run(['ovs-ofctl', '-O', version, command, self.mgmt(bridge), *args],
                         check, timeout, input)

    def appctl(self, *args: object, target: str = 'ovs-vswitchd', check: bool = True,
               timeout: float = 20) -> str:
        """``ovs-appctl -t <rundir>/<target>.ctl ARGS``."""
        return self._run(['ovs-appctl', '-t', self.ctl(target), *args], check, timeout)

    def rss_kib(self) -> int:
        """Resident memory of both daemons together (KiB), from /proc."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f'/proc/{pid}/status').read_text().splitlines():
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        return total

    def cpu_seconds(self) -> float:
        """CPU time (user + system) both daemons have used so far."""
        tck, total = os.sysconf('SC_CLK_TCK'), 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                stat = Path(f'/proc/{pid}/stat').read_text()
                fields = stat[stat.rindex(')') + 2:].split()
                total += (int(fields[11]) + int(fields[12])) / tck
        return total

