"""bench/scale's results: one size's summary of its rounds, the targets, and
the table with its notes."""

from __future__ import annotations

from typing import Any, Optional

from bench.stats import cpu_text, fmt, median

TARGET_RATIO = 0.8            # flows/s ours / ovs-ofctl --bundle, at TARGET_RATIO_SIZE
TARGET_RATIO_SIZE = 10000
TARGET_EDIT_MS = 100.0        # the controller's "applied in X ms" of a one-interface edit


def summarise(flows: int, ours: list[dict], ofctl: list[dict], edits: list[dict],
              version: str) -> dict[str, Any]:
    """The medians of one size's rounds: our installs, the ovs-ofctl runs
    (``version`` is the one compared with) and the edits (the adds count)."""
    main = [o for o in ofctl if o['version'] == version]
    wall = median(o['wall_s'] for o in ours)
    # the same end as ovs-ofctl's: the switch confirmed the commit (older runs: visible)
    confirmed = median(o.get('confirmed_s', o['wall_s']) for o in ours)
    t_ofctl = median(o['flows_s'] for o in main)
    assert wall is not None and confirmed is not None and t_ofctl is not None, \
        'a size has an install and an ovs-ofctl run'
    adds = [e for e in edits if e['kind'] == 'add']
    return dict(
        install={'rounds': ours, 'wall_s': wall, 'confirmed_s': confirmed,
                 'flows_per_s': flows / confirmed,
                 'applied_ms': median(o['applied_ms'] for o in ours),
                 'flow_mods': ours[0]['flow_mods']},
        ofctl={'rounds': ofctl, 'version': version, 'flows_s': t_ofctl,
               'flows_per_s': flows / t_ofctl,
               'identical_to_ours': next((o['identical_to_ours'] for o in ofctl
                                          if 'identical_to_ours' in o), None)},
        ratio=t_ofctl / confirmed,
        ratio_visible=t_ofctl / wall,
        edit={'edits': edits,
              'flow_mods': sorted({e['flow_mods'] for e in adds}),
              'applied_ms': median(e['applied_ms'] for e in adds),
              'visible_ms': median(e['visible_ms'] for e in adds),
              'revert_applied_ms': median(e['applied_ms'] for e in edits
                                          if e['kind'] == 'revert'),
              'max_applied_ms': max((e['applied_ms'] for e in edits), default=None)},
        problems=[p for o in ours + edits for p in o['problems']])


def targets(results: list[dict]) -> list[dict]:
    """Each target with its value and whether it is met: the ratio at
    TARGET_RATIO_SIZE, every edit applied in time, the same flow-mod count
    for the edit at every size, and no problems."""
    out = []
    for r in results:
        if r['size'] == TARGET_RATIO_SIZE and r.get('ratio') is not None:
            out.append({'target': f'ratio >= {TARGET_RATIO} at {TARGET_RATIO_SIZE}',
                        'value': round(r['ratio'], 3), 'met': r['ratio'] >= TARGET_RATIO})
        e = r.get('edit')
        if e and e.get('max_applied_ms') is not None:
            out.append({'target': f'edit applied < {TARGET_EDIT_MS:g} ms at {r["size"]}',
                        'value': round(e['max_applied_ms'], 1),
                        'met': e['max_applied_ms'] < TARGET_EDIT_MS})
    ks = {tuple(r['edit']['flow_mods']) for r in results if r.get('edit')}
    if ks:
        out.append({'target': 'edit flow-mods the same at every size',
                    'value': sorted(k for ks_ in ks for k in ks_),
                    'met': len(ks) == 1 and len(next(iter(ks))) == 1})
    for r in results:
        if r.get('problems'):
            out.append({'target': f'no problems at {r["size"]}', 'value': r['problems'][:3],
                        'met': False})
    return out


def _cell(v: Optional[float], spec: str = '.0f', single: bool = False) -> str:
    return fmt(v, spec, mark='*' if single else '')


def _main_rounds(ofc: dict) -> list[dict]:
    return [o for o in ofc['rounds'] if o['version'] == ofc['version']]


