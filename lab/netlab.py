"""netlab: a small harness for integration tests and benchmarks on real OVS.

Everything here drives real Open vSwitch (userspace datapath) bridges and
Linux network namespaces, so it needs root and a running ``ovs-vswitchd``.
Traffic never leaves the machine: hosts are namespaces joined to OVS bridges
by veth pairs, and the controller listens on 127.0.0.1 only.

Typical use::

    from tests.netlab import Lab

    with Lab() as lab:
        br = lab.bridge('br0', dpid=0x1, controller_port=port)
        h1 = lab.host('h1', br, lab.ifname('p1'), '52:54:00:00:00:01',
                      '172.16.1.1/24')
        h2 = lab.host('h2', br, lab.ifname('p2'), '52:54:00:00:00:02',
                      '172.16.1.2/24')
        ctl = lab.controller(topology_path, port=port)
        br.wait_connected()
        br.wait_for_flows(1)
        assert h1.ping('172.16.1.2')
        print(iperf3_tcp(h1, h2, '172.16.1.2'))
    # every bridge, namespace, veth and process the lab created is gone here

Naming and cleanup
------------------
Each ``Lab`` has a short unique *prefix* (``nl`` + 3 hex digits unless one is
given).  Bridge names get it prepended (``lab.bridge('br0')`` creates OVS
bridge ``<prefix>br0``; the controller identifies datapaths by dpid, not by
name), namespaces are ``<prefix>-<host name>``.  OVS port names are used
*exactly* as given, because they must match the topology file: build them
with ``lab.ifname('p1')`` (= ``<prefix>p1``) so parallel runs cannot clash.
Linux limits interface names (ports and bridges alike, since a netdev bridge
has a tap device of its own name) to 15 characters; netlab checks that.

The lab records what it creates in ``/run/netlab/<prefix>.json`` and removes
all of it in ``close()`` (also on exceptions).  When a run dies without
cleaning up (SIGKILL, power cut), the next ``Lab`` start finds that record,
sees its owner process is gone and removes what it lists: bridges,
namespaces (and processes still inside them), veths, and controller processes
(matched by PID *and* start time, so a recycled PID is never touched).  With
an explicit ``prefix=``, bridges, namespaces and veths whose names start with
that prefix are swept at start as well.

Set ``NETLAB_KEEP_TMP=1`` to keep each lab's temporary directory (controller
logs, generated topologies) after it closes.

OVS userspace notes (checked on OVS 3.1, Debian 12)
---------------------------------------------------
* Bridges must be ``datapath_type=netdev``: there is no kernel module.
* TX checksum offload must be off on the namespace end of each veth or
  TCP/UDP silently fail (ICMP works either way); ``lab.host`` does that.
* IPv6 is disabled in host namespaces and on the bridge-side veth by default,
  so router solicitations and MLD reports do not add noise to flow counters.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

__all__ = [
    'REPO_ROOT', 'VNET_COOKIE', 'NetlabError', 'GiveUp', 'Lab', 'Bridge', 'Host',
    'Controller', 'wait_for', 'free_tcp_port', 'ofctl', 'dump_flows',
    'dump_groups', 'wait_for_flows', 'iperf3_tcp', 'parse_flow_line',
    'check_environment', 'sh', 'cleanup_stale', 'sweep_prefix',
]

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The cookie (value/mask) that marks every flow the controller installs.
VNET_COOKIE = '0x766e000000000000/0xffff000000000000'
STATE_DIR = Path(os.environ.get('NETLAB_STATE_DIR', '/run/netlab'))
IFNAMSIZ = 15          # usable characters of a Linux interface name
NS_IFNAME = 'eth0'     # the interface name inside each host namespace


class NetlabError(RuntimeError):
    """A lab command failed; the message carries the command and its output."""


class GiveUp(AssertionError):
    """Raised by a wait_for predicate to stop waiting at once (e.g. the
    process it waits for has died); propagates unchanged."""


# --------------------------------------------------------------------------
# small utilities

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


def free_tcp_port(host: str = '127.0.0.1') -> int:
    """A TCP port that is free on ``host`` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the process that started it dies,
    so a killed test run does not leave controllers or iperf3 servers behind.

    Linux sends it when the *thread* that forked the child exits, so only
    use it from the main thread (see _death_signal_preexec)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def _death_signal_preexec():
    """_die_with_parent when called from the main thread, else None (a child
    started from a short-lived worker thread would be killed with it)."""
    return _die_with_parent if threading.current_thread() is threading.main_thread() \
        else None


