"""Next hops on physical networks that the topology does not list.

The controller ARPs for them from the router interface; each address is
asked at most once per back-off interval (1 s, doubling to 30 s while it
stays silent), and an answer resets it.  Pure: the clock is passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Hashable

FIRST_RETRY, MAX_RETRY = 1.0, 30.0
WAIT_SECONDS = 5.0          # how long after asking an answer is still expected



@dataclass
class Resolver:
    _next_try: Dict[Hashable, float] = field(default_factory=dict)
    _interval: Dict[Hashable, float] = field(default_factory=dict)
    _asked_at: Dict[Hashable, float] = field(default_factory=dict)

    def should_ask(self, key: Hashable, now: float) -> bool:
        if now < self._next_try.get(key, 0.0):
            return False
        interval = self._interval.get(key, FIRST_RETRY / 2) * 2
        self._interval[key] = min(interval, MAX_RETRY)
        self._next_try[key] = now + self._interval[key]
        self._asked_at[key] = now
        return True

    def is_waiting(self, key: Hashable, now: float) -> bool:
        """True if we asked about `key` recently and have no answer yet: only
        such answers are learned (an unsolicited ARP reply is not)."""
        asked = self._asked_at.get(key)
        return asked is not None and now - asked <= WAIT_SECONDS

    def answered(self, key: Hashable) -> None:
        self._next_try.pop(key, None)
        self._interval.pop(key, None)
        self._asked_at.pop(key, None)

    def pending(self):
        return set(self._next_try)
