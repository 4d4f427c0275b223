"""Running the machine's tools for vnetctl: ovs-vsctl, ip, ethtool, nsenter.

`run` turns a failed command into `Failed` with one line (the command and
the first line of what it said), which the subcommands print and exit 1 on.
Reads of OVS come back as flattened rows (`ovscmd.rows`).
"""
from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from controller.cli.ovscmd import VSCTL, rows

TIMEOUT = 30


class Failed(Exception):
    """A problem to report in one line; nothing further is changed."""


def run(argv: Sequence[str], check: bool = True, timeout: float = TIMEOUT,
        stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    try:
        cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                            input=stdin)
    except FileNotFoundError:
        raise Failed(f'{argv[0]}: not found (is it installed?)') from None
    except subprocess.TimeoutExpired:
        raise Failed(f'{shlex.join(argv)}: no answer after {timeout:g} s') from None
    if check and cp.returncode != 0:
        said = (cp.stderr.strip() or cp.stdout.strip() or f'exit status {cp.returncode}')
        raise Failed(f'{shlex.join(argv)}: {said.splitlines()[0]}')
    return cp


def vsctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([VSCTL, f'--timeout={TIMEOUT}', *args], check=check)


def find(table: str, columns: Sequence[str], *conditions: str) -> List[Dict[str, str]]:
    """Rows of `table` (flattened) matching every condition (all rows without)."""
    out = vsctl('--format=json', f'--columns={",".join(columns)}', 'find', table, *conditions)
    return rows(json.loads(out.stdout))


def controllers(bridge: str) -> tuple:
    return tuple(vsctl('get-controller', bridge).stdout.split())


def port_bridge(port: str) -> Optional[str]:
    """The bridge that has OVS port `port`, or None."""
    cp = vsctl('port-to-br', port, check=False)
    return cp.stdout.strip() if cp.returncode == 0 else None


# -- links ------------------------------------------------------------------

@dataclass(frozen=True)
class Netns:
    """Where a namespace end lives: `path` for nsenter, `ip_arg` for `ip link ... netns`."""
    path: str
    ip_arg: str
    label: str            # for messages: 'namespace ns1', 'process 1234'

    def argv(self, argv: Sequence[str]) -> List[str]:
        return ['nsenter', f'--net={self.path}', '--', *argv]


def link(name: str, netns: Optional[Netns] = None) -> Optional[dict]:
    """`ip -j -d link show NAME` (in `netns`), or None when there is none."""
    argv = ['ip', '-j', '-d', 'link', 'show', 'dev', name]
    cp = run(netns.argv(argv) if netns else argv, check=False)
    if cp.returncode != 0:
        return None
    found = json.loads(cp.stdout or '[]')
    return found[0] if found else None


def addresses(name: str, netns: Netns) -> List[str]:
    """The IPv4 addresses of `name` in `netns`, as CIDRs."""
    cp = run(netns.argv(['ip', '-j', '-4', 'addr', 'show', 'dev', name]))
    return [f'{a["local"]}/{a["prefixlen"]}' for i in json.loads(cp.stdout or '[]')
            for a in i.get('addr_info', []) if a.get('family') == 'inet']


def routes(name: str, netns: Netns) -> List[str]:
    """`DEST via GW` for every IPv4 route through a gateway on `name` in `netns`."""
    cp = run(netns.argv(['ip', '-j', '-4', 'route', 'show', 'dev', name]))
    return [f'{r["dst"]} via {r["gateway"]}' for r in json.loads(cp.stdout or '[]')
            if r.get('gateway')]


def tx_checksum_on(name: str, netns: Optional[Netns] = None) -> bool:
    argv = ['ethtool', '-k', name]
    out = run(netns.argv(argv) if netns else argv).stdout
    return any(line.strip().startswith('tx-checksumming: on') for line in out.splitlines())


def in_netns(netns: Optional[Netns], argv: Sequence[str]) -> List[str]:
    return netns.argv(argv) if netns else list(argv)
