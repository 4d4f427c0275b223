"""Next hops on physical networks that the topology does not list.

The controller ARPs for them from the router interface; each address is
asked at most once per back-off interval (1 s, doubling to 30 s while it
stays silent), and an answer resets it.  Pure: the clock is passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Hashable

FIRST_RETRY, MAX_RETRY = 1.0, 30.0



@dataclass
class Resolver:
    _next_try: Dict[Hashable, float] = field(default_factory=dict)
    _interval: Dict[Hashable, float] = field(default_factory=dict)

    def should_ask(self, key: Hashable, now: float) -> bool:
        if now < self._next_try.get(key, 0.0):
            return False
        interval = self._interval.get(key, FIRST_RETRY / 2) * 2
        self._interval[key] = min(interval, MAX_RETRY)
        self._next_try[key] = now + self._interval[key]
        return True

    def answered(self, key: Hashable) -> None:
        self._next_try.pop(key, None)
        self._interval.pop(key, None)

    def pending(self):
        return set(self._next_try)
