"""Which ovs-vswitchd bench/scale measures on: the machine's (shared) or one
of our own (private), and the ovs-ofctl queries it makes of either."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Iterable, Optional

from bench.common import Say
from bench.scale.ovsdb import Ovsdb
from lab import VNET_COOKIE, Controller, Lab, NetlabError, sh
from lab.ovsinstance import OvsInstance

OVS_RUNDIR = Path(os.environ.get('OVS_RUNDIR', '/var/run/openvswitch'))
VNET_COOKIE_FILTER = f'cookie={VNET_COOKIE}'


def meter_lines(dump: str) -> list[str]:
    """``ovs-ofctl dump-meters`` output -> one add-meter line per meter:
    'meter=1 pktps burst bands=' + 'type=drop rate=50 burst_size=100' ->
    'meter=1,pktps,burst,band=type=drop,rate=50,burst_size=100'."""
    meters: list[str] = []
    for ln in dump.splitlines():
        ln = ln.strip()
        if ln.startswith('meter='):
            meters.append(ln.replace(' bands=', '').replace(' ', ','))
        elif ln.startswith('type=') and meters:
            meters[-1] += ',band=' + ln.replace(' ', ',')
    return meters


class Ovs:
    """What bench/scale needs of an ovs-vswitchd; subclasses say which one."""
    kind = ''

    def __init__(self, lab: Lab):
        self.lab = lab
        self._db: Optional[Ovsdb] = None

    # -- to be provided ------------------------------------------------------------
    @property
    def db_sock(self) -> Path:
        raise NotImplementedError

    def ofctl(self, command: str, bridge: str, *args: str, version: str = 'OpenFlow13',
              timeout: float = 120) -> str:
        """``ovs-ofctl -O VERSION COMMAND <bridge> ARGS``; its stdout."""
        raise NotImplementedError

    def start(self) -> None:
        pass

    def stop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def pid(self) -> Optional[int]:
        """ovs-vswitchd's PID: a change means it was restarted."""
        raise NotImplementedError

    def add_bridge(self, dpid: int, ctl_port: int) -> str:
        raise NotImplementedError

    def controller(self, path: Path, port: int, log_path: Path) -> Controller:
        """The controller for ``path``, started (not waited for)."""
        raise NotImplementedError

    def remove_ports(self, br: str, names: Iterable[str], say: Say) -> None:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------
    @property
    def db(self) -> Ovsdb:
        if self._db is None:
            self._db = Ovsdb(self.db_sock)
        return self._db

    def flow_count(self, br: str, match: str = '') -> int:
        """How many of our flows (by cookie, and ``match``) the bridge has."""
        out = self.ofctl('dump-aggregate', br, VNET_COOKIE_FILTER + (f',{match}' if match else ''),
                         timeout=60)
        m = re.search(r'flow_count=(\d+)', out)
        if not m:
            raise NetlabError(f'no flow_count in dump-aggregate output: {out!r}')
        return int(m.group(1))

    def dump_lines(self, br: str, what: str) -> list[str]:
        """Our flows (with cookie), all groups or all meters, one line each in
        the syntax ovs-ofctl adds them with."""
        if what == 'flows':
            out = self.ofctl('dump-flows', br, '--no-names', '--no-stats', VNET_COOKIE_FILTER)
            return [ln.strip() for ln in out.splitlines() if 'actions=' in ln]
        if what == 'groups':
            out = self.ofctl('dump-groups', br, '--no-names')
            return [ln.strip() for ln in out.splitlines() if ln.strip().startswith('group_id=')]
        if what == 'meters':
            return meter_lines(self.ofctl('dump-meters', br))
        raise ValueError(what)

    def clear_bridge(self, br: str, meters: bool = True) -> None:
        self.ofctl('del-flows', br)
        self.ofctl('del-groups', br)
        if meters:
            self.ofctl('del-meters', br)

    def port_numbers(self, br: str) -> dict[str, int]:
        out = self.ofctl('show', br, timeout=60)
        return {m.group(2): int(m.group(1))
                for m in re.finditer(r'^\s*(\d+)\(([^)]+)\):', out, re.M)}

    def timed_ofctl(self, command: str, br: str, *args: str, version: str,
                    timeout: float = 300) -> float:
        """Seconds one ovs-ofctl command takes."""
        t = time.perf_counter()
        self.ofctl(command, br, *args, version=version, timeout=timeout)
        return time.perf_counter() - t


