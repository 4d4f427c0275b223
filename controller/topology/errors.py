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


class TopologyError(Exception):
    """Raised with every problem of a topology file at once."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.path, p.message))
        super().__init__('\n'.join(str(p) for p in self.problems))
