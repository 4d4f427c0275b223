"""Commands and processes: the lab's lowest layer.

``sh`` runs a command and, when it fails, raises ``NetlabError`` with the
command line and its output, so a failing test says what went wrong.
``wait_for`` polls a predicate and, on timeout, says what it last saw.

Processes the lab starts are identified by PID *and* start time (field 22 of
``/proc/PID/stat``): a PID recorded by a run that crashed may belong to an
unrelated process by now, and the start time tells them apart, so cleanup
never kills a stranger.  Children started from the main thread also get
SIGTERM when the process that started them dies (``death_signal_preexec``),
so a killed test run does not leave controllers or iperf3 servers behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

#: The commands a lab's users run (see check_environment).
LAB_TOOLS = ('ovs-vsctl', 'ovs-ofctl', 'ip', 'ethtool', 'iperf3', 'ping', 'ss')


class NetlabError(RuntimeError):
    """A lab command failed; the message carries the command and its output."""


class GiveUp(AssertionError):
    """Raised by a wait_for predicate to stop waiting at once (e.g. the
    process it waits for has died); propagates unchanged."""


def sh(args: Sequence[str], check: bool = True, timeout: float = 30,
       input: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run a command (argv list) with text output captured.

    With ``check`` a non-zero exit raises NetlabError naming the command and
    quoting its stderr/stdout.
    """
    args = [str(a) for a in args]
    try:
        cp = subprocess.run(args, capture_output=True, text=True,
                            timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise NetlabError(f'timed out after {timeout}s: {shlex.join(args)}') from e
    except FileNotFoundError as e:
        raise NetlabError(f'command not found: {args[0]} ({shlex.join(args)})') from e
    if check and cp.returncode != 0:
        out = (cp.stderr.strip() or cp.stdout.strip() or '(no output)')
        raise NetlabError(f'command failed (exit {cp.returncode}): '
                          f'{shlex.join(args)}\n{out}')
    return cp


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0,
             interval: float = 0.2, what: Optional[str] = None,
             state: Optional[Callable[[], Any]] = None) -> Any:
    """Poll ``predicate()`` until it returns something truthy; return that.

    An exception from the predicate (including AssertionError) counts as
    "not yet" and is retried, except ``GiveUp``, which propagates at once.
    On timeout raise AssertionError naming ``what`` (default: the predicate's
    name) and the last observed value -- the predicate's last return value or
    the exception it last raised -- plus ``state()`` if given, so a failing
    test says what it saw, not just that it waited.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except GiveUp:
            raise
        except Exception as e:  # observed state is "it raised"
            last = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    desc = what or getattr(predicate, '__name__', repr(predicate))
    msg = f'timed out after {timeout:g}s waiting for {desc}; last observed: {last!r}'
    if state is not None:
        try:
            msg += f'\nstate: {state()}'
        except Exception as e:
            msg += f'\nstate: (could not be read: {e!r})'
    raise AssertionError(msg)


def check_environment(tools: Sequence[str] = LAB_TOOLS) -> list[str]:
    """Problems that stop a lab here (empty list: all good): not root, one
    of ``tools`` missing, Open vSwitch not running."""
    problems = []
    if os.geteuid() != 0:
        problems.append('needs root (network namespaces, Open vSwitch); '
                        f'running as uid {os.geteuid()}')
    problems += [f'{tool} is not installed (run `make setup`)'
                 for tool in tools if shutil.which(tool) is None]
    if shutil.which('ovs-vsctl'):
        cp = sh(['ovs-vsctl', '--timeout=5', 'show'], check=False)
        if cp.returncode != 0:
            problems.append('Open vSwitch is not running (ovs-vsctl show: '
                            f'{cp.stderr.strip() or cp.returncode}); start it with '
                            '`/usr/share/openvswitch/scripts/ovs-ctl start '
                            '--system-id=random` or `make setup`')
    return problems


def free_tcp_port(host: str = '127.0.0.1') -> int:
    """A TCP port that is free on ``host`` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tcp_listening(port: int, netns: Optional[str] = None) -> bool:
    """Does a socket listen on TCP ``port`` (in namespace ``netns``)?

    Asks ``ss`` rather than connecting: a connection to the controller's
    port would be an OpenFlow session it has to deal with."""
    inside = ['ip', 'netns', 'exec', netns] if netns else []
    cp = sh([*inside, 'ss', '-Htln', f'sport = :{port}'], check=False)
    return bool(cp.stdout.strip())


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the process that started it dies.

    Linux sends it when the *thread* that forked the child exits, so only
    use it from the main thread (see death_signal_preexec)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def death_signal_preexec() -> Optional[Callable[[], None]]:
    """The preexec_fn for children that must die with us: _die_with_parent
    from the main thread, else None (a child started from a short-lived
    worker thread would be killed with it)."""
    if threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


def proc_starttime(pid: int) -> Optional[int]:
    """Start time (clock ticks since boot) of a live process, else None.

    A zombie counts as gone: it has exited, and where PID 1 reaps orphans
    only every few seconds, waiting for it to vanish would stall cleanup.
    """
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: split after its ')'
    fields = stat[stat.rindex(')') + 2:].split()
    if fields[0] in ('Z', 'X'):             # field 3: the state
        return None
    return int(fields[19])  # field 22 overall


def pid_alive(pid: int, starttime: Optional[int]) -> bool:
    """Is ``pid`` alive and (when ``starttime`` is given) the same process?"""
    st = proc_starttime(pid)
    return st is not None and (starttime is None or st == starttime)


def kill_pid(pid: int, starttime: Optional[int], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, one process identified by PID + start time."""
    if not pid_alive(pid, starttime):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)   # a stopped process cannot act on TERM
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid, starttime):
            return
        time.sleep(0.05)
    if pid_alive(pid, starttime):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_child(proc: subprocess.Popen, grace: float = 5.0) -> Optional[int]:
    """SIGTERM our child ``proc``, SIGKILL after ``grace`` s; its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)   # a paused child cannot act on TERM
            proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)
    return proc.returncode
