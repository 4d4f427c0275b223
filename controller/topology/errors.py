"""Problems found in a topology file, each pinned to file, line and key path."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: Optional[int]
    path: str          # dotted key path, e.g. "interfaces.vm1.ipv4"
    message: str

    def __str__(self) -> str:
        where = f'{self.file}:{self.line}' if self.line else self.file
        return f'{where}: {self.path}: {self.message}' if self.path else f'{where}: {self.message}'


MAX_SHOWN = 50      # problems in the message (and the log); `problems` keeps them all


class TopologyError(Exception):
    """Raised with every problem of a topology file at once.  Its message
    shows the first MAX_SHOWN and counts the rest, so one bad edit of a huge
    file cannot flood the log."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.path, p.message))
        lines = [str(p) for p in self.problems[:MAX_SHOWN]]
        hidden = len(self.problems) - MAX_SHOWN
        if hidden > 0:
            lines.append(f'... and {hidden} more problems (vnetctl check lists them all)')
        super().__init__('\n'.join(lines))
