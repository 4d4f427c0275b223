"""The log lines bench.fabric_control reads, parsed: the controller's
(timestamp, level, logger, then the message) and ovs-vswitchd's rconn lines.

    2026-11-30 19:26:48,456 INFO    vnet: br0 (dpid 0xfab000000000): connected with 102 ports
    ... br0 (dpid 0x...): found 0 of our flows, 0 groups and 0 meters installed
    ... br0 (dpid 0x...): connected: +2157 -0 flows, +10 ~0 -0 groups, +100 ~0 -0 meters (2267 flow-mods, one bundle)
    ... br0 (dpid 0x...): connected: applied in 41.0 ms (2267 flow-mods)
    ... br0 (dpid 0x...): connected: already in sync
    ... topology /tmp/x.yml changed: interfaces +vm10000 (10 of 100 datapaths may change)
"""

from __future__ import annotations

import datetime
import re
from typing import Iterable, NamedTuple, Optional

_STAMP = r'(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+\s+\S+: '
_SWITCH = _STAMP + r'(?P<name>\S+) \(dpid (?P<dpid>0x[0-9a-f]+)\): '
CONNECTED_RE = re.compile(_SWITCH + r'connected with (?P<ports>\d+) ports$')
FOUND_RE = re.compile(_SWITCH + r'found (?P<flows>\d+) of our flows')
PLAN_RE = re.compile(
    _SWITCH + r'(?P<reason>[^:]+): \+(?P<adds>\d+) -(?P<deletes>\d+) flows, '
    r'\+(?P<group_adds>\d+) ~(?P<group_mods>\d+) -(?P<group_deletes>\d+) groups'
    r'(?:, \+(?P<meter_adds>\d+) ~(?P<meter_mods>\d+) -(?P<meter_deletes>\d+) meters)?'
    r' \((?P<mods>\d+) flow-mods(?P<bundle>, one bundle)?\)$')
APPLIED_RE = re.compile(_SWITCH + r'(?P<reason>[^:]+): applied in (?P<ms>[\d.]+) ms '
                        r'\((?P<mods>\d+) flow-mods\)$')
IN_SYNC_RE = re.compile(_SWITCH + r'(?P<reason>[^:]+): already in sync$')
CHANGED_RE = re.compile(_STAMP + r'topology (?P<path>\S+) changed: (?P<what>.*) \('
                        r'(?:(?P<affected>\d+) of (?P<total>\d+) datapaths may change'
                        r'|every datapath may change)\)$')
LISTENING_RE = re.compile(_STAMP + r'listening for switches on ')
PROBLEM_RE = re.compile(r'switch refused a message|refusing the edit|re-reading the switch|'
                        r'Traceback|ERROR')


def log_time(stamp: str) -> float:
    """A log timestamp (local time, ms) as seconds since the epoch."""
    return datetime.datetime.strptime(stamp, '%Y-%m-%d %H:%M:%S,%f').timestamp()


class Plan(NamedTuple):
    """One change the controller sent to one switch."""
    t: float
    name: str
    dpid: int
    reason: str
    adds: int
    deletes: int
    groups: int          # added + changed + removed
    meters: int
    mods: int
    bundle: bool


class Applied(NamedTuple):
    t: float
    name: str
    reason: str
    ms: float
    mods: int


def plans(lines: Iterable[str], reason: Optional[str] = None) -> list[Plan]:
    """Every plan line (of ``reason``, if given), in log order."""
    out = []
    for ln in lines:
        m = PLAN_RE.search(ln)
        if m and (reason is None or m['reason'] == reason):
            meters = sum(int(m[k] or 0) for k in ('meter_adds', 'meter_mods', 'meter_deletes'))
            out.append(Plan(log_time(m['stamp']), m['name'], int(m['dpid'], 16), m['reason'],
                            int(m['adds']), int(m['deletes']),
                            int(m['group_adds']) + int(m['group_mods']) + int(m['group_deletes']),
                            meters, int(m['mods']), bool(m['bundle'])))
    return out


def applied(lines: Iterable[str], reason: Optional[str] = None) -> list[Applied]:
    out = []
    for ln in lines:
        m = APPLIED_RE.search(ln)
        if m and (reason is None or m['reason'] == reason):
            out.append(Applied(log_time(m['stamp']), m['name'], m['reason'], float(m['ms']),
                               int(m['mods'])))
    return out


def times(lines: Iterable[str], pattern: re.Pattern, reason: Optional[str] = None) -> dict[str, float]:
    """Datapath name -> time of its first line matching ``pattern`` (and ``reason``)."""
    out: dict[str, float] = {}
    for ln in lines:
        m = pattern.search(ln)
        if m and (reason is None or m.groupdict().get('reason') == reason):
            out.setdefault(m['name'], log_time(m['stamp']))
    return out


def first_time(lines: Iterable[str], pattern: re.Pattern) -> Optional[float]:
    for ln in lines:
        m = pattern.search(ln)
        if m:
            return log_time(m['stamp'])
    return None


class TopologyChanged(NamedTuple):
    t: float
    what: str
    affected: Optional[int]        # None: every datapath may change
    total: Optional[int]


def topology_changed(lines: Iterable[str]) -> Optional[TopologyChanged]:
    for ln in lines:
        m = CHANGED_RE.search(ln)
        if m:
            return TopologyChanged(log_time(m['stamp']), m['what'],
                                   int(m['affected']) if m['affected'] else None,
                                   int(m['total']) if m['total'] else None)
    return None


def problems(lines: Iterable[str]) -> list[str]:
    return [ln for ln in lines if PROBLEM_RE.search(ln)]


def message(line: str) -> str:
    """A log line without its timestamp, level and logger."""
    m = re.match(_STAMP, line)
    return line[m.end():] if m else line


def rconn_events(vswitchd_log: str) -> dict[str, int]:
    """ovs-vswitchd's connection events (rconn lines) by kind, e.g.
    {'connected': 100, 'connection timed out': 74, 'waiting 2 seconds before reconnect': 37}."""
    counts: dict[str, int] = {}
    for m in re.finditer(r'\|rconn\|\w+\|\S+: (.*)$', vswitchd_log, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts
