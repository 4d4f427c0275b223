"""Test traffic: ping, arping and iperf3 command lines, and reading their output.

The command builders return argv lists, so the same probe runs in a lab
``Host`` (``host.run(argv)``) and in a Mininet host (``host.popen(argv)``).

Two arping programs exist: Thomas Habets' (Debian's ``arping`` package) and
iputils-arping.  Their options differ, so ``arping_argv`` asks which one is
installed (once) and ``arping_replies`` reads the output of either.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Iterable, Optional

from lab.proc import NetlabError, kill_pid, sh, tcp_listening, wait_for

if TYPE_CHECKING:
    from lab.netns import Host

IPERF3_PORT = 5201
# habets: "42 bytes from 52:54:00:aa:00:02 (172.31.98.2): index=0 ..."
# iputils: "Unicast reply from 172.31.98.2 [52:54:00:AA:00:02]  0.6ms"
_ARPING_REPLY_RE = re.compile(r'(?:bytes from |reply from \S+ \[)'
                              r'([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})')


def ping_argv(address: str, count: int = 1, deadline: Optional[float] = None,
              reply_wait: Optional[float] = None, interval: float = 0.2) -> list[str]:
    """``ping`` quietly, numerically: ``count`` echoes, the whole run cut at
    ``deadline`` s (-w) and/or each reply awaited ``reply_wait`` s (-W)."""
    argv = ['ping', '-n', '-q', '-c', str(count)]
    if deadline is not None:
        argv += ['-w', str(max(1, round(deadline)))]
    if reply_wait is not None:
        argv += ['-W', f'{reply_wait:g}']
    if count > 1:
        argv += ['-i', str(interval)]
    return argv + [address]


_ARPING_FLAVOUR: Optional[str] = None


def arping_flavour() -> str:
    """'habets' (Debian package arping) or 'iputils' (iputils-arping)."""
    global _ARPING_FLAVOUR
    if _ARPING_FLAVOUR is None:
        if shutil.which('arping') is None:
            raise NetlabError('arping is not installed (apt-get install arping)')
        cp = sh(['arping', '--help'], check=False)
        text = cp.stdout + cp.stderr
        habets = 'Habets' in text or '-i interface' in text or '-i <interface>' in text
        _ARPING_FLAVOUR = 'habets' if habets else 'iputils'
    return _ARPING_FLAVOUR


def arping_argv(target: str, ifname: str, deadline: float = 1,
                first_reply: bool = False, probe: bool = False) -> list[str]:
    """One ARP request for ``target`` out of ``ifname``, waiting at most
    ``deadline`` s: for the first reply only (``first_reply``), else for
    every reply.  A ``probe`` is sent from 0.0.0.0, as in duplicate address
    detection, so it neither needs nor touches the sender's address."""
    habets = arping_flavour() == 'habets'
    argv = ['arping', '-i' if habets else '-I', ifname, '-w', str(max(1, round(deadline)))]
    argv += ['-C' if habets and first_reply else '-c', '1']
    if probe:
        argv.append('-0' if habets else '-D')
    return argv + [target]


def arping_replies(output: str) -> tuple[str, ...]:
    """The distinct MACs that answered, in order of first answer (lower case)."""
    macs: list[str] = []
    for mac in _ARPING_REPLY_RE.findall(output):
        if mac.lower() not in macs:
            macs.append(mac.lower())
    return tuple(macs)


def iperf3_tcp(client: 'Host', server: 'Host', server_ip: str, seconds: float = 5,
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
        wait_for(lambda: srv.poll() is not None or tcp_listening(port, server.ns),
                 timeout=10, interval=0.05,
                 what=f'iperf3 server on {server_ip}:{port} in {server.ns}')
        if srv.poll() is not None:
            raise NetlabError(f'iperf3 server exited {srv.returncode}: '
                              f'{srv.stdout.read() if srv.stdout else ""}')
        args = ['iperf3', '-J', '-c', server_ip, '-p', str(port), '-t', str(seconds)]
        if omit:
            args += ['-O', str(omit)]
        cp = client.run(args + list(extra_args), check=False, timeout=seconds + omit + 30)
        return _iperf3_gbps(cp, f'{client.name} -> {server_ip}')
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_pid(srv.pid, None)
            srv.wait(timeout=5)
        if srv.stdout:
            srv.stdout.close()


def _iperf3_gbps(cp: subprocess.CompletedProcess, what: str) -> float:
    """The received rate of an ``iperf3 -J`` client run, in Gbit/s."""
    try:
        result = json.loads(cp.stdout)
    except json.JSONDecodeError as e:
        raise NetlabError(f'iperf3 client gave no JSON (exit {cp.returncode}): '
                          f'{cp.stdout[-2000:]} {cp.stderr[-2000:]}') from e
    if 'error' in result:
        raise NetlabError(f'iperf3 {what}: {result["error"]}')
    return result['end']['sum_received']['bits_per_second'] / 1e9