class SharedOvs(Ovs):
    """The machine's ovs-vswitchd.  Removing n ports costs it O(n^2) (see
    bench/scale's docstring): minutes at 10,000, during which it serves
    nobody else."""
    kind = 'shared'

    @property
    def db_sock(self) -> Path:
        return OVS_RUNDIR / 'db.sock'

    def ofctl(self, command: str, bridge: str, *args: str, version: str = 'OpenFlow13',
              timeout: float = 120) -> str:
        return sh(['ovs-ofctl', '-O', version, command, bridge, *args], timeout=timeout).stdout

    def pid(self) -> Optional[int]:
        try:
            return int((OVS_RUNDIR / 'ovs-vswitchd.pid').read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def add_bridge(self, dpid: int, ctl_port: int) -> str:
        br = self.lab.bridge('s', dpid=dpid, controller_port=ctl_port).name
        sh(['ovs-vsctl', '--timeout=60', 'set', 'Bridge', br, 'protocols=OpenFlow13,OpenFlow14'])
        return br

    def controller(self, path: Path, port: int, log_path: Path) -> Controller:
        return self.lab.controller(path, port=port, wait=False, log_path=log_path)

    def remove_ports(self, br: str, names: Iterable[str], say: Say) -> None:
        self.db.delete_ports(br, names, progress=say)


class PrivateOvs(Ovs):
    """Our own ovsdb-server + ovs-vswitchd (lab.ovsinstance: the same
    binaries, datapath netdev) in a network namespace of ours, so that its
    tap devices (ovs-netdev, the bridge's LOCAL port) and 127.0.0.1 are
    private too.  Isolated from other users' bridges and restarts, and gone
    in a second when stopped -- instead of minutes of port removal."""
    kind = 'private'

    def __init__(self, lab: Lab):
        super().__init__(lab)
        self.ns = f'{lab.prefix}-ovs'
        self.instance = OvsInstance(lab.path('ovs'), netns=self.ns, track=lab.track_process)

    @property
    def db_sock(self) -> Path:
        return self.instance.db_sock

    def ofctl(self, command: str, bridge: str, *args: str, version: str = 'OpenFlow13',
              timeout: float = 120) -> str:
        return self.instance.ofctl(command, bridge, *args, version=version, timeout=timeout)

    def start(self) -> None:
        self.lab.track_netns(self.ns)        # removed with the lab, also after a crash
        sh(['ip', 'netns', 'add', self.ns])
        sh(['ip', 'netns', 'exec', self.ns, 'ip', 'link', 'set', 'lo', 'up'])
        self.instance.start()

    def pid(self) -> Optional[int]:
        vswitchd = self.instance.vswitchd
        return vswitchd.pid if vswitchd is not None and vswitchd.poll() is None else None

    def add_bridge(self, dpid: int, ctl_port: int) -> str:
        br = self.lab.ifname('s')
        self.instance.vsctl(
            '--timeout=60', '--', 'add-br', br,
            '--', 'set', 'Bridge', br, 'datapath_type=netdev', 'fail_mode=secure',
            'protocols=OpenFlow13,OpenFlow14', f'other-config:datapath-id={dpid:016x}',
            'other-config:disable-in-band=true',
            '--', 'set-controller', br, f'tcp:127.0.0.1:{ctl_port}',
            '--', 'set', 'Controller', br, 'connection-mode=out-of-band', 'max_backoff=1000',
            timeout=90)
        return br

    def controller(self, path: Path, port: int, log_path: Path) -> Controller:
        c = Controller(path, port=port, log_path=log_path, netns=self.ns)
        c.start(wait=False)
        if c.proc is not None:
            self.lab.track_process(c.proc)
        return c

    def remove_ports(self, br: str, names: Iterable[str], say: Say) -> None:
        pass                                 # they go with the instance

    def stop(self) -> None:
        super().stop()
        self.instance.stop()                 # ovs-vswitchd first, then ovsdb-server
        sh(['ip', 'netns', 'del', self.ns], check=False)
