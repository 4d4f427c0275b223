"""Measuring both sides: a warm-up per side, then alternating rounds (under
load, then one at a time), then the result with ratios and targets.

Each round begins after a rest as long as the per-port DHCP meter takes to
refill its burst (both sides rest alike).  Without it a round of ours that
follows one of ours (mirrored alternation puts them back to back) starts
with the buckets its predecessor emptied, and the result depends on the
order of the rounds rather than on the responder."""

from __future__ import annotations

import argparse
import time
from typing import Optional

from bench.dhcp.loadgen import RoundResult
from bench.dhcp.report import meter_cap, ratios, summarize, targets
from bench.dhcp.sides import Bench, controller_hint
from bench.stats import alternating
from controller.pipeline.port_security import DHCP_BURST, DHCP_RATE_PPS

METER_REST_S = DHCP_BURST / DHCP_RATE_PPS      # an emptied bucket full again


def warm_up(bench: Bench, side: str, args: argparse.Namespace) -> tuple[dict, Optional[str]]:
    """Every client of ``side`` once through a DORA: what it saw, and why the
    side cannot be measured (None: it can)."""
    w = bench.gens[side].warm_up(args.warmup, args.timeout)
    note = None
    if w['done'] == 0:
        note = (f"no client got an ACK in {args.warmup:g} s of warm-up "
                f"({w['offers']} offers, {w['acks']} acks, {w['naks']} naks)")
        if side == 'ours':
            note += controller_hint(bench.controller, args.verbose)
        if side == 'dnsmasq' and bench.dnsmasq_log is not None:
            note += '\ndnsmasq log:\n' + bench.dnsmasq_log.read_text()[-1500:]
    elif w['done'] < w['clients']:
        w['note'] = f"only {w['done']}/{w['clients']} clients completed a DORA"
    if w.get('bad_checksums'):
        w['note'] = (w.get('note', '') + f" {w['bad_checksums']} replies with bad checksums").strip()
    return w, note


def measure(bench: Bench, sides: list[str], args: argparse.Namespace) -> dict:
    warm: dict[str, dict] = {}
    notes = dict(bench.notes)
    for side in sides:
        if side in notes:
            warm[side] = {}
            continue
        warm[side], note = warm_up(bench, side, args)
        if note is not None:
            notes[side] = note
    live = [s for s in sides if s not in notes]
    load: dict[str, list[RoundResult]] = {s: [] for s in sides}
    idle: dict[str, list[RoundResult]] = {s: [] for s in sides}
    for _, side in alternating(live, args.rounds, mirrored=True):
        gen = bench.gens[side]
        time.sleep(METER_REST_S)
        load[side].append(gen.run(side, args.duration, args.concurrency, args.timeout))
        gen.drain()
        if args.latency_duration > 0:
            idle[side].append(gen.run(side, args.latency_duration, 1, args.timeout))
            gen.drain()
    result: dict = {
        'config': {'clients': args.clients, 'concurrency': args.concurrency,
                   'rounds': args.rounds, 'duration': args.duration,
                   'latency_duration': args.latency_duration, 'timeout': args.timeout,
                   'warmup': args.warmup, 'dnsmasq_bridge': args.dnsmasq_bridge,
                   'packet_ins': getattr(args, 'packet_ins', False)},
        'sides': {s: summarize(load[s], idle[s], warm[s], notes.get(s)) for s in sides},
    }
    o, d = result['sides'].get('ours'), result['sides'].get('dnsmasq')
    if o is not None and o['status'] == 'ok':
        result['meter_cap'] = meter_cap(args.clients)
    if o is not None and d is not None and o['status'] == 'ok' and d['status'] == 'ok':
        result['ratio'] = ratios(o, d)
    result['targets'] = targets(o, d, args.concurrency)
    return result
