"""bench.fabric_control's results as tables and verdicts (pure: no lab)."""

from __future__ import annotations

import re
from typing import Iterable, Optional

from bench.fabric_control.topo import Shape
from bench.stats import fmt, median

TARGET_PROGRAMMED_S = 10.0
# "O(1)": a bound that does not grow with datapaths, vifs or networks.  A vif
# has about a dozen flows of its own, plus a group or meter on its datapath.
O1_FLOW_MODS = 32


def name_list(names: Iterable[str]) -> str:
    """Datapath names, runs of consecutive numbers joined: 'br0-br9, br20'."""
    parsed, others = [], []
    for n in names:
        m = re.fullmatch(r'(.*?)(\d+)', n)
        if m:
            parsed.append((m.group(1), int(m.group(2))))
        else:
            others.append(n)
    runs: list[list] = []
    for prefix, k in sorted(set(parsed)):
        if runs and runs[-1][0] == prefix and runs[-1][2] == k - 1:
            runs[-1][2] = k
        else:
            runs.append([prefix, k, k])
    out = [f'{p}{a}' if a == b else f'{p}{a}-{p}{b}' for p, a, b in runs]
    return ', '.join(out + sorted(others)) or '(none)'


def verdicts(res: dict) -> list[dict]:
    """One per target: what, met, and the number behind it."""
    walls = [r['wall_s'] for r in res['startup']]
    out = [{'target': f'every datapath programmed in < {TARGET_PROGRAMMED_S:g} s',
            'met': max(walls) < TARGET_PROGRAMMED_S,
            'value': f'median {median(walls):.2f} s, max {max(walls):.2f} s over {len(walls)} rounds'}]
    edits = res['edits']
    if not edits:
        return out
    network = set(res['edit_network_datapaths'])
    touched = [set(e['touched']) for e in edits]
    out.append({'target': f'an edit touches only the datapaths of its network '
                          f'({len(network)}: {name_list(network)})',
                'met': all(t and t <= network for t in touched),
                'value': '; '.join(f'{e["kind"]}: {len(t)} ({name_list(t)})'
                                   for e, t in zip(edits, touched))})
    mods = [m['mods'] for e in edits for m in e['touched'].values()]
    out.append({'target': 'O(1) flow-mods per touched datapath '
                          f'(at most {O1_FLOW_MODS}, whatever the size)',
                'met': bool(mods) and max(mods) <= O1_FLOW_MODS,
                'value': (f'at most {max(mods)}, against {res["flows"]["median"]:.0f} flows '
                          'per datapath' if mods else 'no flow-mods seen')})
    return out


def _change_text(t: dict) -> str:
    meters = f', {t["meters"]} meters' if t.get('meters') else ''
    return (f'+{t["adds"]} -{t["deletes"]} flows, {t["groups"]} groups{meters} '
            f'({t["mods"]} flow-mods{", one bundle" if t.get("bundle") else ""})')


def grouped_changes(touched: dict[str, dict]) -> list[str]:
    """'br1-br9: +1 -0 flows, ...': datapaths with the same change on one line."""
    by_text: dict[str, list[str]] = {}
    for name, t in touched.items():
        by_text.setdefault(_change_text(t), []).append(name)
    return [f'{name_list(names)}: {text}' for text, names in by_text.items()]


def _s(value: Optional[float], width: int = 0) -> str:
    return fmt(value, '.2f', width)


