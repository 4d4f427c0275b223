"""Small helpers every benchmark shares: medians and percentiles, spreads,
number formatting for tables, the order of alternating rounds, and CPU
accounting from /proc."""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, TypeVar

T = TypeVar('T')


def median(values: Iterable[Optional[float]]) -> Optional[float]:
    """The median of the values that are not None (None if there are none)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def percentile(sorted_values: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile ``q`` (0-100) of an ascending list (None if empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def spread(values: Sequence[float]) -> float:
    """max / min of some runs: 1.0 when they agree (inf when the smallest is 0)."""
    low = min(values)
    return max(values) / low if low else float('inf')


def ratio(a: Optional[float], b: Optional[float], digits: int = 3) -> Optional[float]:
    """a / b rounded, or None when either is unknown or b is 0."""
    return round(a / b, digits) if a is not None and b else None


def fmt(value: Optional[float], spec: str = '.0f', width: int = 0, mark: str = '') -> str:
    """A table cell: ``value`` formatted by ``spec`` plus ``mark`` ('-' when
    None), right-aligned in ``width`` characters."""
    text = '-' if value is None else format(value, spec) + mark
    return text.rjust(width)


def alternating(sides: Sequence[T], rounds: int, mirrored: bool = False) -> Iterator[tuple[int, T]]:
    """(round, side) in measuring order: each round measures every side once,
    so drifting machine load hits all sides alike.  ``mirrored`` reverses the
    order every other round (A B, B A, A B, ...), so no side always goes first."""
    for k in range(rounds):
        yield from ((k, side) for side in (reversed(sides) if mirrored and k % 2 else sides))


# -- CPU accounting ------------------------------------------------------------------

_CLK_TCK = os.sysconf('SC_CLK_TCK')


def proc_cpu_s(pid: Optional[int]) -> Optional[float]:
    """CPU seconds (user + system) process ``pid`` has used so far (None: no such process)."""
    if pid is None:
        return None
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_cpu(stat_text: Optional[str] = None) -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of all CPUs, from /proc/stat (or ``stat_text``)."""
    if stat_text is None:
        stat_text = Path('/proc/stat').read_text()
    vals = [int(v) for v in stat_text.split('\n', 1)[0].split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals), (vals[7] if len(vals) > 7 else 0)


class CpuMeter:
    """A process's CPU time and how busy the whole machine was, from creation
    to ``result()``: tells contention from other work apart from the process's own cost."""

    def __init__(self, pid: Optional[int]):
        self.pid = pid
        self.t, self.cpu, self.machine = time.monotonic(), proc_cpu_s(pid), machine_cpu()

    def result(self) -> dict:
        wall = time.monotonic() - self.t
        cpu = proc_cpu_s(self.pid)
        busy, total, steal = machine_cpu()
        db, dt, ds = busy - self.machine[0], total - self.machine[1], steal - self.machine[2]
        return {'wall_s': wall,
                'controller_cpu_s': (cpu - self.cpu) if cpu is not None and self.cpu is not None
                else None,
                'machine_busy': (db / dt) if dt else None,
                'steal': (ds / dt) if dt else None, 'cpus': os.cpu_count()}


def cpu_text(cpu: dict) -> str:
    """One line of a CpuMeter result: 'controller CPU 0.12 s of 0.50 s, machine 40% busy (2 CPUs)'."""
    c, b = cpu.get('controller_cpu_s'), cpu.get('machine_busy')
    text = f'controller CPU {c:.2f} s of {cpu["wall_s"]:.2f} s' if c is not None else 'controller CPU ?'
    if b is not None:
        stolen = f', {cpu["steal"] * 100:.0f}% stolen' if cpu.get('steal') else ''
        text += f', machine {b * 100:.0f}% busy ({cpu["cpus"]} CPUs{stolen})'
    return text
