"""What every benchmark's command line shares: the setup error, where
progress goes, and the environment check."""

from __future__ import annotations

import sys
from typing import Callable, Iterable

from lab import check_environment

Say = Callable[[str], None]


class SetupError(Exception):
    """The benchmark cannot measure: the message says why."""


def progress_printer(to_stderr: bool) -> Say:
    """Print progress lines as they happen: on stderr when stdout carries JSON."""
    out = sys.stderr if to_stderr else sys.stdout
    return lambda line: print(line, file=out, flush=True)


def cannot_run(prog: str, extra_problems: Iterable[str] = ()) -> bool:
    """Say why ``prog`` cannot run here (on stderr: the lab's checks -- root,
    Open vSwitch, the tools -- and ``extra_problems``) and return True, or
    return False when it can."""
    problems = check_environment() + list(extra_problems)
    if problems:
        print(f'{prog}: cannot run here:\n  ' + '\n  '.join(problems), file=sys.stderr)
    return bool(problems)
