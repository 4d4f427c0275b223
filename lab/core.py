"""The Lab: what one run creates, and removing all of it again, even after a crash.

Naming
------
Each ``Lab`` has a short unique *prefix* (``nl`` + 3 hex digits unless one is
given).  Bridge names get it prepended (``lab.bridge('br0')`` creates OVS
bridge ``<prefix>br0``; the controller identifies datapaths by dpid, not by
name), namespaces are ``<prefix>-<host name>``.  OVS port names are used
*exactly* as given, because they must match the topology file: build them
with ``lab.ifname('p1')`` (= ``<prefix>p1``) so parallel runs cannot clash.

Cleanup
-------
The lab records what it creates in ``/run/netlab/<prefix>.json`` and removes
all of it in ``close()`` (also on exceptions).  When a run dies without
cleaning up (SIGKILL, power cut), the next ``Lab`` start finds that record,
sees its owner process is gone and removes what it lists: bridges,
namespaces (and processes still inside them), veths, and processes (matched
by PID *and* start time, so a recycled PID is never touched).  With an
explicit ``prefix=``, bridges, namespaces and veths whose names start with
that prefix are swept at start as well.

Code that creates resources itself registers them *before* creating them,
so a crash midway is covered too: ``lab.track_netns(name)``,
``lab.track_link(name)``, ``lab.track_bridge(name)``,
``lab.track_process(popen)``.

Set ``NETLAB_KEEP_TMP=1`` to keep each lab's temporary directory (controller
logs, generated topologies) after it closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Union

from lab.controller import Controller
from lab.netns import Host, build_host, check_host_names, is_veth, link_exists, list_netns
from lab.ovs import Bridge, bridge_args, check_ifname, list_bridges, ofctl
from lab.proc import NetlabError, check_environment, kill_pid, pid_alive, proc_starttime, sh, stop_child

STATE_DIR = Path(os.environ.get('NETLAB_STATE_DIR', '/run/netlab'))
_PREFIX_RE = re.compile(r'[a-z][a-z0-9]{1,7}')


class Lab:
    """Creates bridges, hosts and controllers, and removes them all on exit.

    Use as a context manager (``with Lab() as lab:``) or call ``start()`` and
    ``close()`` yourself. ``close()`` is idempotent and never raises for a
    resource that is already gone; it raises NetlabError at the end if
    something could not be removed.
    """

    def __init__(self, prefix: Optional[str] = None, tmp_dir: Union[str, Path, None] = None,
                 keep_tmp: Optional[bool] = None):
        if prefix is not None and not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f'prefix {prefix!r}: 2-8 lower-case letters/digits, '
                             'starting with a letter')
        self._explicit_prefix = prefix is not None
        self.prefix = prefix or ''
        self._tmp_arg = tmp_dir
        self.keep_tmp = (os.environ.get('NETLAB_KEEP_TMP') == '1') if keep_tmp is None \
            else keep_tmp
        self.tmp: Path = Path()
        self.bridges: list[Bridge] = []
        self.hosts: list[Host] = []
        self.controllers: list[Controller] = []
        self._links: list[str] = []
        self._netns: list[str] = []         # tracked without a Host (track_netns)
        self._bridge_names: list[str] = []  # tracked without a Bridge (track_bridge)
        self._procs: list[tuple[subprocess.Popen, Optional[int]]] = []
        self._started = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> 'Lab':
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        # when the body failed, its exception is the news: cleanup problems
        # are then printed instead of replacing it
        self.close(raise_errors=exc_type is None)

    def start(self) -> 'Lab':
        if self._started:
            return self
        problems = check_environment()
        if problems:
            raise NetlabError('cannot build a lab here:\n  ' + '\n  '.join(problems))
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        cleanup_stale()
        if self._explicit_prefix:
            self._claim_explicit_prefix()
        else:
            self.prefix = self._pick_prefix()
        if self._tmp_arg:
            self.tmp = Path(self._tmp_arg)
            self.tmp.mkdir(parents=True, exist_ok=True)
        else:
            self.tmp = Path(tempfile.mkdtemp(prefix=f'netlab-{self.prefix}-'))
        self._started = True
        self._save()
        return self

    def _claim_explicit_prefix(self) -> None:
        owner = _read_state(self.state_file)
        if owner and pid_alive(owner.get('pid', -1), owner.get('starttime')):
            raise NetlabError(f'prefix {self.prefix!r} is in use by live '
                              f'process {owner["pid"]}')
        sweep_prefix(self.prefix)

    def _pick_prefix(self) -> str:
        taken = set(list_netns()) | set(list_bridges()) | set(os.listdir('/sys/class/net'))
        for _ in range(100):
            p = 'nl' + secrets.token_hex(2)[:3]
            if any(n.startswith(p) for n in taken):
                continue
            try:   # claim it atomically: parallel runs may pick the same one
                os.close(os.open(STATE_DIR / f'{p}.json', os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            return p
        raise NetlabError('could not find a free lab prefix')

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f'{self.prefix}.json'

    def _save(self) -> None:
        data = {
            'prefix': self.prefix,
            'pid': os.getpid(),
            'starttime': proc_starttime(os.getpid()),
            'tmp': str(self.tmp),
            'bridges': self._all_bridges(),
            'netns': self._all_netns(),
            'links': list(self._links),
            'processes': [[c.pid, c.starttime] for c in self.controllers if c.pid]
                         + [[p.pid, st] for p, st in self._procs],
        }
        tmp = self.state_file.with_suffix('.tmp')
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.state_file)

    def _need_started(self):
        if not self._started or self._closed:
            raise NetlabError('lab is not started (use `with Lab() as lab:`)')

    # -- resources created by others, removed with the lab ------------------
    def track_netns(self, name: str) -> None:
        """Remove network namespace ``name`` (and processes in it) at close()
        and after a crash. Call before creating it."""
        self._netns.append(name)
        self._save()

    def track_link(self, name: str) -> None:
        """Remove interface ``name`` (a veth: both ends) at close() and after a crash."""
        self._links.append(name)
        self._save()

    def track_bridge(self, name: str) -> None:
        """Remove OVS bridge ``name`` at close() and after a crash."""
        self._bridge_names.append(name)
        self._save()

    def track_process(self, p: subprocess.Popen) -> None:
        """Kill ``p`` (by PID and start time) at close() and after a crash."""
        self._procs.append((p, proc_starttime(p.pid)))
        self._save()

    _track_process = track_process   # the older name, used by bench/

    def _all_bridges(self) -> list[str]:
        return [b.name for b in self.bridges] + self._bridge_names

    def _all_netns(self) -> list[str]:
        return [h.ns for h in self.hosts] + self._netns

    # -- names -------------------------------------------------------------
    def ifname(self, base: str) -> str:
        """A lab-unique interface/port name: prefix + base (<= 15 chars)."""
        return check_ifname(self.prefix + base)

    def path(self, name: str) -> Path:
        """A path in the lab's temporary directory."""
        return self.tmp / name

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` to a file in the lab's temporary directory."""
        p = self.path(name)
        p.write_text(text)
        return p

    # -- bridges -----------------------------------------------------------
    def bridge(self, name: str, dpid: int, controller_port: Optional[int] = None,
               max_backoff_ms: int = 1000, service_port: bool = True) -> Bridge:
        """An OVS bridge ``<prefix><name>`` for the controller.

        datapath_type=netdev, fail_mode=secure, protocols=OpenFlow13,
        datapath-id = ``dpid`` (16 hex digits), in-band control disabled,
        with ``controller_port`` an out-of-band controller
        tcp:127.0.0.1:PORT, and its service port as `vnetctl setup` adds it
        (``service_port=False``: DHCP and DNS by packet-ins; see ovs.bridge_args).
        """
        return self._add_bridge(name, int(dpid), controller_port, max_backoff_ms, service_port)

    def normal_bridge(self, name: str) -> Bridge:
        """A standalone bridge ``<prefix><name>`` with one flow,
        ``priority=0 actions=NORMAL``, and no controller (benchmark baseline)."""
        b = self._add_bridge(name, None, None)
        ofctl(b, 'del-flows')
        ofctl(b, 'add-flow', 'priority=0,actions=NORMAL')
        return b

    def _add_bridge(self, name: str, dpid: Optional[int], port: Optional[int],
                    max_backoff_ms: int = 1000, service_port: bool = False) -> Bridge:
        self._need_started()
        br = self.ifname(name)
        if br in list_bridges():
            raise NetlabError(f'bridge {br} exists already (not created by this lab)')
        b = Bridge(self, br, dpid, port, service_port)
        self.bridges.append(b)
        self._save()          # record before creating: a crash midway is cleaned
        sh(bridge_args(br, dpid, port, max_backoff_ms, service_port))
        return b

    # -- hosts -------------------------------------------------------------
    def host(self, name: str, bridge: Bridge, port: str, mac: str,
             ip_cidr: Optional[str], gateway: Optional[str] = None,
             plugged: bool = True, ofport: Optional[int] = None,
             ipv6: bool = False, mtu: Optional[int] = None) -> Host:
        """A namespace ``<prefix>-<name>`` joined to ``bridge`` by a veth pair.

        The bridge end is named exactly ``port`` (the OVS port name of the
        topology; <= 15 characters), the namespace end ``eth0`` with ``mac``
        and ``ip_cidr`` (None: no address, e.g. for DHCP), TX checksum
        offload off, ``lo`` up and, with ``gateway``, a default route.
        ``plugged=False`` creates everything but the OVS port (call
        ``host.plug()`` later); ``ofport`` requests an OpenFlow port number.
        """
        self._need_started()
        check_host_names(name, port)
        ns = f'{self.prefix}-{name}'
        if ns in list_netns():
            raise NetlabError(f'namespace {ns} exists already')
        if link_exists(port):
            raise NetlabError(f'interface {port} exists already (not created by this '
                              'lab; use lab.ifname() for unique port names)')
        h = Host(self, name, ns, bridge, port, mac, ip_cidr, gateway)
        self.hosts.append(h)
        self._links.append(port)
        self._save()
        build_host(h, ipv6=ipv6, mtu=mtu)
        if plugged:
            h.plug(ofport)
        return h

    # -- controllers -------------------------------------------------------
    def controller(self, topology: Union[str, Path], port: Optional[int] = None,
                   wait: bool = True, **kw) -> Controller:
        """Start the project controller on ``port`` (default: a free one)
        with the topology file ``topology``; it is stopped when the lab
        closes. Its log is ``<lab tmp>/controller-<n>.log``."""
        self._need_started()
        kw.setdefault('log_path', self.tmp / f'controller-{len(self.controllers) + 1}.log')
        c = Controller(topology, port=port, **kw)
        self.controllers.append(c)
        try:
            c.start(wait=False)
        finally:
            self._save()
        if wait:
            c.wait_listening()
        return c

    # -- teardown ----------------------------------------------------------
    def close(self, raise_errors: bool = True) -> None:
        """Remove everything the lab created (idempotent)."""
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        errors = self._stop_processes()
        errors += remove_resources(bridges=self._all_bridges(), netns=self._all_netns(),
                                   links=self._links)
        with contextlib.suppress(OSError):
            self.state_file.unlink()
        if not self.keep_tmp and self._tmp_arg is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            msg = 'lab cleanup incomplete:\n  ' + '\n  '.join(errors)
            if raise_errors:
                raise NetlabError(msg)
            print(f'netlab: {msg}', file=sys.stderr)

    def _stop_processes(self) -> list[str]:
        errors = []
        for c in self.controllers:
            try:
                c.stop()
            except Exception as e:
                errors.append(f'stopping {c!r}: {e}')
        for p, _ in self._procs:
            with contextlib.suppress(Exception):
                stop_child(p, grace=3.0)        # our own child: wait() reaps it at once
        return errors

    def leftovers(self) -> list[str]:
        """What of this lab still exists (after close(): should be empty)."""
        have_br, have_ns = set(list_bridges()), set(list_netns())
        out = [f'bridge {b}' for b in self._all_bridges() if b in have_br]
        out += [f'netns {n}' for n in self._all_netns() if n in have_ns]
        out += [f'link {link}' for link in self._links if link_exists(link)]
        return out


# --------------------------------------------------------------------------
# cleanup machinery (also for runs that crashed)

def remove_resources(bridges: Iterable[str] = (), netns: Iterable[str] = (),
                     links: Iterable[str] = (), kill_ns_procs: bool = True) -> list[str]:
    """Remove bridges, namespaces (and processes inside them) and veths if
    they exist; return error messages for what could not be removed.

    Order: processes in the namespaces, bridges, veths (deleting the
    bridge-side end removes both ends at once), namespaces. The veths are
    deleted explicitly because ``ip netns del`` only drops the name: a
    namespace stays alive -- with its veth -- while anything references it,
    e.g. an orphaned TCP socket still retransmitting its FIN, which can take
    minutes once the bridge is gone.
    """
    have_ns = set(list_netns())
    netns = [ns for ns in netns if ns in have_ns]
    if kill_ns_procs:
        for ns in netns:
            for pid in sh(['ip', 'netns', 'pids', ns], check=False).stdout.split():
                kill_pid(int(pid), proc_starttime(int(pid)))
    errors = []
    for b in bridges:
        errors += _attempt(['ovs-vsctl', '--timeout=20', '--if-exists', 'del-br', b], f'del-br {b}')
    for link in links:
        # a port on a bridge that is not ours would keep a dangling record
        sh(['ovs-vsctl', '--timeout=20', '--if-exists', 'del-port', link], check=False)
        if link_exists(link):
            failed = _attempt(['ip', 'link', 'del', link], f'ip link del {link}')
            errors += failed if link_exists(link) else []
    for ns in netns:
        errors += _attempt(['ip', 'netns', 'del', ns], f'ip netns del {ns}')
    return errors


def _attempt(argv: list[str], what: str) -> list[str]:
    """Run a cleanup command: [] if it worked, else the line for the report."""
    cp = sh(argv, check=False)
    return [] if cp.returncode == 0 else [f'{what}: {cp.stderr.strip()}']


def _read_state(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text() or '{}')
    except (OSError, json.JSONDecodeError):
        return None


def _clean_record(path: Path) -> Optional[str]:
    """Remove what the lab recorded in ``path`` left, if its owner is gone;
    its prefix, or None when there was nothing to clean (yet)."""
    state = _read_state(path)
    if state is None:
        return None
    if not state:  # a prefix claim whose owner never wrote: stale if old
        if time.time() - path.stat().st_mtime > 60:
            path.unlink(missing_ok=True)
        return None
    if pid_alive(state.get('pid', -1), state.get('starttime')):
        return None
    for pid, st in state.get('processes', []):
        if st is not None:          # never kill a PID we cannot identify
            kill_pid(int(pid), int(st))
    remove_resources(bridges=state.get('bridges', []), netns=state.get('netns', []),
                     links=state.get('links', []))
    tmp = state.get('tmp')
    if tmp and Path(tmp).name.startswith('netlab-') and \
            os.environ.get('NETLAB_KEEP_TMP') != '1':
        shutil.rmtree(tmp, ignore_errors=True)
    path.unlink(missing_ok=True)
    return state.get('prefix', path.stem)


def cleanup_stale() -> list[str]:
    """Remove what crashed labs left behind (their owner process is gone).
    Returns the prefixes cleaned."""
    if not STATE_DIR.exists():
        return []
    cleaned = [_clean_record(path) for path in sorted(STATE_DIR.glob('*.json'))]
    return [prefix for prefix in cleaned if prefix]


def sweep_prefix(prefix: str) -> list[str]:
    """Remove bridges, namespaces ``<prefix>-*`` and veths named
    ``<prefix>*``: leftovers of an earlier run that used the same explicit
    prefix. Returns what it removed."""
    bridges = [b for b in list_bridges() if b.startswith(prefix)]
    netns = [n for n in list_netns() if n.startswith(prefix + '-')]
    links = [name for name in os.listdir('/sys/class/net')
             if name.startswith(prefix) and is_veth(name)]
    remove_resources(bridges=bridges, netns=netns, links=links)
    return bridges + netns + links