def table(results: list[dict]) -> str:
    """One row per size; * marks a figure from a single run."""
    head = ['size', 'interfaces', 'flows', 'compile ms', 'validate ms', 'install s (ours)',
            'visible s', 'flows/s ours', 'flows/s ovs-ofctl bundle', 'ratio', 'edit flow-mods',
            'edit applied ms', 'edit visible ms']
    rows = []
    for r in results:
        inst, ofc, ed = r.get('install'), r.get('ofctl'), r.get('edit')
        n_inst = len(inst['rounds']) if inst else 0
        n_ofc = len(_main_rounds(ofc)) if ofc else 0
        n_adds = len([e for e in ed['edits'] if e['kind'] == 'add']) if ed else 0
        rows.append([
            str(r['size']), str(r['interfaces']), str(r['flows']),
            _cell(r['compile_ms']['median'], single=len(r['compile_ms']['runs']) == 1),
            _cell(r['validate_ms']['median'], single=len(r['validate_ms']['runs']) == 1),
            _cell(inst and inst['confirmed_s'], '.2f', n_inst == 1),
            _cell(inst and inst['wall_s'], '.2f', n_inst == 1),
            _cell(inst and inst['flows_per_s'], '.0f', n_inst == 1),
            _cell(ofc and ofc['flows_per_s'], '.0f', n_ofc == 1),
            _cell(r.get('ratio'), '.2f', n_inst == 1 or n_ofc == 1),
            ('/'.join(map(str, ed['flow_mods'])) + ('*' if n_adds == 1 else '')) if ed else '-',
            _cell(ed and ed['applied_ms'], '.1f', n_adds == 1),
            _cell(ed and ed['visible_ms'], '.0f', n_adds == 1),
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return ' | '.join(c.rjust(w) for c, w in zip(cells, widths))
    return '\n'.join([line(head), '-+-'.join('-' * w for w in widths)] + [line(r) for r in rows])


def _runs(r: dict) -> str:
    text = (f'{r["size"]}: validate {len(r["validate_ms"]["runs"])}, '
            f'compile {len(r["compile_ms"]["runs"])}')
    if r.get('install'):
        text += (f', install {len(r["install"]["rounds"])}, ovs-ofctl '
                 f'{len(_main_rounds(r["ofctl"]))}, '
                 f'edits {len(r["edit"]["edits"])} (table: adds only)')
    return text


def notes(results: list[dict]) -> list[str]:
    """The lines under the table: run counts, and per size how the install
    and the first edit split up, and the ovs-ofctl runs."""
    out = ['medians; * = a single run. Runs: ' + '; '.join(_runs(r) for r in results)]
    for r in results:
        inst = r.get('install')
        if not inst:
            continue
        split = inst['rounds'][0]['split_s']
        out.append(f'{r["size"]}: ours = connection -> the switch confirmed the commit (visible s: '
                   f'-> all flows in a dump, ratio {r["ratio_visible"]:.2f} on that); controller "applied in" '
                   f'{inst["applied_ms"]:.0f} ms ({inst["flow_mods"]} flow-mods); first install '
                   'split: ' + ', '.join(f'{k} {v:.2f} s' for k, v in split.items()
                                         if v is not None)
                   + f'; {cpu_text(inst["rounds"][0]["cpu"])}')
        ed = r['edit']
        if ed['edits']:
            s = ed['edits'][0]['split_ms']
            out.append(f'{r["size"]}: edit visible = write -> flows in ovs-ofctl; '
                       'first edit split: '
                       + ', '.join(f'{k} {v:.0f} ms' for k, v in s.items() if v is not None)
                       + f'; {cpu_text(ed["edits"][0]["cpu"])}'
                       + (f'; reverts applied in {ed["revert_applied_ms"]:.1f} ms'
                          if ed['revert_applied_ms'] is not None else ''))
        ofc = r['ofctl']
        others = [o for o in ofc['rounds'] if o['version'] != ofc['version']]
        out.append(f'{r["size"]}: ovs-ofctl -O {ofc["version"]} --bundle add-flows '
                   f'{ofc["flows_s"]:.2f} s; identical to ours: {ofc["identical_to_ours"]}'
                   + ''.join(f'; -O {o["version"]} --bundle: {o["flows_s"]:.2f} s' for o in others)
                   + f'; {r.get("ovs", "?")} ovs-vswitchd: ports created in '
                     f'{r.get("port_setup_s", 0):.1f} s, teardown '
                     f'{r.get("port_teardown_s", 0):.1f} s')
    return out


def verdicts(tgt: list[dict]) -> list[str]:
    return [f'target {t["target"]}: {t["value"]} -> {"met" if t["met"] else "MISSED"}' for t in tgt]