def _proc_starttime(pid: int) -> Optional[int]:
    """Start time (clock ticks since boot) of a live process, else None."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: split after its ')'
    fields = stat[stat.rindex(')') + 2:].split()
    return int(fields[19])  # field 22 overall


def _pid_alive(pid: int, starttime: Optional[int]) -> bool:
    st = _proc_starttime(pid)
    return st is not None and (starttime is None or st == starttime)


def _kill_pid(pid: int, starttime: Optional[int], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, one process identified by PID + start time."""
    if not _pid_alive(pid, starttime):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)   # a stopped process cannot act on TERM
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _pid_alive(pid, starttime):
            return
        time.sleep(0.05)
    if _pid_alive(pid, starttime):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _check_ifname(name: str) -> str:
    if not name or len(name) > IFNAMSIZ or '/' in name or ' ' in name:
        raise ValueError(f'bad interface name {name!r}: Linux allows 1-{IFNAMSIZ} '
                         f'characters without "/" or spaces')
    return name


def _link_exists(name: str) -> bool:
    return Path('/sys/class/net', name).exists()


def _netns_list() -> list[str]:
    cp = sh(['ip', 'netns', 'list'], check=False)
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def _bridges() -> list[str]:
    cp = sh(['ovs-vsctl', '--timeout=10', 'list-br'], check=False)
    return cp.stdout.split()


def check_environment() -> list[str]:
    """Problems that stop integration tests here (empty list: all good)."""
    problems = []
    if os.geteuid() != 0:
        problems.append('integration tests need root (network namespaces, OVS); '
                        f'running as uid {os.geteuid()}')
    for tool in ('ovs-vsctl', 'ovs-ofctl', 'ip', 'ethtool', 'iperf3', 'ping', 'ss'):
        if shutil.which(tool) is None:
            problems.append(f'{tool} is not installed (run `make setup`)')
    if shutil.which('ovs-vsctl'):
        cp = sh(['ovs-vsctl', '--timeout=5', 'show'], check=False)
        if cp.returncode != 0:
            problems.append('Open vSwitch is not running (ovs-vsctl show: '
                            f'{cp.stderr.strip() or cp.returncode}); start it with '
                            '`/usr/share/openvswitch/scripts/ovs-ctl start '
                            '--system-id=random` or `make setup`')
    return problems


# --------------------------------------------------------------------------
# ovs-ofctl helpers

_STAT_RE = re.compile(r'\s*(cookie|duration|table|n_packets|n_bytes|idle_timeout|'
                      r'hard_timeout|idle_age|hard_age|importance)=([^,\s]+),?')
_FLAG_RE = re.compile(r'\s*(send_flow_rem|check_overlap|reset_counts|'
                      r'no_packet_counts|no_byte_counts|no_readonly_table)\b,?')
_INT_STATS = ('table', 'n_packets', 'n_bytes', 'idle_timeout', 'hard_timeout',
              'idle_age', 'hard_age', 'importance')


def parse_flow_line(line: str) -> dict:
    """Parse one ``ovs-ofctl dump-flows`` line into a dict.

    Keys: ``cookie`` (int), ``duration`` (float seconds), ``table``,
    ``n_packets``, ``n_bytes``, ``priority`` (ints; OVS omits the default
    priority 32768), ``match`` (str, e.g. ``'ip,in_port=1'``, '' for all),
    ``actions`` (str), ``flags`` (list), any timeouts present, and ``raw``.
    """
    raw = line.strip()
    head, sep, actions = raw.partition(' actions=')
    if not sep:
        if raw.startswith('actions='):
            head, actions = '', raw[len('actions='):]
        else:
            raise ValueError(f'not a flow line: {line!r}')
    flow: dict = {'raw': raw, 'actions': actions.strip(), 'flags': []}
    pos = 0
    while True:
        m = _STAT_RE.match(head, pos)
        if m:
            key, val = m.group(1), m.group(2)
            if key == 'cookie':
                flow[key] = int(val, 16)
            elif key == 'duration':
                flow[key] = float(val.rstrip('s'))
            else:
                flow[key] = int(val)
            pos = m.end()
            continue
        m = _FLAG_RE.match(head, pos)
        if m:
            flow['flags'].append(m.group(1))
            pos = m.end()
            continue
        break
    rest = head[pos:].strip().strip(',')
    flow['priority'] = 32768
    m = re.match(r'priority=(\d+),?', rest)
    if m:
        flow['priority'] = int(m.group(1))
        rest = rest[m.end():]
    flow['match'] = rest.strip(',')
    flow.setdefault('cookie', 0)
    flow.setdefault('table', 0)
    flow.setdefault('n_packets', 0)
    flow.setdefault('n_bytes', 0)
    flow.setdefault('duration', 0.0)
    return flow


