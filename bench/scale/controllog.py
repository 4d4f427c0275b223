"""What bench/scale reads in the controller's log: timestamped lines about
connecting, the plan of a change and its confirmation."""

from __future__ import annotations

import datetime
import re
from typing import Optional

from lab import Controller, GiveUp, wait_for

_TS_RE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ')
CONNECTED_RE = r'\): connected with (?P<ports>\d+) ports'
FOUND_RE = r'\): found (?P<flows>\d+) of our flows'
PLAN_RE = (r'\): (?P<reason>connected|topology change): \+(?P<add>\d+) -(?P<dele>\d+) flows'
           r'(?P<rest>.*)\((?P<mods>\d+) flow-mods(?P<bundle>, one bundle)?\)')
APPLIED_RE = (r'\): (?P<reason>connected|topology change): applied in (?P<ms>[\d.]+) ms '
              r'\((?P<mods>\d+) flow-mods\)')
CHANGED_RE = r'topology .* changed: (?P<what>.*)'
REFUSED_RE = r'(switch refused a message|refusing the edit|Traceback)'

Hit = tuple[Optional[float], re.Match]


def log_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, '%Y-%m-%d %H:%M:%S,%f').timestamp()


def find_line(lines: list[str], pattern: str, reason: Optional[str] = None) -> Optional[Hit]:
    """(time or None, match) of the first line matching ``pattern`` (and,
    if given, whose ``reason`` group is ``reason``); None if none does."""
    for ln in lines:
        m = re.search(pattern, ln)
        if m and (reason is None or m.groupdict().get('reason') == reason):
            ts = _TS_RE.match(ln)
            return (log_time(ts.group(1)) if ts else None), m
    return None


class LogWatch:
    """Find timestamped lines in a controller log after a mark."""

    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.offset = 0

    def mark(self) -> None:
        self.offset = len(self.ctl.log_text())

    def lines(self) -> list[str]:
        return self.ctl.log_text()[self.offset:].splitlines()

    def find(self, pattern: str, reason: Optional[str] = None) -> Optional[Hit]:
        return find_line(self.lines(), pattern, reason)

    def get(self, pattern: str, reason: Optional[str] = None) -> tuple[float, re.Match]:
        """Like find, for a line that must be there, with its time."""
        hit = self.find(pattern, reason)
        if hit is None or hit[0] is None:
            raise AssertionError(f'no timestamped line /{pattern}/ in {self.ctl.log_path}:\n'
                                 f'{self.ctl.log_tail(20)}')
        return hit[0], hit[1]

    def wait(self, pattern: str, timeout: float, what: str,
             reason: Optional[str] = None) -> tuple[float, re.Match]:
        def found() -> Optional[Hit]:
            hit = self.find(pattern, reason)
            if hit is None and not self.ctl.running():
                raise GiveUp(f'controller exited while waiting for {what}; log '
                             f'{self.ctl.log_path}:\n{self.ctl.log_tail(40)}')
            return hit
        wait_for(found, timeout=timeout, interval=0.05, what=what,
                 state=lambda: self.ctl.log_tail(20))
        return self.get(pattern, reason)

    def problems(self) -> list[str]:
        return [ln for ln in self.lines() if re.search(REFUSED_RE, ln)]
