"""bench/dhcp's results: each side's summary of its rounds, the ratios
ours/dnsmasq, the targets, and the table."""

from __future__ import annotations

from typing import Any, Optional

from bench.dhcp.loadgen import RoundResult
from bench.stats import fmt, percentile, ratio
from controller.pipeline.port_security import DHCP_BURST, DHCP_RATE_PPS

TARGET_P99_MS = 5.0


def _ms(v: Optional[float]) -> Optional[float]:
    return None if v is None else round(v * 1e3, 3)


def _rate(done: int, seconds: float) -> float:
    return round(done / seconds, 1) if seconds else 0.0


def summarize(load: list[RoundResult], idle: list[RoundResult], warm: dict,
              note: Optional[str]) -> dict:
    """One side: the rate and latencies under load, one at a time, and what
    went wrong; ``note`` says why the side was not measured."""
    lat = sorted(x for r in load for x in r.latencies)
    one = sorted(x for r in idle for x in r.latencies)
    out = {
        'status': 'ok' if lat else 'no answers',
        'transactions': len(lat),
        'seconds': round(sum(r.window for r in load), 3),
        'rate': _rate(sum(r.in_window for r in load), sum(r.window for r in load)),
        'p50_ms': _ms(percentile(lat, 50)),
        'p99_ms': _ms(percentile(lat, 99)),
        'max_ms': _ms(lat[-1] if lat else None),
        'timeouts': sum(r.timeouts for r in load + idle),
        'naks': sum(r.naks for r in load + idle),
        'wrong_address': sum(r.wrong for r in load + idle),
        'round_rates': [_rate(r.in_window, r.window) for r in load],
        'one_at_a_time': {
            'transactions': len(one),
            'rate': _rate(sum(r.in_window for r in idle), sum(r.window for r in idle)),
            'p50_ms': _ms(percentile(one, 50)),
            'p99_ms': _ms(percentile(one, 99)),
            'max_ms': _ms(one[-1] if one else None),
        },
        'warm_up': warm,
    }
    if note:
        out['status'] = 'no answers'
        out['note'] = note
    return out


def ratios(o: dict, d: dict) -> dict[str, Optional[float]]:
    """ours/dnsmasq for the rate and each latency."""
    oo, do = o['one_at_a_time'], d['one_at_a_time']
    return {'rate': ratio(o['rate'], d['rate']),
            'p50': ratio(o['p50_ms'], d['p50_ms']),
            'p99': ratio(o['p99_ms'], d['p99_ms']),
            'one_p50': ratio(oo['p50_ms'], do['p50_ms']),
            'one_p99': ratio(oo['p99_ms'], do['p99_ms'])}


def targets(o: Optional[dict], d: Optional[dict], concurrency: int) -> dict[str, dict]:
    """Target name -> {'met': True/False/None (not measurable), 'detail'}:
    our rate at least dnsmasq's (when both ran), our p99 one at a time."""
    out: dict[str, dict[str, Any]] = {}
    if o is None:
        return out
    if d is not None:
        if o['status'] == 'ok' and d['status'] == 'ok':
            met, detail = o['rate'] >= d['rate'], f"{o['rate']:.0f} vs {d['rate']:.0f} DORA/s"
        elif o['status'] != 'ok':
            met, detail = False, 'ours gave no answers'
        else:
            met, detail = None, 'dnsmasq gave no answers'
        out['ours rate >= dnsmasq rate'] = {'met': met, 'detail': detail}
    one = o['one_at_a_time']
    if o['status'] != 'ok':
        met, detail = False, 'no answers'
    elif one['p99_ms'] is None:
        met, detail = None, 'not measured (--latency-duration 0)'
    else:
        met = one['p99_ms'] < TARGET_P99_MS
        detail = (f"{one['p99_ms']:.3f} ms one at a time; {o['p99_ms']:.3f} ms at "
                  f"concurrency {concurrency}, where queueing dominates")
    out[f'ours p99 < {TARGET_P99_MS:g} ms'] = {'met': met, 'detail': detail}
    return out


def meter_cap(clients: int) -> str:
    """The ceiling the pipeline's per-port DHCP meter puts on ours."""
    return (f'the per-port DHCP meter ({DHCP_RATE_PPS} pps, burst {DHCP_BURST}) caps ours '
            f'at {clients} x {DHCP_RATE_PPS}/2 = {clients * DHCP_RATE_PPS // 2} DORA/s '
            f'sustained with {clients} clients')


def _f(v: Optional[float]) -> str:
    return fmt(v, '.3f', width=9)


def table(r: dict) -> str:
    c = r['config']
    lines = [f"DHCP DORA: {c['clients']} clients (one OVS port each), {c['rounds']} rounds per "
             f"side, alternating: {c['duration']:g} s at concurrency {c['concurrency']}, then "
             f"{c['latency_duration']:g} s one at a time; dnsmasq bridge: "
             f"{c['dnsmasq_bridge']}; step timeout {c['timeout']:g} s; ours "
             + ('by packet-ins' if c.get('packet_ins') else 'through the service port'),
             '',
             f"{'':8} {'-- concurrency ' + str(c['concurrency']) + ' ':-<42}  "
             f"{'-- one at a time ':-<30}",
             f"{'side':<8} {'DORA/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}   "
             f"{'DORA/s':>8} {'p50 ms':>9} {'p99 ms':>9}  {'timeouts':>8} {'naks':>5}  "
             f"DORA/s per round"]
    later = []
    for side, s in r['sides'].items():
        if s['status'] != 'ok':
            note = s.get('note', '').split('\n', 1)
            lines.append(f"{side:<8} {'no answers':>10}  {note[0]}")
            if len(note) > 1:
                later.append(f'{side}: {note[1]}')
            continue
        one = s['one_at_a_time']
        lines.append(f"{side:<8} {s['rate']:>8.0f} {_f(s['p50_ms'])} {_f(s['p99_ms'])} "
                     f"{_f(s['max_ms'])}   {one['rate']:>8.0f} {_f(one['p50_ms'])} "
                     f"{_f(one['p99_ms'])}  {s['timeouts']:>8} {s['naks']:>5}  "
                     f"{', '.join(f'{x:.0f}' for x in s['round_rates'])}")
    lines.append('')
    rr = r.get('ratio')
    if rr:
        def x(v: Optional[float]) -> str:
            return fmt(v, '.2f', mark='x')
        lines.append(f"ratio ours/dnsmasq: rate {x(rr['rate'])}; at concurrency "
                     f"{c['concurrency']}: p50 {x(rr['p50'])}, p99 {x(rr['p99'])}; "
                     f"one at a time: p50 {x(rr['one_p50'])}, p99 {x(rr['one_p99'])}")
    for name, t in r.get('targets', {}).items():
        verdict = 'n/a' if t['met'] is None else ('met' if t['met'] else 'MISSED')
        lines.append(f"target {name}: {verdict} ({t['detail']})")
    for side, s in r['sides'].items():
        if s.get('warm_up', {}).get('note'):
            lines.append(f"{side}: warm-up: {s['warm_up']['note']}")
    if r.get('meter_cap'):
        lines.append(f"note: {r['meter_cap']}")
    lines += later
    return '\n'.join(lines)
