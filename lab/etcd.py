"""Real ``etcd`` members (Debian etcd-server 3.4) for tests and benchmarks.

One member or a cluster of several, each a ``/usr/bin/etcd`` process on
free ports of ``ip`` (default 127.0.0.1; the multi-host lab passes its
management address so agents in host namespaces reach it), data dirs in
/dev/shm (else the lab's temporary directory), every process registered with
the Lab, so ``close()`` -- or the next Lab after a crash -- stops it, and the
data of a lab that is over is removed by the next cluster's start::

    cluster = EtcdCluster(lab, size=3).start()
    url = cluster.store_url('vnet')          # etcd://127.0.0.1:P1,...:P3/vnet
    cluster.kill(0)                          # SIGKILL: a member fails
    cluster.restart(0)                       # same data dir: it rejoins

etcd 3.4 serves the v3 JSON gateway under ``/v3/`` (and ``/v3beta/``).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from lab.proc import GiveUp, NetlabError, death_signal_preexec, free_tcp_port, stop_child, wait_for

if TYPE_CHECKING:
    from lab.core import Lab

ETCD = '/usr/bin/etcd'


def etcd_binary() -> str:
    found = shutil.which('etcd') or (ETCD if Path(ETCD).exists() else None)
    if not found:
        raise NetlabError('etcd not found (Debian package etcd-server; run `make setup`)')
    return found


SHM = Path('/dev/shm')


def data_root(lab: Lab) -> Path:
    """Where the lab's etcd members keep their data: in memory when /dev/shm is
    there (etcd fsyncs every write; on a disk shared with other jobs that can
    take seconds). Removed by stop(), at our exit, or -- after a crash -- by the
    next cluster's start once the lab's record is gone (sweep_data)."""
    if not SHM.is_dir() or not os.access(SHM, os.W_OK):
        return lab.path('etcd')
    sweep_data()
    root = SHM / f'netlab-{lab.prefix}-etcd'
    # removed at our exit at the latest (the lab's own tmp dir goes in close())
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def sweep_data() -> None:
    """Remove the etcd data of labs that are over (their record in STATE_DIR
    is removed by close() or by the next lab's cleanup after a crash)."""
    from lab.core import STATE_DIR
    for d in SHM.glob('netlab-*-etcd'):
        prefix = d.name[len('netlab-'):-len('-etcd')]
        if not (STATE_DIR / f'{prefix}.json').exists():
            shutil.rmtree(d, ignore_errors=True)


class EtcdMember:
    """One etcd process: its name, ports, data dir and log."""

    def __init__(self, lab: Lab, name: str, ip: str, token: str, root: Path):
        self.lab, self.name, self.ip, self.token = lab, name, ip, token
        self.client_port = free_tcp_port(ip)
        self.peer_port = free_tcp_port(ip)
        self.data_dir = root / f'{token}-{name}'
        self.log_path = lab.path(f'etcd-{token}-{name}.log')
        self.proc: Optional[subprocess.Popen] = None
        self.initial_cluster = ''

    @property
    def client_url(self) -> str:
        return f'http://{self.ip}:{self.client_port}'

    @property
    def endpoint(self) -> str:
        return f'{self.ip}:{self.client_port}'

    @property
    def peer_url(self) -> str:
        return f'http://{self.ip}:{self.peer_port}'

    def __repr__(self) -> str:
        return f'<EtcdMember {self.name} {self.client_url} pid={self.proc and self.proc.pid}>'

    def argv(self) -> list[str]:
        return [etcd_binary(), '--name', self.name, '--data-dir', str(self.data_dir),
                '--listen-client-urls', self.client_url,
                '--advertise-client-urls', self.client_url,
                '--listen-peer-urls', self.peer_url,
                '--initial-advertise-peer-urls', self.peer_url,
                '--initial-cluster', self.initial_cluster,
                '--initial-cluster-token', self.token,
                '--initial-cluster-state', 'new',
                # fast elections: a killed leader is replaced in well under a second
                '--heartbeat-interval', '50', '--election-timeout', '500',
                '--log-outputs', 'stderr', '--logger', 'zap']

    def start(self) -> 'EtcdMember':
        if self.running():
            raise NetlabError(f'{self!r} is already running')
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=death_signal_preexec())
        self.lab.track_process(self.proc)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the member fails without a word (no graceful leave)."""
        if self.proc is not None and self.running():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_child(self.proc, grace=3.0)

    def healthy(self) -> bool:
        """Does the member answer /health with a leader elected?"""
        try:
            with urllib.request.urlopen(self.client_url + '/health', timeout=1) as r:
                return json.load(r).get('health') == 'true'
        except (OSError, ValueError):
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return ''


class EtcdCluster:
    """``size`` members forming one cluster (size 1: a single member)."""

    _count = 0

    def __init__(self, lab: Lab, size: int = 1, ip: str = '127.0.0.1'):
        if size < 1:
            raise ValueError('an etcd cluster has at least one member')
        EtcdCluster._count += 1
        token = f'{lab.prefix}e{EtcdCluster._count}'
        self.lab = lab
        self.data = data_root(lab)
        self.members = [EtcdMember(lab, f'm{i}', ip, token, self.data) for i in range(size)]
        initial = ','.join(f'{m.name}={m.peer_url}' for m in self.members)
        for m in self.members:
            m.initial_cluster = initial

    def start(self, timeout: float = 20) -> 'EtcdCluster':
        """Start every member; return once all answer healthy."""
        for m in self.members:
            m.start()
        self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, members: Optional[list[int]] = None, timeout: float = 20) -> None:
        chosen = [self.members[i] for i in members] if members is not None else \
            [m for m in self.members if m.running()]

        def ready() -> bool:
            for m in chosen:
                if not m.running():
                    raise GiveUp(f'{m!r} exited:\n{m.log_tail()}')
            return all(m.healthy() for m in chosen)
        wait_for(ready, timeout=timeout, interval=0.05, what='etcd members to be healthy',
                 state=lambda: '\n'.join(f'{m!r}:\n{m.log_tail(8)}' for m in chosen))

    def kill(self, i: int) -> None:
        self.members[i].kill()

    def restart(self, i: int, wait: bool = True) -> None:
        """Start member i again on its data dir and ports (it rejoins)."""
        self.members[i].start()
        if wait:
            self.wait_healthy([i])

    def stop(self) -> None:
        """Stop every member and remove their data."""
        for m in self.members:
            m.stop()
        for m in self.members:
            shutil.rmtree(m.data_dir, ignore_errors=True)

    @property
    def client_urls(self) -> list[str]:
        return [m.client_url for m in self.members]

    @property
    def endpoints(self) -> str:
        """``HOST:PORT,HOST:PORT`` of every member (for an etcd:// URL)."""
        return ','.join(m.endpoint for m in self.members)

    def store_url(self, prefix: str = 'vnet') -> str:
        """The ``etcd://HOST:PORT[,...]/PREFIX`` URL for ``--topology``/``--store``."""
        return f'etcd://{self.endpoints}/{prefix}'
