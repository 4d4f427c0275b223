"""The project controller (``ryu-manager ... controller.app``) as a child process.

It listens on 127.0.0.1 only, so test traffic and OpenFlow stay on the
machine.  Its output goes to a log file that failing tests quote.  Prefer
``lab.controller(...)``, which also stops it when the lab closes (and, after
a crash, lets the next lab kill it by PID and start time).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Optional, Sequence, Union

from lab.proc import (
    GiveUp,
    NetlabError,
    death_signal_preexec,
    free_tcp_port,
    proc_starttime,
    stop_child,
    tcp_listening,
    wait_for,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def ryu_manager(repo: Path = REPO_ROOT) -> str:
    """The project's ``ryu-manager`` launcher: the repository's venv, else the
    running interpreter's, else the PATH."""
    for cand in (repo / '.venv' / 'bin' / 'ryu-manager', Path(sys.executable).parent / 'ryu-manager'):
        if cand.exists():
            return str(cand)
    found = shutil.which('ryu-manager')
    if not found:
        raise NetlabError('ryu-manager not found (run `make setup`)')
    return found


class Controller:
    """The project controller as a subprocess started from the repo root,
    listening on 127.0.0.1:port.

    Output (stdout+stderr) goes to ``log_path``; read it with ``log_text()``.
    """

    def __init__(self, topology: Union[str, Path], port: Optional[int] = None,
                 log_path: Union[str, Path, None] = None,
                 extra_args: Sequence[str] = (), env: Optional[dict] = None,
                 repo: Union[str, Path] = REPO_ROOT, app: str = 'controller.app',
                 netns: Optional[str] = None):
        self.netns = netns          # run inside this network namespace (None: this one)
        # a file, or an etcd:// URL (kept as text: Path would fold its '//')
        self.topology: Union[str, Path] = topology if str(topology).startswith('etcd://') \
            else Path(topology)
        self.port = port or free_tcp_port()
        self.repo = Path(repo)
        self.log_path = Path(log_path) if log_path else \
            Path(tempfile.mkstemp(prefix='vnet-controller-', suffix='.log')[1])
        self.extra_args = list(extra_args)
        self.env = env
        self.app = app
        self.proc: Optional[subprocess.Popen] = None
        self.starttime: Optional[int] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def argv(self) -> list[str]:
        inside = ['ip', 'netns', 'exec', self.netns] if self.netns else []
        return [*inside, ryu_manager(self.repo),
                '--ofp-tcp-listen-port', str(self.port),
                '--ofp-listen-host', '127.0.0.1',
                '--topology', str(self.topology),
                *self.extra_args, self.app]

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def __repr__(self):
        return f'<Controller port={self.port} pid={self.pid} log={self.log_path}>'

    def start(self, wait: bool = True, timeout: float = 30) -> 'Controller':
        """Start it; with ``wait``, return once it listens on its port (raise,
        quoting its log, if it exits or does not listen in ``timeout``)."""
        if self.proc and self.proc.poll() is None:
            raise NetlabError(f'{self!r} is already running')
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault('PYTHONUNBUFFERED', '1')
        self._log = open(self.log_path, 'ab')
        self._log.write(f'### netlab: {shlex.join(self.argv)}\n'.encode())
        self._log.flush()
        # its own session: a Ctrl-C meant for the test run does not hit it first
        self.proc = subprocess.Popen(self.argv, cwd=self.repo, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=death_signal_preexec())
        self.starttime = proc_starttime(self.proc.pid)
        if wait:
            self.wait_listening(timeout)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def listening(self) -> bool:
        return tcp_listening(self.port, self.netns)

    def _exit_status(self) -> str:
        return str(self.proc.returncode) if self.proc else 'never started'

    def wait_listening(self, timeout: float = 30) -> None:
        def ready():
            if not self.running():
                raise GiveUp(
                    f'controller exited with {self._exit_status()} '
                    f'before listening on 127.0.0.1:{self.port}; log '
                    f'{self.log_path}:\n{self.log_tail()}')
            return self.listening()
        wait_for(ready, timeout=timeout, interval=0.1,
                 what=f'controller to listen on 127.0.0.1:{self.port}',
                 state=lambda: f'log {self.log_path}:\n{self.log_tail()}')

    def assert_running(self) -> None:
        """Raise AssertionError (with the log tail) if the controller died."""
        if not self.running():
            raise AssertionError(f'controller is not running (exit {self._exit_status()}); '
                                 f'log {self.log_path}:\n{self.log_tail()}')

    def stop(self, grace: float = 5.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after ``grace`` s; only this PID. Returns the
        exit code (None if never started)."""
        if self.proc is None:
            return None
        stop_child(self.proc, grace)
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def pause(self) -> None:
        """SIGSTOP: the controller stops answering (echo requests time out)."""
        self.assert_running()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def log_tail(self, lines: int = 60) -> str:
        return '\n'.join(self.log_text().splitlines()[-lines:])
