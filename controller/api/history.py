"""What the app remembers for the API: applied changes, the last refused
edit, datapaths that went away.

The app's event thread writes here; the API's threads read through
`snapshot()`, which copies under a lock, so a reader never iterates a
structure the app is changing.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Deque, Dict, List, Optional, Sequence

KEPT_CHANGES = 20
KEPT_PROBLEMS = 200       # of one refused edit; the count says how many there were


@dataclass
class Change:
    revision: int              # 1 for the topology the controller started with
    at: float                  # wall clock, seconds
    summary: str
    digest: Optional[str]
    source: str                # 'start', 'file' or 'api'
    datapaths: Optional[List[str]]   # those that may change; None: every one
    load_seconds: float        # reading and validating the file
    started: float = field(default=0.0, repr=False)   # monotonic, when reading began


@dataclass
class Refusal:
    at: float
    digest: Optional[str]
    source: str
    problems: List[dict]
    count: int


class History:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._api_digests: Deque[str] = deque(maxlen=KEPT_CHANGES)   # written through the API
        self._changes: Deque[Change] = deque(maxlen=KEPT_CHANGES)
        self._refused: Optional[Refusal] = None
        self._gone: Dict[int, float] = {}          # dpid -> when its connection dropped
        self.revision = 0

    def applied(self, summary: str, digest: Optional[str], source: str,
                datapaths: Optional[Sequence[str]], started: float,
                load_seconds: float = 0.0) -> Change:
        with self._lock:
            if digest is not None and digest in self._api_digests:
                source = 'api'
            self.revision += 1
            change = Change(self.revision, time.time(), summary, digest, source,
                            None if datapaths is None else sorted(datapaths), load_seconds,
                            started)
            self._changes.append(change)
            self._lock.notify_all()
            return change

    def refused(self, problems: Sequence, digest: Optional[str], source: str) -> None:
        shown = [problem_json(p) for p in list(problems)[:KEPT_PROBLEMS]]
        with self._lock:
            if digest is not None and digest in self._api_digests:
                source = 'api'
            self._refused = Refusal(time.time(), digest, source, shown, len(problems))
            self._lock.notify_all()

    def written_by_api(self, digest: str) -> None:
        """The API wrote a file with this content: its change is the API's."""
        with self._lock:
            self._api_digests.append(digest)

    def wait_for(self, digest: str, after_revision: int, after: float,
                 timeout: float) -> Optional[dict]:
        """The change (or refusal) of the content `digest` made after
        revision `after_revision` (refused after wall time `after`) once the
        app has taken it, or None after `timeout` seconds."""
        def outcome():
            for change in reversed(self._changes):
                # a source that reports no digest: the next change is taken as ours
                if change.revision > after_revision and change.digest in (digest, None):
                    return {'applied': True, 'revision': change.revision}
            refused = self._refused
            if refused is not None and refused.digest == digest and refused.at >= after:
                return {'applied': False}
            return None
        with self._lock:
            return self._lock.wait_for(outcome, timeout)

    def disconnected(self, dpid: int) -> None:
        with self._lock:
            self._gone[dpid] = time.time()

    def snapshot(self) -> dict:
        with self._lock:
            changes = [dict(asdict(c), started=c.started) for c in self._changes]
            refused = asdict(self._refused) if self._refused else None
            return {'revision': self.revision, 'changes': changes, 'refused': refused,
                    'disconnected': dict(self._gone)}


def problem_json(problem) -> dict:
    """A topology Problem as JSON: the same fields `vnetctl check` prints."""
    return {'file': problem.file, 'line': problem.line, 'path': problem.path,
            'message': problem.message, 'text': str(problem)}
