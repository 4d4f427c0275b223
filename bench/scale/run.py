"""One size, measured: the pure layer, then on a switch our install from
empty, ovs-ofctl --bundle on the same bridge, and one-interface edits."""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from bench.common import Say, SetupError
from bench.scale.controllog import APPLIED_RE, CHANGED_RE, CONNECTED_RE, FOUND_RE, PLAN_RE, LogWatch
from bench.scale.pure import ScaleTopology, pure_size
from bench.scale.report import summarise
from bench.scale.switch import Ovs, PrivateOvs, SharedOvs
from bench.stats import CpuMeter, cpu_text, median
from lab import Controller, GiveUp, Lab, NetlabError, free_tcp_port, wait_for

POLL_S = 0.02                 # between ovs-ofctl polls (each takes a few ms more)
T = TypeVar('T')


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)


def run_size(lab: Lab, n: int, args: argparse.Namespace, say: Say) -> dict:
    """Everything measured at size n, as the result (the JSON of one size)."""
    t_start = time.perf_counter()
    topo = ScaleTopology(n, args.per_network, lab.prefix)
    res = pure_size(topo, lab.path(f'scale-{n}.yml'), args.pure_budget, say)
    ovs = (PrivateOvs if args.ovs == 'private' else SharedOvs)(lab)
    run = SwitchRun(lab, ovs, topo, res, args, say)
    try:
        run.setup()
        run.measure()
    finally:
        run.teardown()
    res['elapsed_s'] = time.perf_counter() - t_start
    return res