def _startup_lines(res: dict) -> list[str]:
    lines = ['programming every datapath from empty (s after the controller process started;',
             'once it listens, every bridge gets it as controller target, in one transaction):']
    hdr = (f'{"round":<7}{"listening":>10}{"attached":>9}{"connected":>12}{"last applied":>14}'
           f'{"all visible":>13}{"ctl CPU s":>11}{"OVS CPU s":>11}{"machine":>9}')
    lines += [hdr, '-' * len(hdr)]
    for r in res['startup']:
        cpu = r['cpu']
        conn = f'{_s(r["first_connected_s"])}-{_s(r["last_connected_s"])}'
        busy = cpu.get('machine_busy')
        lines.append(f'{r["round"]:<7}{_s(r["listening_s"], 10)}{_s(r.get("attached_s"), 9)}'
                     f'{conn:>12}{_s(r["last_applied_s"], 14)}{_s(r["wall_s"], 13)}'
                     f'{_s(cpu.get("controller_cpu_s"), 11)}{_s(cpu.get("ovs_cpu_s"), 11)}'
                     f'{fmt(busy * 100 if busy is not None else None, ".0f", 8, "%")}')
    walls = [r['wall_s'] for r in res['startup']]
    lines.append(f'{"median":<7}{"":>45}{_s(median(walls), 13)}   (min-max {min(walls):.2f}-'
                 f'{max(walls):.2f})')
    last = res['startup'][-1]
    lines.append(f'  last round: {last["flow_mods"]} flow-mods'
                 f'{", one bundle per datapath" if last["one_bundle_each"] else ""}, each applied '
                 f'{_s(last["applied_ms"]["median"])} ms (median; max {_s(last["applied_ms"]["max"])}) '
                 'after its bundle was sent; from reading a switch to having sent it its bundle the '
                 f'controller thread spent {last["compile_send_s"]:.2f} s, all switches together')
    rs = res.get('restart')
    if rs:
        lines.append(f'restart with everything installed (bridges keep their target and reconnect '
                     f'by themselves): {rs["in_sync"]} of {res["datapaths"]} '
                     f'found in sync {rs["wall_s"]:.2f} s after the controller started, connections '
                     f'{rs["first_connected_s"]:.2f}-{rs["last_connected_s"]:.2f} s, '
                     f'{len(rs["changed"])} changed; CPU: controller '
                     f'{_s(rs["cpu"].get("controller_cpu_s"))} s, OVS {_s(rs["cpu"].get("ovs_cpu_s"))} s')
        events = rs.get('ovs_connections') or {}
        if events:
            lines.append('  ovs-vswitchd meanwhile: ' + ', '.join(
                f'{n} x "{what}"' for what, n in sorted(events.items(), key=lambda kv: -kv[1])))
    return lines


def _edit_lines(res: dict, n_datapaths: int, edit_vif: Optional[str]) -> list[str]:
    lines = [f'one-interface edit: {edit_vif or "a vif"} added to one network, then removed '
             f'again; the network is on {name_list(res["edit_network_datapaths"])}',
             '(s after the file was rewritten; noticed: the controller logs the change)']
    hdr = (f'{"edit":<8}{"touched":>11}{"flow-mods each":>16}{"noticed":>9}{"last applied":>14}'
           f'{"visible":>9}')
    lines += [hdr, '-' * len(hdr)]
    for e in res['edits']:
        mods = [t['mods'] for t in e['touched'].values()] or [0]
        each = f'{min(mods)}/{median(mods):.0f}/{max(mods)}'
        touched = f'{len(e["touched"])} of {n_datapaths}'
        lines.append(f'{e["kind"]:<8}{touched:>11}{each:>16}{_s(e["noticed_s"], 9)}'
                     f'{_s(e["last_applied_s"], 14)}{_s(e["visible_s"], 9)}')
    lines.append('  flow-mods each: min/median/max over the touched datapaths')
    for e in res['edits']:
        lines.append(f'  {e["kind"]}: ' + '; '.join(grouped_changes(e['touched'])))
    return lines


def table(res: dict, shape: Shape, edit_vif: Optional[str] = None) -> str:
    f = res['flows']
    lines = [f'fabric control benchmark: {shape.describe()}',
             f'one private ovs-vswitchd (netdev): {shape.datapaths} bridges, {res["patch_ports"]} '
             f'patch ports, {res["vxlan_ports"]} VXLAN ports (set up in {res["setup_s"]:.1f} s)',
             f'flows per datapath (compiled, and installed): min {f["min"]}, median {f["median"]:.0f}, '
             f'max {f["max"]}; {f["total"]} in all, and {res["groups"]} groups',
             f'in this process: validate {res["validate_s"]:.2f} s; compile all {shape.datapaths} '
             f'datapaths {res["compile_cold_s"]:.2f} s cold, {res["compile_edit_s"]:.2f} s again '
             'for the edit', '']
    lines += _startup_lines(res)
    if res['edits']:
        lines += [''] + _edit_lines(res, shape.datapaths, edit_vif)
    problems = [p for r in [*res['startup'], *res['edits'], res.get('restart') or {}]
                for p in r.get('problems', [])]
    if problems:
        lines += ['', 'problems seen:'] + [f'  {p}' for p in problems[:10]]
    lines += ['', 'targets:']
    for v in verdicts(res):
        lines.append(f'  {v["target"]}: {"met" if v["met"] else "MISSED"} ({v["value"]})')
    return '\n'.join(lines)
