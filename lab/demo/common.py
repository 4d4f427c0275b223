"""What both demos share beyond planning, probing and reporting: progress
lines, the errors that stop a build, cleanup that survives Ctrl-C, waiting
with a message, and reading the topology file.

Needs no Mininet: the Mininet demo (``lab.demo.build``) and the multi-host
demo (``lab.demo.hosts``) both use it.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Callable, List, NoReturn, Tuple

from controller.topology import Topology, load_topology
from controller.topology.errors import TopologyError
from lab.proc import NetlabError, wait_for

MININET_PROG = 'vnet_mininet'   # mininet/vnet_mininet.py, as its messages name it

#: Prints a progress line (or nothing, with --check).
Say = Callable[[str], None]


class BuildError(RuntimeError):
    """The network cannot be built (as opposed to an invalid topology file)."""


def sayer(quiet: bool) -> Say:
    if quiet:
        return lambda line: None
    return lambda line: print(line, flush=True)


def load(path: str, prog: str, status: int) -> Topology:
    """load_topology, or the error message and SystemExit(status)."""
    try:
        return load_topology(path)
    except TopologyError as err:
        print(f'{prog}: {path} is not a valid topology file:', file=sys.stderr)
        print(str(err), file=sys.stderr)
    except OSError as err:
        print(f'{prog}: cannot read {path}: {err.strerror or err}', file=sys.stderr)
    raise SystemExit(status)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float,
               waiting: str, say: Say) -> bool:
    """wait_for that tells the user once what it waits for; False on timeout."""
    told = False

    def check() -> bool:
        nonlocal told
        if predicate():
            return True
        if not told:
            say(waiting)
            told = True
        return False

    try:
        wait_for(check, timeout=timeout, interval=interval, what=waiting)
    except AssertionError:
        return False
    return True


class Cleanup:
    """Callbacks run in reverse order exactly once, with signals held off."""

    def __init__(self, prog: str = MININET_PROG) -> None:
        self.prog = prog
        self._callbacks: List[Tuple[str, Callable[..., Any], tuple]] = []

    def add(self, what: str, fn: Callable[..., Any], *args) -> None:
        self._callbacks.append((what, fn, args))

    def run(self) -> None:
        # a second Ctrl-C must not cut the cleanup short
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._callbacks:
                what, fn, args = self._callbacks.pop()
                try:
                    fn(*args)
                except Exception as exc:  # keep cleaning up
                    print(f'{self.prog}: cleanup: {what} failed: {exc}', file=sys.stderr)
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _on_sigterm(signum, frame) -> NoReturn:
    raise SystemExit(128 + signum)


def run_cleanly(prog: str, cleanup: Cleanup, body: Callable[[], int],
                failed: Callable[[], None] = lambda: None) -> int:
    """``body()``'s exit status, ``cleanup`` run afterwards whatever happens
    (SIGTERM is made a SystemExit first): a BuildError or NetlabError is
    printed, then ``failed()`` (say, a log tail), status 1; Ctrl-C 130;
    SIGTERM 143."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return body()
    except (BuildError, NetlabError) as err:
        print(f'{prog}: {err}', file=sys.stderr)
        failed()
        return 1
    except KeyboardInterrupt:
        print(f'\n{prog}: interrupted, cleaning up', file=sys.stderr)
        return 130
    except SystemExit as exc:
        print(f'{prog}: terminated, cleaning up', file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        cleanup.run()
