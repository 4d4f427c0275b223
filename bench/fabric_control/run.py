"""bench.fabric_control, measured: set-up, programming from empty (rounds),
a restart that finds everything in sync, and one-interface edits."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from bench.common import Say, SetupError
from bench.fabric_control import controllog as clog
from bench.fabric_control.switches import COOKIE_FILTER, FabricSwitches
from bench.fabric_control.topo import (
    BridgePlan,
    Desired,
    Shape,
    bridge_plans,
    bridge_ports,
    changes,
    desired_states,
    probe,
    with_tunnel_ports,
)
from bench.stats import CpuMeter, median
from controller.pipeline import Compiler
from controller.topology import load_topology
from lab import Controller, GiveUp, Lab, free_tcp_port, topogen, wait_for

POLL_S = 0.02          # between poll rounds (each round runs ovs-ofctl processes)
LATE_LINES_S = 1.0     # after an edit is visible: how long stray flow-mods may take to show


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t


def _since(t0: float, t: Optional[float]) -> Optional[float]:
    return None if t is None else t - t0


class FabricRun:
    """One fabric on one private ovs-vswitchd; the controller is started and
    stopped around it.  ``desired[0]`` / ``texts[0]``: the topology,
    ``[1]``: with the edit's vif."""

    def __init__(self, lab: Lab, shape: Shape, args: argparse.Namespace, say: Say):
        self.lab, self.shape, self.args, self.say = lab, shape, args, say
        self.switches = FabricSwitches(lab)
        self.port = free_tcp_port()
        self.path = lab.path('fabric.yml')
        self.texts = [with_tunnel_ports(topogen.topology_text(shape.spec(extra_vif=e)))
                      for e in (False, True)]
        self.plans: list[BridgePlan] = bridge_plans(shape)
        self.desired: list[dict[str, Desired]] = []
        self.ctl: Optional[Controller] = None
        self.n_ctl = 0

    # -- set-up -------------------------------------------------------------------
    def setup(self) -> dict:
        self.switches.start()
        _, t = _timed(self.switches.create, self.plans, self.args.timeout)
        numbers = self.switches.port_numbers()
        missing = [n for p in self.plans for n in (*p.ports, p.tunnel_port) if numbers.get(n, -1) < 1]
        errors = self.switches.interface_errors()
        if missing or errors:
            raise SetupError(f'{len(missing)} ports without an OpenFlow number {missing[:5]}; '
                             f'errors: {errors[:5]}')
        ports = {p.name: bridge_ports(p, numbers) for p in self.plans}
        n_ports = sum(len(p.ports) for p in self.plans)
        self.say(f'  {len(self.plans)} bridges, {n_ports} patch ports and {len(self.plans)} VXLAN '
                 f'ports on one ovs-vswitchd in {t:.1f} s')
        compile_s, validate_s = [], []
        compiler = Compiler()
        for i, text in enumerate(self.texts):
            topology, t_validate = _timed(load_topology, str(self.lab.write(f'fabric-{i}.yml', text)))
            states, t_compile = _timed(desired_states, topology, ports, compiler)
            self.desired.append(states)
            validate_s.append(t_validate)
            compile_s.append(t_compile)
        flows = [len(d.cookies) for d in self.desired[0].values()]
        res = {'datapaths': len(self.plans), 'setup_s': t, 'patch_ports': n_ports,
               'vxlan_ports': len(self.plans),
               'validate_s': validate_s[0], 'compile_cold_s': compile_s[0],
               'compile_edit_s': compile_s[1],
               'flows': {'min': min(flows), 'median': median(flows), 'max': max(flows),
                         'total': sum(flows)},
               'groups': sum(len(d.groups) for d in self.desired[0].values())}
        self.say(f'  in this process: validate {validate_s[0]:.2f} s, compile all {len(ports)} '
                 f'datapaths {compile_s[0]:.2f} s (cold); {sum(flows)} flows, '
                 f'{min(flows)}-{max(flows)} per datapath')
        return res

    def teardown(self) -> None:
        self.stop_controller()
        self.switches.stop()

    # -- the controller -----------------------------------------------------------
    def start_controller(self) -> tuple[Controller, float, CpuMeter, float]:
        """A new controller process: it, its start time, its CPU meter and
        the CPU seconds the OVS daemons had used by then."""
        self.n_ctl += 1
        ovs_cpu = self.switches.ovs.cpu_seconds()
        t0 = time.time()
        self.ctl = self.switches.controller(self.path, self.port,
                                            self.lab.path(f'controller-{self.n_ctl}.log'))
        return self.ctl, t0, CpuMeter(self.ctl.pid), ovs_cpu

    def stop_controller(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def alive(self) -> bool:
        """True while the controller runs; GiveUp (stops any wait) once it has exited."""
        ctl = self.ctl
        if ctl is None or not ctl.running():
            raise GiveUp('the controller is not running' +
                         (f'; log {ctl.log_path}:\n{ctl.log_tail(30)}' if ctl else ''))
        return True

    def lines(self, offset: int = 0) -> list[str]:
        """The controller's log lines (from character ``offset``)."""
        self.alive()
        assert self.ctl is not None
        return self.ctl.log_text()[offset:].splitlines()

    def _state(self) -> str:
        return f'log {self.ctl.log_path}:\n{self.ctl.log_tail(15)}' if self.ctl else ''

    def _cpu(self, meter: CpuMeter, ovs_cpu: float) -> dict:
        cpu = meter.result()
        cpu['ovs_cpu_s'] = self.switches.ovs.cpu_seconds() - ovs_cpu
        return cpu

    # -- programming every datapath from empty -------------------------------------
    def cold_start(self, i: int) -> dict:
        """Bridges emptied (their controller target removed), the controller
        started and, once it listens, every bridge pointed at it at once.
        (Bridges that were refused for a while would come by themselves only
        after OVS's reconnection back-off: see restart.)"""
        self.stop_controller()
        self.switches.detach(self.args.timeout)
        self._check_empty()
        self.path.write_text(self.texts[0])
        want = {n: len(d.cookies) for n, d in self.desired[0].items()}
        ctl, t0, meter, ovs_cpu = self.start_controller()
        wait_for(lambda: self.alive() and ctl.listening(), timeout=60,
                 interval=POLL_S, what='the controller to listen', state=self._state)
        t_listening = time.time()
        self.switches.attach(want, self.port)
        t_attached = time.time()
        visible: dict[str, float] = {}
        wrong: dict[str, int] = {}

        def all_visible() -> bool:
            # a bridge's flows appear when its bundle commits, which the
            # "applied" line follows: ask ovs-ofctl only from then on
            applied = clog.times(self.lines(), clog.APPLIED_RE, 'connected')
            ready = [n for n in want if n in applied and n not in visible]
            for name, count in self.switches.flow_counts({n: COOKIE_FILTER for n in ready}).items():
                if count == want[name]:
                    visible[name] = time.time()
                else:
                    wrong[name] = count
            return len(visible) == len(want)

        wait_for(all_visible, timeout=self.args.timeout, interval=POLL_S,
                 what='every datapath to show all its flows', state=self._state)
        r = startup_result(self.lines(), t0, max(visible.values()), self._cpu(meter, ovs_cpu))
        r.update(round=i, listening_s=t_listening - t0, attached_s=t_attached - t0)
        if wrong:
            r['problems'].append(f'{len(wrong)} datapaths first showed another flow count than '
                                 f'expected: {dict(list(wrong.items())[:3])}')
        self.say(f'  round {i}: all {len(want)} datapaths programmed {r["wall_s"]:.2f} s after the '
                 f'controller started (listening at {r["listening_s"]:.2f} s, connections '
                 f'{r["first_connected_s"]:.2f}-{r["last_connected_s"]:.2f} s, last applied '
                 f'{r["last_applied_s"]:.2f} s); CPU: controller {r["cpu"]["controller_cpu_s"]:.2f} s, '
                 f'OVS {r["cpu"]["ovs_cpu_s"]:.2f} s')
        return r

    def _check_empty(self) -> None:
        left = {n: c for n, c in self.switches.flow_counts(
            {p.name: 'cookie=0/0' for p in self.plans}).items() if c}
        first = self.plans[0].name
        groups = 'group_id=' in self.switches.ovs.ofctl('dump-groups', first)
        meters = 'meter=' in self.switches.ovs.ofctl('dump-meters', first)
        if left or groups or meters:
            raise SetupError(f'bridges not empty without a controller: flows {left}, '
                             f'groups on {first}: {groups}, meters on {first}: {meters}')

    # -- a restart: everything is in sync already ------------------------------------
    def restart(self) -> dict:
        self.stop_controller()
        names = set(self.desired[0])
        ovs_log = self.switches.ovs.dir / 'ovs-vswitchd.log'
        log_offset = ovs_log.stat().st_size
        _, t0, meter, ovs_cpu = self.start_controller()

        def all_confirmed() -> bool:
            lines = self.lines()
            return names <= (set(clog.times(lines, clog.IN_SYNC_RE, 'connected')) |
                             set(clog.times(lines, clog.PLAN_RE, 'connected')))

        wait_for(all_confirmed, timeout=self.args.timeout, interval=0.1,
                 what='every datapath to be confirmed in sync', state=self._state)
        lines = self.lines()
        in_sync = clog.times(lines, clog.IN_SYNC_RE, 'connected')
        sent = clog.plans(lines, 'connected')
        last = max([*in_sync.values(), *(p.t for p in sent)])
        connected = clog.times(lines, clog.CONNECTED_RE)
        r = {'wall_s': last - t0, 'in_sync': len(in_sync),
             'first_connected_s': min(connected.values()) - t0,
             'last_connected_s': max(connected.values()) - t0,
             'changed': {p.name: p.mods for p in sent}, 'cpu': self._cpu(meter, ovs_cpu),
             'ovs_connections': clog.rconn_events(ovs_log.read_text(errors='replace')[log_offset:]),
             'problems': clog.problems(lines)[:5]}
        self.say(f'  restart: {len(in_sync)} of {len(names)} datapaths found in sync '
                 f'{r["wall_s"]:.2f} s after the controller started (connections '
                 f'{r["first_connected_s"]:.2f}-{r["last_connected_s"]:.2f} s)'
                 + (f'; {len(sent)} were changed' if sent else ''))
        return r

    # -- one-interface edits ----------------------------------------------------------
    def edit(self, add: bool) -> dict:
        """Add the edit's vif (or remove it again) by rewriting the file."""
        ctl = self.ctl
        if ctl is None:
            raise AssertionError('edits need a running controller')
        k = 1 if add else 0
        after = self.desired[k]
        expected = changes(self.desired[1 - k], after)
        probes = {n: probe(c) for n, c in expected.items()}
        offset = len(ctl.log_text())
        meter, ovs_cpu = CpuMeter(ctl.pid), self.switches.ovs.cpu_seconds()
        write_atomic(self.path, self.texts[k])
        t_w = time.time()
        visible: dict[str, float] = {}

        def all_visible() -> bool:
            applied = clog.times(self.lines(offset), clog.APPLIED_RE, 'topology change')
            ready = [n for n in probes if n in applied and n not in visible]
            filters = {}
            for n in ready:
                p = probes[n]
                if p is None:                      # groups only: the applied line says it
                    visible[n] = time.time()
                else:
                    filters[n] = p[0]
            for n, count in self.switches.flow_counts(filters).items():
                probe_n = probes[n]
                if probe_n is not None and count == probe_n[1]:
                    visible[n] = time.time()
            return len(visible) == len(probes)

        wait_for(all_visible, timeout=self.args.timeout, interval=POLL_S,
                 what=f'the edit on {sorted(probes)}', state=self._state)
        t_visible = max(visible.values())
        time.sleep(LATE_LINES_S)
        lines = self.lines(offset)
        cpu = self._cpu(meter, ovs_cpu)
        counts = self.switches.flow_counts({p.name: COOKIE_FILTER for p in self.plans})
        wrong = {n: (c, len(after[n].cookies)) for n, c in counts.items() if c != len(after[n].cookies)}
        r = edit_result(lines, t_w, t_visible, expected, cpu)
        r['kind'] = 'add' if add else 'revert'
        if wrong:
            r['problems'].append(f'flow counts (seen, expected) differ on {len(wrong)} datapaths: '
                                 f'{dict(list(wrong.items())[:3])}')
        mods = ', '.join(f'{n} {t["mods"]}' for n, t in r['touched'].items())
        self.say(f'  edit ({r["kind"]}): flows visible {r["visible_s"]:.2f} s after the write; '
                 f'{len(r["touched"])} datapaths received flow-mods ({mods})')
        return r


def startup_result(lines: list[str], t0: float, t_visible: float, cpu: dict) -> dict:
    """Programming from empty, from the log (times in seconds after ``t0``,
    the controller's start)."""
    connected = clog.times(lines, clog.CONNECTED_RE)
    found = clog.times(lines, clog.FOUND_RE)
    sent = clog.plans(lines, 'connected')
    done = clog.applied(lines, 'connected')
    return {
        'wall_s': t_visible - t0,
        'listening_s': _since(t0, clog.first_time(lines, clog.LISTENING_RE)),
        'first_connected_s': _since(t0, min(connected.values(), default=None)),
        'last_connected_s': _since(t0, max(connected.values(), default=None)),
        'last_applied_s': _since(t0, max((a.t for a in done), default=None)),
        # the app's one thread, per switch: found what is installed -> plan sent
        'compile_send_s': sum(p.t - found[p.name] for p in sent if p.name in found),
        'applied_ms': {'median': median(a.ms for a in done), 'max': max((a.ms for a in done), default=None)},
        'flow_mods': sum(p.mods for p in sent), 'one_bundle_each': all(p.bundle for p in sent),
        'cpu': cpu, 'problems': clog.problems(lines)[:5],
    }


def edit_result(lines: list[str], t_write: float, t_visible: float,
                expected: dict, cpu: dict) -> dict:
    """One edit, from the log lines after the write (times after ``t_write``)."""
    sent = clog.plans(lines, 'topology change')
    done = clog.applied(lines, 'topology change')
    changed = clog.topology_changed(lines)
    touched = {p.name: {'adds': p.adds, 'deletes': p.deletes, 'groups': p.groups,
                        'meters': p.meters, 'mods': p.mods, 'bundle': p.bundle} for p in sent}
    return {
        'visible_s': t_visible - t_write,
        'noticed_s': _since(t_write, changed.t if changed else None),
        'last_applied_s': _since(t_write, max((a.t for a in done), default=None)),
        'applied_ms': max((a.ms for a in done), default=None),
        'what': changed.what if changed else None,
        'may_change': changed.affected if changed else None,
        'expected': {n: {'adds': len(c.added), 'deletes': len(c.removed), 'groups': c.groups}
                     for n, c in expected.items()},
        'touched': touched,
        'lines': [clog.message(ln) for ln in lines if clog.PLAN_RE.search(ln)],
        'cpu': cpu, 'problems': clog.problems(lines)[:5],
    }


def measure(lab: Lab, shape: Shape, args: argparse.Namespace, say: Say) -> dict:
    run = FabricRun(lab, shape, args, say)
    try:
        res = run.setup()
        res['startup'] = [run.cold_start(i) for i in range(1, args.rounds + 1)]
        res['restart'] = run.restart()
        res['edits'] = [run.edit(add=j % 2 == 0) for j in range(args.edits)]
    finally:
        run.teardown()
    res['edit_network_datapaths'] = topogen.network_datapaths(shape.spec(), 0)
    return res
