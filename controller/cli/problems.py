"""How every vnetctl subcommand reports a topology it refuses: one line per
problem, each naming file:line: key path, as `vnetctl check` prints them."""
from __future__ import annotations

from typing import TextIO

from controller.topology import TopologyError


def print_problems(exc: TopologyError, out: TextIO) -> None:
    for problem in exc.problems:
        print(problem, file=out)