def _brname(bridge: Union['Bridge', str]) -> str:
    return bridge.name if isinstance(bridge, Bridge) else str(bridge)


def ofctl(bridge: Union['Bridge', str], *args: str, check: bool = True,
          timeout: float = 20) -> str:
    """``ovs-ofctl -O OpenFlow13 <first arg> BRIDGE <more args>``; returns stdout.

    The first argument is the command: ``ofctl(br, 'dump-flows', 'table=0')``.
    """
    if not args:
        raise ValueError('ofctl needs a command, e.g. ofctl(br, "dump-flows")')
    cmd, *rest = args
    cp = sh(['ovs-ofctl', '-O', 'OpenFlow13', cmd, _brname(bridge), *rest],
            check=check, timeout=timeout)
    return cp.stdout


def dump_flows(bridge: Union['Bridge', str], cookie: Optional[str] = VNET_COOKIE,
               match: Optional[str] = None, names: bool = False) -> list[dict]:
    """The bridge's flows as dicts (see parse_flow_line).

    By default only the controller's flows (``cookie=VNET_COOKIE``); pass
    ``cookie=None`` for all. ``match`` adds a flow filter such as
    ``'table=0'``.  Ports appear as numbers unless ``names``.
    """
    filt = ','.join(x for x in (f'cookie={cookie}' if cookie else '', match or '') if x)
    args = ['ovs-ofctl', '-O', 'OpenFlow13', '--names' if names else '--no-names',
            'dump-flows', _brname(bridge)]
    if filt:
        args.append(filt)
    out = sh(args, timeout=20).stdout
    return [parse_flow_line(l) for l in out.splitlines()
            if l.startswith(' ') and 'actions=' in l]


def dump_groups(bridge: Union['Bridge', str]) -> list[dict]:
    """The bridge's groups: dicts with ``group_id`` (int), ``type`` (str),
    ``buckets`` (list of bucket strings, e.g. ``'actions=output:1'``), ``raw``."""
    out = ofctl(bridge, 'dump-groups')
    groups = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith('group_id='):
            continue
        parts = line.split(',bucket=')
        head, buckets = parts[0], parts[1:]
        g: dict = {'raw': line, 'buckets': buckets}
        for kv in head.split(','):
            k, _, v = kv.partition('=')
            g[k] = int(v, 0) if k == 'group_id' else v
        groups.append(g)
    return groups


def wait_for_flows(bridge: Union['Bridge', str], min_count: int = 1,
                   timeout: float = 20, cookie: Optional[str] = VNET_COOKIE,
                   match: Optional[str] = None) -> list[dict]:
    """Poll until the bridge has at least ``min_count`` flows with ``cookie``
    (the controller's by default); return them."""
    last: list = []

    def enough():
        nonlocal last
        last = dump_flows(bridge, cookie=cookie, match=match)
        return len(last) >= min_count

    wait_for(enough, timeout=timeout, interval=0.25,
             what=f'>= {min_count} flows (cookie {cookie}) on {_brname(bridge)}',
             state=lambda: f'{len(last)} flows:\n' + '\n'.join(f['raw'] for f in last))
    return last


# --------------------------------------------------------------------------
# Bridge

