"""vnetctl show [--api URL]: the running controller's state, from its REST API."""
from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable, List, Optional, TextIO

EXAMPLE = '''example:
  vnetctl show                              # the controller on this machine (127.0.0.1:9090)
  vnetctl show --api http://10.0.0.5:9090 --token-file /etc/vnet/api-token
exit status: 0 every datapath connected, 1 a datapath is not connected or the
controller cannot be reached, 2 usage'''

DEFAULT_API = 'http://127.0.0.1:9090'
TIMEOUT_SECONDS = 10

Get = Callable[[str], Any]


class Unreachable(Exception):
    pass


def register(commands) -> None:
    parser = commands.add_parser(
        'show', help="the running controller's state", epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Ask the running controller (its REST API) for its datapaths, their ports '
                    'and tunnels, the networks, the last changes and the last refused edit, '
                    'and print them as a tree, like ovn-sbctl show.')
    parser.add_argument('--api', default=DEFAULT_API, metavar='URL',
                        help='the controller API (default %(default)s)')
    parser.add_argument('--token-file', metavar='PATH',
                        help='bearer token, needed when the API is on another machine')
    parser.set_defaults(run=run)


def run(args, out: TextIO) -> int:
    token = None
    if args.token_file:
        try:
            with open(args.token_file, encoding='utf-8') as f:
                token = f.readline().strip()
        except OSError as exc:
            print(f'vnetctl show: cannot read {args.token_file}: {exc.strerror}', file=out)
            return 2
    try:
        return render(http_get(args.api, token), out)
    except Unreachable as exc:
        print(f'vnetctl show: {exc}', file=out)
        return 1


def http_get(base: str, token: Optional[str]) -> Get:
    base = base.rstrip('/')

    def get(path: str) -> Any:
        request = urllib.request.Request(base + path)
        if token:
            request.add_header('Authorization', f'Bearer {token}')
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return None
            try:
                why = json.load(exc).get('error', '')
            except ValueError:
                why = ''
            raise Unreachable(f'{base}{path}: HTTP {exc.code} {why}'.rstrip()) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, 'reason', exc)
            raise Unreachable(f'cannot reach the controller API at {base} ({reason}); is it '
                              'running, and with --api-listen?') from None
    return get


def render(get: Get, out: TextIO) -> int:
    status, dps, nets = get('/v1/status'), get('/v1/datapaths'), get('/v1/networks')
    drops = get('/v1/drops')
    for line in status_lines(status):
        print(line, file=out)
    for dp in dps:
        for line in datapath_lines(dp):
            print(line, file=out)
    for net in nets:
        for line in network_lines(net):
            print(line, file=out)
    for line in drop_lines(drops):
        print(line, file=out)
    return 0 if all(dp['connected'] for dp in dps) else 1


def _clock(t: Optional[float]) -> str:
    if not t:
        return '-'
    ago = max(0, time.time() - t)
    span = f'{ago:.0f} s' if ago < 120 else f'{ago / 60:.0f} min' if ago < 7200 else \
        f'{ago / 3600:.0f} h'
    return f'{time.strftime("%H:%M:%S", time.localtime(t))} ({span} ago)'


def status_lines(s: dict) -> List[str]:
    t = s['topology']
    lines = [f"ryu-vnet {s['version']}: {t['source']} revision {t['revision']}"
             f"{' (' + t['digest'][:12] + ')' if t.get('digest') else ''}; "
             f"{s['datapaths']['connected']} of {s['datapaths']['total']} datapaths connected"]
    last = s.get('last_change')
    if last:
        took = ('pending on ' + ', '.join(last['pending'])) if last.get('pending') else \
            f"applied in {last['applied_seconds'] * 1000:.0f} ms" \
            if last.get('applied_seconds') is not None else ''
        lines.append(f"last change: revision {last['revision']} at {_clock(last['at'])} from "
                     f"{last['source']}: {last['summary']}; {took}".rstrip('; '))
    refused = s.get('last_refused')
    if refused:
        lines.append(f"last refused edit: {_clock(refused['at'])} from {refused['source']}, "
                     f"{refused['count']} problem{'s' if refused['count'] != 1 else ''}")
        lines += [f"    {p['text']}" for p in refused['problems'][:10]]
    if s.get('unknown_datapaths'):
        lines.append('connected but not in the topology: ' + ', '.join(s['unknown_datapaths']))
    return lines


def datapath_lines(dp: dict) -> List[str]:
    if not dp['connected']:
        return [f"datapath {dp['name']} (dpid {dp['dpid']}) NOT CONNECTED"
                f"{' since ' + _clock(dp['since']) if dp.get('since') else ''}"]
    sync = dp.get('last_sync')
    lines = [f"datapath {dp['name']} (dpid {dp['dpid']}) connected since {_clock(dp['since'])}, "
             f"{dp['state']}, {dp['flows']} flows"
             + (f"; last sync {_clock(sync['at'])}: {sync['reason']}, {sync['flow_mods']} "
                f"flow-mods in {sync['seconds'] * 1000:.1f} ms{'' if sync['ok'] else ' (REFUSED)'}"
                if sync else '')]
    port = dp['tunnel_port']
    if port['needed']:
        lines.append(f"    tunnel port {port['name']}: {'found' if port['found'] else 'MISSING'}")
    for t in dp['tunnels']:
        lines.append(f"    tunnel to {t['peer']} ({t['remote_ip']}): {', '.join(t['networks'])}")
    for i in dp['interfaces']:
        state = {True: 'up', False: 'DOWN', None: 'not plugged in'}[i['up']]
        lines.append(f"    port {i['port']}: {i['name']} ({i['network']}) {state}")
    return lines


def network_lines(n: dict) -> List[str]:
    routed = f"; routed to {', '.join(n['routed_to'])} by {', '.join(n['route_links'])}" \
        if n['routed_to'] else ''
    lines = [f"network {n['name']} {n['ipv4']} ({n['mode']}, VNI {n['vni']}) on "
             f"{', '.join(n['datapaths']) or 'no datapath'}{routed}"]
    for i in n['interfaces']:
        extra = ', '.join(i.get('services', [])) if i['mode'] == 'simulated' else i['where']
        lines.append(f"    {i['mode']} {i['name']} {i['ipv4'] or '-'} {i['mac']}: {extra}")
    return lines


def drop_lines(drops: Optional[list]) -> List[str]:
    if not drops:
        return []
    dropped = [d for d in drops if d.get('packets')]
    if not dropped:
        return ['drops: none']
    return ['drops:'] + [f"    {d['datapath']} table {d['table']} ({d.get('stage', '')}) "
                         f"{d['reason']}: {d['packets']} packets, {d['bytes']} bytes"
                         for d in sorted(dropped, key=lambda d: -d['packets'])[:20]]
