"""The topology in etcd, for the integration tests: vnetctl against the
store, an agent (the controller with --topology etcd://...), and waiting
for what the agent logs."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Optional

import yaml

from lab import REPO_ROOT, agents, wait_for

VNETCTL = str(Path(sys.executable).parent / 'vnetctl')


def vnetctl(*args: object, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([VNETCTL, *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def apply(lab, store_url: str, doc: dict, name: str = 'edit.yml', *extra: object,
          check: bool = True) -> subprocess.CompletedProcess:
    """`vnetctl apply` of ``doc`` (written to a file in the lab); the new revision with check."""
    path = lab.write(name, yaml.safe_dump(doc, sort_keys=False))
    # 5 s per request and member: a loaded machine must not look like a lost quorum
    cp = vnetctl('apply', path, '--store', store_url, '--timeout', '5', *extra)
    if check:
        assert cp.returncode == 0, f'vnetctl apply failed ({cp.returncode}):\n{cp.stdout}{cp.stderr}'
    return cp


def applied_revision(cp: subprocess.CompletedProcess) -> int:
    line = [ln for ln in cp.stdout.splitlines() if ln.startswith('applied: revision ')]
    assert line, cp.stdout
    return int(line[-1].split()[-1])


def write_around(store_url: str, text: str) -> int:
    """Put ``text`` straight into the store (as etcdctl would): its revision.
    (Plain HTTP: etcd3gw would import eventlet into the test process.)"""
    endpoints, prefix = store_url.removeprefix('etcd://').split('/', 1)
    body = json.dumps({'key': _b64(f'/{prefix}/topology'), 'value': _b64(text)}).encode()
    host, port = endpoints.split(',')[0].rsplit(':', 1)
    with urllib.request.urlopen(f'http://{host}:{port}/v3/kv/put', body, timeout=5) as r:
        return int(json.load(r)['header']['revision'])


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def agent_args(lab, name: str = 'agent') -> list[str]:
    return agents.agent_args(lab, name)


def wait_logged(ctl, text: str, timeout: float = 10, after: int = 0) -> str:
    """Wait until the controller's log (from character ``after`` on) has ``text``."""
    def seen() -> Optional[str]:
        ctl.assert_running()
        log = ctl.log_text()[after:]
        return log if text in log else None
    return wait_for(seen, timeout=timeout, interval=0.05, what=f'{text!r} in the log',
                    state=lambda: ctl.log_tail(25))