class Bridge:
    """An OVS bridge created by a Lab (use ``lab.bridge`` / ``lab.normal_bridge``)."""

    def __init__(self, lab: 'Lab', name: str, dpid: Optional[int],
                 controller_port: Optional[int]):
        self.lab = lab
        self.name = name
        self.dpid = dpid
        self.controller_port = controller_port

    def __repr__(self):
        dp = f' dpid={self.dpid:#x}' if self.dpid is not None else ''
        return f'<Bridge {self.name}{dp}>'

    def __str__(self):
        return self.name

    def ofctl(self, *args: str, check: bool = True) -> str:
        return ofctl(self, *args, check=check)

    def dump_flows(self, cookie: Optional[str] = VNET_COOKIE,
                   match: Optional[str] = None, names: bool = False) -> list[dict]:
        return dump_flows(self, cookie=cookie, match=match, names=names)

    def dump_groups(self) -> list[dict]:
        return dump_groups(self)

    def wait_for_flows(self, min_count: int = 1, timeout: float = 20,
                       **kw) -> list[dict]:
        return wait_for_flows(self, min_count, timeout=timeout, **kw)

    def ports(self) -> list[str]:
        return sh(['ovs-vsctl', 'list-ports', self.name]).stdout.split()

    def ofport(self, port: str) -> int:
        """OpenFlow port number of ``port`` (-1 or [] while OVS has none)."""
        out = sh(['ovs-vsctl', 'get', 'Interface', port, 'ofport']).stdout.strip()
        return int(out) if out.lstrip('-').isdigit() else -1

    def is_connected(self) -> bool:
        """True when OVS reports the bridge's controller connection is up."""
        out = sh(['ovs-vsctl', 'get', 'Controller', self._controller_uuid(),
                  'is_connected'], check=False).stdout
        return out.strip() == 'true'

    def _controller_uuid(self) -> str:
        out = sh(['ovs-vsctl', 'get', 'Bridge', self.name, 'controller']).stdout
        uuids = re.findall(r'[0-9a-f-]{36}', out)
        if not uuids:
            raise NetlabError(f'bridge {self.name} has no controller configured')
        return uuids[0]

    def wait_connected(self, timeout: float = 20) -> None:
        """Wait until the bridge's OpenFlow connection to the controller is up."""
        wait_for(self.is_connected, timeout=timeout, interval=0.2,
                 what=f'bridge {self.name} to connect to its controller',
                 state=lambda: sh(['ovs-vsctl', 'list', 'Controller',
                                   self._controller_uuid()], check=False).stdout)


# --------------------------------------------------------------------------
# Host