class SwitchRun:
    """The switch part of one size, on one bridge whose ports exist throughout."""

    def __init__(self, lab: Lab, ovs: Ovs, topo: ScaleTopology, res: dict,
                 args: argparse.Namespace, say: Say):
        self.lab, self.ovs, self.topo, self.res, self.args, self.say = lab, ovs, topo, res, args, say
        self.n = topo.n
        self.path = lab.path(f'scale-{self.n}.yml')
        self.br = ''
        self.ctl: Optional[Controller] = None
        self.ctl_port = 0
        self.created_ports = False
        self.files: dict[str, Path] = {}
        self.installed: dict[str, list[str]] = {}
        big = self.n > args.repeat_limit
        self.rounds = args.rounds or (1 if big else 3)
        self.edits = args.edits or (1 if big else 5)

    # -- the switch and the controller -----------------------------------------------
    def setup(self) -> None:
        self.ovs.start()
        self.res['ovs'] = self.ovs.kind
        self.ctl_port = free_tcp_port()
        self.br = self.ovs.add_bridge(self.topo.dpid, self.ctl_port)
        t = time.perf_counter()
        self.created_ports = True
        self.ovs.db.add_patch_ports(self.br, self.topo.ofports)
        have = self.ovs.port_numbers(self.br)
        wrong = {p: (o, have.get(p)) for p, o in self.topo.ofports.items() if have.get(p) != o}
        if wrong:
            raise SetupError(f'{len(wrong)} ports lack the requested OpenFlow number, e.g. '
                             f'{list(wrong.items())[:3]}')
        self.res['port_setup_s'] = time.perf_counter() - t
        self.say(f'  bridge {self.br} ({self.ovs.kind} ovs-vswitchd): '
                 f'{len(self.topo.ofports)} patch ports '
                 f'({self.n} + 1 for the edit) in {self.res["port_setup_s"]:.1f} s')

    def start_controller(self, tag: str) -> tuple[Controller, LogWatch]:
        self.ctl = self.ovs.controller(self.path, self.ctl_port,
                                       self.lab.path(f'controller-{self.n}-{tag}.log'))
        self.ctl.wait_listening(timeout=300)
        return self.ctl, LogWatch(self.ctl)

    def controller(self) -> Controller:
        if self.ctl is None:
            raise AssertionError('no controller is running')
        return self.ctl

    def stop_controller(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def teardown(self) -> None:
        self.stop_controller()
        t = time.perf_counter()
        if self.br and self.created_ports and self.ovs.kind == 'shared':
            try:
                self.ovs.clear_bridge(self.br)
            except NetlabError as e:
                self.say(f'  warning: {e}')
            self.say(f'  removing {len(self.topo.ofports)} ports from {self.br} ...')
            self.ovs.remove_ports(self.br, self.topo.ofports, self.say)
        self.created_ports = False
        self.ovs.stop()
        self.res['port_teardown_s'] = time.perf_counter() - t

    # -- robustness: ovs-vswitchd restarted by someone else ----------------------------
    def attempt(self, what: str, fn: Callable[..., T], *a: Any) -> T:
        """fn(*a), again (up to 3 times) when ovs-vswitchd was restarted meanwhile
        (by something else: that wipes flows, groups and meters)."""
        if self.ovs.kind == 'private':      # nobody else touches ours
            return fn(*a)
        for _ in range(3):
            pid = self.ovs.pid()
            try:
                result = fn(*a)
            except (AssertionError, NetlabError, SetupError):
                if self.ovs.pid() == pid:
                    raise
            else:
                if self.ovs.pid() == pid:
                    return result
            self.res.setdefault('disturbed', []).append(what)
            self.say(f'  ovs-vswitchd was restarted (pid {pid} -> {self.ovs.pid()}, not by '
                     f'bench.scale) during {what}: measuring it again')
            wait_for(lambda: self.ovs.port_numbers(self.br).get(self.topo.edit_port)
                     == self.topo.edit_ofport,
                     timeout=120, interval=0.2, what='the bridge to be back with its ports')
            self.settle()
        raise SetupError(f'ovs-vswitchd was restarted during every attempt of {what}')

    def settle(self, timeout: float = 300) -> None:
        """With a controller running: wait until every connection of the bridge
        has had its install applied (and no new one came for a second)."""
        if self.ctl is None:
            return
        ctl = self.ctl
        last: list[Any] = [None, time.monotonic()]

        def settled() -> bool:
            text = ctl.log_text()
            state = (text.count('connected with'),
                     len(re.findall(r': connected: (applied|already)', text)))
            if state != last[0]:
                last[:] = [state, time.monotonic()]
            return state[0] > 0 and state[0] <= state[1] and time.monotonic() - last[1] > 1.0
        wait_for(settled, timeout=timeout, interval=0.1, what='the controller to re-install',
                 state=lambda: ctl.log_tail(10))

    # -- all rounds ---------------------------------------------------------------------
    def measure(self) -> None:
        version = self.args.ofctl_version
        ours, ofctl, edits = [], [], []
        for i in range(1, self.rounds + 1):
            ours.append(self.attempt(f'install #{i}', self.ours_round, i))
            if i == 1:
                self.attempt('the dump', self.dump_installed)
            if i < self.rounds:
                ofctl.append(self.attempt(f'ovs-ofctl #{i}', self.ofctl_round, i, version))
        for j in range(1, self.edits + 1):
            edits.append(self.attempt(f'edit #{j}', self.edit, j))
        last = edits[-1] if edits else None
        if last and last['kind'] == 'revert' and last['flows_after'] != self.res['flows']:
            last['problems'].append(f'{last["flows_after"]} flows after reverting, '
                                    f'expected {self.res["flows"]}')
        ofctl.append(self.attempt(f'ovs-ofctl #{self.rounds}', self.ofctl_round, self.rounds,
                                  version))
        if self.args.ofctl_both:
            other = 'OpenFlow13' if version != 'OpenFlow13' else 'OpenFlow14'
            ofctl.append(self.attempt('ovs-ofctl (other version)', self.ofctl_round,
                                      self.rounds + 1, other))
        self.res.update(summarise(self.res['flows'], ours, ofctl, edits, version))

    # -- ours, from empty ---------------------------------------------------------------
    def ours_round(self, i: int) -> dict:
        self.stop_controller()
        self.ovs.clear_bridge(self.br)
        if self.ovs.flow_count(self.br) != 0:
            raise SetupError(f'{self.br} still has flows after del-flows')
        expected = self.res['flows']
        self.path.write_text(self.topo.text)
        ctl, log = self.start_controller(f'ours{i}')
        t_conn, m = log.wait(CONNECTED_RE, 120, 'the bridge to connect')
        meter = CpuMeter(ctl.pid)
        poll = []

        def complete() -> int:
            # flows only appear when the bundle commits, after everything is
            # sent: poll gently until the controller says it has sent it all
            if log.find(PLAN_RE, 'connected') is None:
                time.sleep(0.1)
            t = time.perf_counter()
            c = self.ovs.flow_count(self.br)
            poll.append(time.perf_counter() - t)
            return c if c >= expected else 0

        seen = wait_for(complete, timeout=self.args.install_timeout, interval=POLL_S,
                        what=f'{expected} flows on {self.br}', state=lambda: ctl.log_tail(20))
        t_all = time.time()
        t_app, app = log.wait(APPLIED_RE, 120, 'the barrier reply of the install', 'connected')
        cpu = meter.result()
        t_plan, plan = log.get(PLAN_RE, 'connected')
        found = log.find(FOUND_RE)
        t_found = found[0] if found else None
        applied_ms = float(app.group('ms'))
        send_start = t_app - applied_ms / 1e3
        # ovs-ofctl's time ends when the switch confirms its commit; ours
        # compares on the same event (the controller's log), and wall_s adds
        # the bench's poll until the flows show in a dump.
        r = {'wall_s': t_all - t_conn, 'confirmed_s': t_app - t_conn, 'flows_seen': seen,
             'ports_at_connect': int(m.group('ports')),
             'applied_ms': applied_ms, 'flow_mods': int(plan.group('mods')),
             'one_bundle': bool(plan.group('bundle')),
             'plan': plan.group(0).split(': ', 2)[-1],
             'split_s': {
                 'read_back': (t_found - t_conn) if t_found else None,
                 'compile_plan': (send_start - t_found) if t_found else None,
                 'build_send': t_plan - send_start,
                 'switch_after_send': t_app - t_plan,
                 'visible_after_barrier': t_all - t_app},
             'poll_ms': (median(poll) or 0.0) * 1e3, 'cpu': cpu,
             'problems': log.problems()[:5]}
        if seen != expected:
            r['problems'].append(f'{seen} flows instead of {expected}')
        self.say(f'  ours #{i}: {expected} flows confirmed {r["confirmed_s"]:.2f} s, visible '
                 f'{r["wall_s"]:.2f} s from connection '
                 f'({expected / r["wall_s"]:.0f} flows/s); controller: applied in '
                 f'{applied_ms:.0f} ms, {r["flow_mods"]} flow-mods'
                 f'{", one bundle" if r["one_bundle"] else ""}; split '
                 + ', '.join(f'{k} {v:.2f}s' for k, v in r['split_s'].items() if v is not None)
                 + f'; {cpu_text(cpu)}')
        for p in r['problems']:
            self.say(f'    problem: {p}')
        return r

    def dump_installed(self) -> None:
        for what in ('flows', 'groups', 'meters'):
            lines = self.ovs.dump_lines(self.br, what)
            self.installed[what] = sorted(lines)
            self.files[what] = self.lab.write(f'scale-{self.n}-{what}.txt', '\n'.join(lines) + '\n')
        self.res['dumped'] = {k: len(v) for k, v in self.installed.items()}
        want = {'flows': self.res['flows'], 'groups': self.res['groups'],
                'meters': self.res['meters']}
        if self.res['dumped'] != want:
            raise SetupError(f'dumped {self.res["dumped"]} from {self.br}, compiled {want}')

    # -- the limit: ovs-ofctl --bundle ------------------------------------------------
    def ofctl_round(self, i: int, version: str) -> dict:
        self.stop_controller()
        if len(self.ovs.dump_lines(self.br, 'meters')) < len(self.installed['meters']):
            # ovs-vswitchd was restarted: ovs-ofctl has no batch add-meters, so
            # let the controller put them back (not measured)
            self.say('  meters are gone (ovs-vswitchd restarted?): reinstalling via the controller')
            self.ours_round(0)
            self.stop_controller()
        self.ovs.clear_bridge(self.br, meters=False)
        if self.ovs.flow_count(self.br) != 0:
            raise SetupError(f'{self.br} still has flows after del-flows')
        t_groups = self.ovs.timed_ofctl('add-groups', self.br, str(self.files['groups']),
                                        '--bundle', version=version)
        t_flows = self.ovs.timed_ofctl('add-flows', self.br, str(self.files['flows']),
                                       '--bundle', version=version, timeout=600)
        count = self.ovs.flow_count(self.br)
        r: dict[str, Any] = {'version': version, 'flows_s': t_flows, 'groups_s': t_groups,
                             'flows_seen': count}
        if i == 1 and version == self.args.ofctl_version:
            # flows and groups re-installed; meters were left alone (an edit may have added one)
            same = {w: sorted(self.ovs.dump_lines(self.br, w)) == self.installed[w]
                    for w in ('flows', 'groups')}
            same['meters'] = set(self.installed['meters']) <= set(self.ovs.dump_lines(self.br,
                                                                                      'meters'))
            r['identical_to_ours'] = all(same.values()) or same
        self.say(f'  ovs-ofctl -O {version} --bundle #{i}: add-flows {t_flows:.2f} s '
                 f'({count / t_flows:.0f} flows/s), add-groups {t_groups * 1e3:.0f} ms'
                 + (f'; identical to ours: {r["identical_to_ours"]}'
                    if 'identical_to_ours' in r else ''))
        return r

    # -- a one-interface edit -----------------------------------------------------------
    def edit(self, i: int) -> dict:
        """Add the extra interface, or remove it if the file has it."""
        ctl = self.controller()
        add = self.path.read_text() != self.topo.edit_text
        log = LogWatch(ctl)
        log.mark()
        match = f'table=0,in_port={self.topo.edit_ofport}'
        before = self.ovs.flow_count(self.br)
        meter = CpuMeter(ctl.pid)
        write_atomic(self.path, self.topo.edit_text if add else self.topo.text)
        t_w = time.time()

        def visible() -> bool:
            if log.find(CHANGED_RE) is None:    # still waiting for the file poll
                time.sleep(0.03)                # / validation: poll gently
            if (self.ovs.flow_count(self.br, match) > 0) == add:
                return True
            if not ctl.running():
                raise GiveUp('controller exited')
            return False
        wait_for(visible, timeout=self.args.install_timeout, interval=POLL_S,
                 what=f'the edit ({"add" if add else "revert"}) to show on {self.br}',
                 state=lambda: ctl.log_tail(20))
        t_vis = time.time()
        t_app, app = log.wait(APPLIED_RE, 120, 'the barrier reply of the edit', 'topology change')
        cpu = meter.result()
        t_plan, plan = log.get(PLAN_RE, 'topology change')
        changed = log.find(CHANGED_RE)
        t_changed = changed[0] if changed else None
        applied_ms = float(app.group('ms'))
        total = self.ovs.flow_count(self.br)
        r = {'kind': 'add' if add else 'revert', 'flow_mods': int(plan.group('mods')),
             'plan': plan.group(0).split(': ', 2)[-1], 'applied_ms': applied_ms,
             'visible_ms': (t_vis - t_w) * 1e3, 'flows_after': total,
             'split_ms': {
                 'detect_validate': ((t_changed - t_w) * 1e3) if t_changed else None,
                 'compile_plan_build_send': ((t_plan - t_changed) * 1e3) if t_changed else None,
                 'switch_after_send': (t_app - t_plan) * 1e3},
             'cpu': cpu, 'problems': log.problems()[:5]}
        expected_after = before + int(plan.group('add')) - int(plan.group('dele'))
        if total != expected_after:
            r['problems'].append(f'{total} flows after the edit, expected {expected_after} '
                                 f'({before} before, plan {r["plan"]})')
        self.say(f'  edit #{i} ({r["kind"]}): {r["flow_mods"]} flow-mods, applied in '
                 f'{applied_ms:.1f} ms, visible {r["visible_ms"]:.0f} ms after the write ('
                 + ', '.join(f'{k} {v:.0f}' for k, v in r['split_ms'].items() if v is not None)
                 + f' ms); {cpu_text(cpu)}')
        for p in r['problems']:
            self.say(f'    problem: {p}')
        return r