class Host:
    """A network namespace with one interface (``eth0``) on an OVS bridge."""

    def __init__(self, lab: 'Lab', name: str, ns: str, bridge: Bridge, port: str,
                 mac: str, ip_cidr: Optional[str], gateway: Optional[str]):
        self.lab = lab
        self.name = name
        self.ns = ns
        self.bridge = bridge
        self.port = port
        self.mac = mac
        self.cidr = ip_cidr
        self.ip = ip_cidr.split('/')[0] if ip_cidr else None
        self.gateway = gateway
        self.ifname = NS_IFNAME

    def __repr__(self):
        return f'<Host {self.name} ns={self.ns} port={self.port} ip={self.cidr}>'

    def _argv(self, cmd: Union[str, Sequence[str]]) -> list[str]:
        inner = ['sh', '-c', cmd] if isinstance(cmd, str) else [str(c) for c in cmd]
        return ['ip', 'netns', 'exec', self.ns, *inner]

    def run(self, cmd: Union[str, Sequence[str]], check: bool = True,
            timeout: float = 30, input: Optional[str] = None
            ) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside the namespace (a string goes through ``sh -c``)
        and return the CompletedProcess (text stdout/stderr)."""
        return sh(self._argv(cmd), check=check, timeout=timeout, input=input)

    def popen(self, cmd: Union[str, Sequence[str]], **kw) -> subprocess.Popen:
        """Start ``cmd`` in the namespace in the background.

        The process is killed (by PID) when the lab closes, and gets SIGTERM
        if the test process dies. Keyword arguments go to subprocess.Popen
        (default: stdout/stderr to DEVNULL, text mode).
        """
        kw.setdefault('stdout', subprocess.DEVNULL)
        kw.setdefault('stderr', subprocess.DEVNULL)
        kw.setdefault('stdin', subprocess.DEVNULL)
        kw.setdefault('text', True)
        p = subprocess.Popen(self._argv(cmd), preexec_fn=_death_signal_preexec(), **kw)
        self.lab._track_process(p)
        return p

    def ping(self, ip: str, count: int = 1, timeout: float = 2,
             interval: float = 0.2) -> bool:
        """True if ``ip`` answers ICMP echo (any of ``count`` probes;
        ``timeout`` seconds for the whole run)."""
        args = ['ping', '-n', '-q', '-c', str(count), '-w', str(max(1, round(timeout)))]
        if count > 1:
            args += ['-i', str(interval)]
        cp = self.run(args + [ip], check=False, timeout=timeout + 10)
        return cp.returncode == 0

    def arping(self, ip: str, timeout: float = 2) -> Optional[str]:
        """ARP for ``ip`` out of eth0 (one request a second, at most
        ``timeout`` s); return the MAC of the first reply (lower case) or None."""
        flavour = _arping_flavour()
        w = str(max(1, round(timeout)))
        if flavour == 'habets':   # Debian's arping; -C 1: stop at the first reply
            args = ['arping', '-C', '1', '-w', w, '-i', self.ifname, ip]
        else:                     # iputils-arping
            args = ['arping', '-c', '1', '-w', w, '-I', self.ifname, ip]
        cp = self.run(args, check=False, timeout=timeout + 10)
        # habets: "42 bytes from 52:54:00:aa:00:02 (172.31.98.2): index=0 ..."
        # iputils: "Unicast reply from 172.31.98.2 [52:54:00:AA:00:02]  0.6ms"
        m = re.search(r'(?:bytes from |reply from \S+ \[)'
                      r'([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})', cp.stdout)
        return m.group(1).lower() if (m and cp.returncode == 0) else None

    def add_address(self, cidr: str) -> None:
        """Add another IPv4 address (``'10.0.0.5/24'``) to eth0."""
        self.run(['ip', 'addr', 'add', cidr, 'dev', self.ifname])

    def neighbours(self) -> str:
        """``ip neigh`` output inside the namespace (for failure messages)."""
        return self.run(['ip', 'neigh', 'show'], check=False).stdout

    def unplug(self) -> None:
        """Remove the port from the bridge (the veth stays; see plug())."""
        sh(['ovs-vsctl', '--if-exists', 'del-port', self.bridge.name, self.port])

    def plug(self, ofport: Optional[int] = None) -> None:
        """Add the port to the bridge (again); optionally ask for an ofport."""
        args = ['ovs-vsctl', '--may-exist', 'add-port', self.bridge.name, self.port]
        if ofport is not None:
            args += ['--', 'set', 'Interface', self.port, f'ofport_request={ofport}']
        sh(args)

    def is_plugged(self) -> bool:
        return self.port in self.bridge.ports()


_ARPING_FLAVOUR: Optional[str] = None


def _arping_flavour() -> str:
    """'habets' (Debian package arping) or 'iputils' (iputils-arping)."""
    global _ARPING_FLAVOUR
    if _ARPING_FLAVOUR is None:
        if shutil.which('arping') is None:
            raise NetlabError('arping is not installed (apt-get install arping)')
        cp = sh(['arping', '--help'], check=False)
        text = cp.stdout + cp.stderr
        _ARPING_FLAVOUR = 'habets' if 'Habets' in text or '-i interface' in text \
            or '-i <interface>' in text else 'iputils'
    return _ARPING_FLAVOUR


# --------------------------------------------------------------------------
# iperf3

IPERF3_PORT = 5201


def iperf3_tcp(client: Host, server: Host, server_ip: str, seconds: float = 5,
               port: int = IPERF3_PORT, omit: int = 0,
               extra_args: Iterable[str] = ()) -> float:
    """TCP throughput client -> server in Gbit/s (iperf3 ``-J``, received side).

    Starts a one-shot server (``iperf3 -s -1``) in the server namespace bound
    to ``server_ip``, waits until it listens, runs the client for ``seconds``
    (plus ``omit`` warm-up seconds excluded from the result).
    """
    srv = server.popen(['iperf3', '-s', '-1', '-B', server_ip, '-p', str(port)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: srv.poll() is not None or _listening(server, port),
                 timeout=10, interval=0.05,
                 what=f'iperf3 server on {server_ip}:{port} in {server.ns}')
        if srv.poll() is not None:
            raise NetlabError(f'iperf3 server exited {srv.returncode}: '
                              f'{srv.stdout.read() if srv.stdout else ""}')
        args = ['iperf3', '-J', '-c', server_ip, '-p', str(port),
                '-t', str(seconds)]
        if omit:
            args += ['-O', str(omit)]
        args += list(extra_args)
        cp = client.run(args, check=False, timeout=seconds + omit + 30)
        try:
            result = json.loads(cp.stdout)
        except json.JSONDecodeError as e:
            raise NetlabError(f'iperf3 client gave no JSON (exit {cp.returncode}): '
                              f'{cp.stdout[-2000:]} {cp.stderr[-2000:]}') from e
        if 'error' in result:
            raise NetlabError(f'iperf3 {client.name} -> {server_ip}: {result["error"]}')
        return result['end']['sum_received']['bits_per_second'] / 1e9
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_pid(srv.pid, None)
            srv.wait(timeout=5)
        if srv.stdout:
            srv.stdout.close()


def _listening(host: Host, port: int) -> bool:
    cp = host.run(['ss', '-Htln', f'sport = :{port}'], check=False)
    return bool(cp.stdout.strip())


# --------------------------------------------------------------------------
# Controller

class Controller:
    """The project controller (``ryu-manager ... controller.app``) as a
    subprocess started from the repo root, listening on 127.0.0.1:port.

    Output (stdout+stderr) goes to ``log_path``; read it with ``log_text()``.
    Prefer ``lab.controller(...)``, which also stops it when the lab closes.
    """

    def __init__(self, topology: Union[str, Path], port: Optional[int] = None,
                 log_path: Union[str, Path, None] = None,
                 extra_args: Sequence[str] = (), env: Optional[dict] = None,
                 repo: Union[str, Path] = REPO_ROOT, app: str = 'controller.app'):
        self.topology = Path(topology)
        self.port = port or free_tcp_port()
        self.repo = Path(repo)
        self.log_path = Path(log_path) if log_path else \
            Path(tempfile.mkstemp(prefix='vnet-controller-', suffix='.log')[1])
        self.extra_args = list(extra_args)
        self.env = env
        self.app = app
        self.proc: Optional[subprocess.Popen] = None
        self.starttime: Optional[int] = None
        self._log = None

    @property
    def argv(self) -> list[str]:
        return [str(self.repo / '.venv' / 'bin' / 'ryu-manager'),
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
        self.proc = subprocess.Popen(self.argv, cwd=self.repo, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=_death_signal_preexec())
        self.starttime = _proc_starttime(self.proc.pid)
        if wait:
            self.wait_listening(timeout)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def listening(self) -> bool:
        cp = sh(['ss', '-Htln', f'sport = :{self.port}'], check=False)
        return bool(cp.stdout.strip())

    def wait_listening(self, timeout: float = 30) -> None:
        def ready():
            if not self.running():
                raise GiveUp(
                    f'controller exited with {self.proc.returncode if self.proc else None} '
                    f'before listening on 127.0.0.1:{self.port}; log '
                    f'{self.log_path}:\n{self.log_tail()}')
            return self.listening()
        wait_for(ready, timeout=timeout, interval=0.1,
                 what=f'controller to listen on 127.0.0.1:{self.port}',
                 state=lambda: f'log {self.log_path}:\n{self.log_tail()}')

    def assert_running(self) -> None:
        """Raise AssertionError (with the log tail) if the controller died."""
        if not self.running():
            raise AssertionError(f'controller is not running (exit '
                                 f'{self.proc.returncode if self.proc else "never started"}); '
                                 f'log {self.log_path}:\n{self.log_tail()}')

    def stop(self, grace: float = 5.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after ``grace`` s; only this PID. Returns the
        exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def pause(self) -> None:
        """SIGSTOP: the controller stops answering (echo requests time out)."""
        self.assert_running()
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def log_tail(self, lines: int = 60) -> str:
        return '\n'.join(self.log_text().splitlines()[-lines:])


# --------------------------------------------------------------------------
# Lab

class Lab:
    """Creates bridges, hosts and controllers, and removes them all on exit.

    Use as a context manager (``with Lab() as lab:``) or call ``start()`` and
    ``close()`` yourself. ``close()`` is idempotent and never raises for a
    resource that is already gone; it raises NetlabError at the end if
    something could not be removed.
    """

    def __init__(self, prefix: Optional[str] = None, tmp_dir: Union[str, Path, None] = None,
                 keep_tmp: Optional[bool] = None):
        if prefix is not None and not re.fullmatch(r'[a-z][a-z0-9]{1,7}', prefix):
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
            state = STATE_DIR / f'{self.prefix}.json'
            if state.exists():
                owner = _read_state(state)
                if owner and _pid_alive(owner.get('pid', -1), owner.get('starttime')):
                    raise NetlabError(f'prefix {self.prefix!r} is in use by live '
                                      f'process {owner["pid"]}')
            sweep_prefix(self.prefix)
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

    def _pick_prefix(self) -> str:
        taken_ns = set(_netns_list())
        taken_br = set(_bridges())
        for _ in range(100):
            p = 'nl' + secrets.token_hex(2)[:3]
            if (STATE_DIR / f'{p}.json').exists():
                continue
            if any(n.startswith(p) for n in taken_ns | taken_br):
                continue
            if any(n.startswith(p) for n in os.listdir('/sys/class/net')):
                continue
            # claim it atomically
            try:
                fd = os.open(STATE_DIR / f'{p}.json', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.close(fd)
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
            'starttime': _proc_starttime(os.getpid()),
            'tmp': str(self.tmp),
            'bridges': [b.name for b in self.bridges],
            'netns': [h.ns for h in self.hosts],
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

    def _track_process(self, p: subprocess.Popen) -> None:
        self._procs.append((p, _proc_starttime(p.pid)))
        self._save()

    # -- names -------------------------------------------------------------
    def ifname(self, base: str) -> str:
        """A lab-unique interface/port name: prefix + base (<= 15 chars)."""
        return _check_ifname(self.prefix + base)

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
               max_backoff_ms: int = 1000) -> Bridge:
        """An OVS bridge ``<prefix><name>`` for the controller.

        datapath_type=netdev, fail_mode=secure, protocols=OpenFlow13,
        datapath-id = ``dpid`` (16 hex digits), in-band control disabled, and
        with ``controller_port`` an out-of-band controller
        tcp:127.0.0.1:PORT (reconnect backoff capped at ``max_backoff_ms``
        so a controller that starts later is found quickly).
        """
        self._need_started()
        br = _check_ifname(self.prefix + name)
        args = ['ovs-vsctl', '--timeout=20', '--', 'add-br', br,
                '--', 'set', 'Bridge', br, 'datapath_type=netdev',
                'fail_mode=secure', 'protocols=OpenFlow13',
                f'other-config:datapath-id={int(dpid):016x}',
                'other-config:disable-in-band=true']
        if controller_port is not None:
            args += ['--', 'set-controller', br, f'tcp:127.0.0.1:{int(controller_port)}',
                     '--', 'set', 'Controller', br, 'connection-mode=out-of-band',
                     f'max_backoff={int(max_backoff_ms)}']
        return self._add_bridge(br, args, int(dpid), controller_port)

    def normal_bridge(self, name: str) -> Bridge:
        """A standalone bridge ``<prefix><name>`` with one flow,
        ``priority=0 actions=NORMAL``, and no controller (benchmark baseline)."""
        self._need_started()
        br = _check_ifname(self.prefix + name)
        args = ['ovs-vsctl', '--timeout=20', '--', 'add-br', br,
                '--', 'set', 'Bridge', br, 'datapath_type=netdev',
                'fail_mode=standalone', 'protocols=OpenFlow13',
                'other-config:disable-in-band=true']
        b = self._add_bridge(br, args, None, None)
        ofctl(b, 'del-flows')
        ofctl(b, 'add-flow', 'priority=0,actions=NORMAL')
        return b

    def _add_bridge(self, br, args, dpid, port) -> Bridge:
        if br in _bridges():
            raise NetlabError(f'bridge {br} exists already (not created by this lab)')
        b = Bridge(self, br, dpid, port)
        self.bridges.append(b)
        self._save()          # record before creating: a crash midway is cleaned
        sh(args)
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
        _check_ifname(port)
        if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.-]*', name):
            raise ValueError(f'bad host name {name!r}')
        ns = f'{self.prefix}-{name}'
        if ns in _netns_list():
            raise NetlabError(f'namespace {ns} exists already')
        if _link_exists(port):
            raise NetlabError(f'interface {port} exists already (not created by this '
                              'lab; use lab.ifname() for unique port names)')
        h = Host(self, name, ns, bridge, port, mac, ip_cidr, gateway)
        self.hosts.append(h)
        self._links.append(port)
        self._save()
        sh(['ip', 'netns', 'add', ns])
        sh(['ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', NS_IFNAME,
            'netns', ns])
        if not ipv6:
            h.run('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 '
                  'net.ipv6.conf.default.disable_ipv6=1', check=False)
        # the bridge-side veth: no IPv6 chatter, never answer ARP itself
        sh(['sysctl', '-qw', f'net.ipv6.conf.{port}.disable_ipv6=1',
            f'net.ipv4.conf.{port}.arp_ignore=8'], check=False)
        h.run(['ip', 'link', 'set', NS_IFNAME, 'address', mac])
        if mtu:
            h.run(['ip', 'link', 'set', NS_IFNAME, 'mtu', str(mtu)])
            sh(['ip', 'link', 'set', port, 'mtu', str(mtu)])
        h.run(['ip', 'link', 'set', 'lo', 'up'])
        h.run(['ethtool', '-K', NS_IFNAME, 'tx', 'off'])
        if ip_cidr:
            h.run(['ip', 'addr', 'add', ip_cidr, 'dev', NS_IFNAME])
        h.run(['ip', 'link', 'set', NS_IFNAME, 'up'])
        sh(['ip', 'link', 'set', port, 'up'])
        if gateway:
            h.run(['ip', 'route', 'add', 'default', 'via', gateway, 'dev', NS_IFNAME])
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
        n = len(self.controllers) + 1
        kw.setdefault('log_path', self.tmp / f'controller-{n}.log')
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
        errors: list[str] = []
        for c in self.controllers:
            try:
                c.stop()
            except Exception as e:
                errors.append(f'stopping {c!r}: {e}')
        for p, st in self._procs:
            if p.poll() is None:
                _kill_pid(p.pid, st)
                with contextlib.suppress(Exception):
                    p.wait(timeout=5)
        errors += _remove(bridges=[b.name for b in self.bridges],
                          netns=[h.ns for h in self.hosts], links=self._links)
        with contextlib.suppress(OSError):
            self.state_file.unlink()
        if not self.keep_tmp and self._tmp_arg is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            msg = 'lab cleanup incomplete:\n  ' + '\n  '.join(errors)
            if raise_errors:
                raise NetlabError(msg)
            print(f'netlab: {msg}', file=sys.stderr)

    def leftovers(self) -> list[str]:
        """What of this lab still exists (after close(): should be empty)."""
        return _existing(bridges=[b.name for b in self.bridges],
                         netns=[h.ns for h in self.hosts], links=self._links)


# --------------------------------------------------------------------------
# cleanup machinery (also for runs that crashed)

def _existing(bridges: Iterable[str], netns: Iterable[str],
              links: Iterable[str]) -> list[str]:
    have_br, have_ns = set(_bridges()), set(_netns_list())
    out = [f'bridge {b}' for b in bridges if b in have_br]
    out += [f'netns {n}' for n in netns if n in have_ns]
    out += [f'link {l}' for l in links if _link_exists(l)]
    return out


def _remove(bridges: Iterable[str] = (), netns: Iterable[str] = (),
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
    errors = []
    netns = list(netns)
    have_ns = set(_netns_list())
    if kill_ns_procs:
        for ns in netns:
            if ns in have_ns:
                pids = sh(['ip', 'netns', 'pids', ns], check=False).stdout.split()
                for pid in pids:
                    _kill_pid(int(pid), _proc_starttime(int(pid)))
    for b in bridges:
        cp = sh(['ovs-vsctl', '--timeout=20', '--if-exists', 'del-br', b], check=False)
        if cp.returncode != 0:
            errors.append(f'del-br {b}: {cp.stderr.strip()}')
    for link in links:
        # a port on a bridge that is not ours would keep a dangling record
        sh(['ovs-vsctl', '--timeout=20', '--if-exists', 'del-port', link], check=False)
        if _link_exists(link):
            cp = sh(['ip', 'link', 'del', link], check=False)
            if cp.returncode != 0 and _link_exists(link):
                errors.append(f'ip link del {link}: {cp.stderr.strip()}')
    for ns in netns:
        if ns in have_ns:
            cp = sh(['ip', 'netns', 'del', ns], check=False)
            if cp.returncode != 0:
                errors.append(f'ip netns del {ns}: {cp.stderr.strip()}')
    return errors


def _read_state(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text() or '{}')
    except (OSError, json.JSONDecodeError):
        return None


def cleanup_stale() -> list[str]:
    """Remove what crashed labs left behind (their owner process is gone).
    Returns the prefixes cleaned."""
    cleaned = []
    if not STATE_DIR.exists():
        return cleaned
    for path in sorted(STATE_DIR.glob('*.json')):
        state = _read_state(path)
        if state is None:
            continue
        if not state:  # a prefix claim whose owner never wrote: stale if old
            if time.time() - path.stat().st_mtime > 60:
                path.unlink(missing_ok=True)
            continue
        if _pid_alive(state.get('pid', -1), state.get('starttime')):
            continue
        for pid, st in state.get('processes', []):
            if st is not None:          # never kill a PID we cannot identify
                _kill_pid(int(pid), int(st))
        _remove(bridges=state.get('bridges', []), netns=state.get('netns', []),
                links=state.get('links', []))
        tmp = state.get('tmp')
        if tmp and Path(tmp).name.startswith('netlab-') and \
                os.environ.get('NETLAB_KEEP_TMP') != '1':
            shutil.rmtree(tmp, ignore_errors=True)
        path.unlink(missing_ok=True)
        cleaned.append(state.get('prefix', path.stem))
    return cleaned


def sweep_prefix(prefix: str) -> list[str]:
    """Remove bridges, namespaces ``<prefix>-*`` and veths named
    ``<prefix>*``: leftovers of an earlier run that used the same explicit
    prefix. Returns what it removed."""
    bridges = [b for b in _bridges() if b.startswith(prefix)]
    netns = [n for n in _netns_list() if n.startswith(prefix + '-')]
    links = []
    for name in os.listdir('/sys/class/net'):
        if name.startswith(prefix) and _is_veth(name):
            links.append(name)
    _remove(bridges=bridges, netns=netns, links=links)
    return bridges + netns + links


def _is_veth(name: str) -> bool:
    cp = sh(['ethtool', '-i', name], check=False)
    return 'driver: veth' in cp.stdout
