"""Pure role logic: what the election decided, and each switch connection's role.

The generation id a controller sends with its role request is the create
revision of the election key it holds (or, for a follower, of the key the
leader holds).  etcd revisions only grow, so every new leader has a higher
one than all before it, and a switch that has seen it refuses the old
leader's requests as stale.  Followers use the leader's own generation,
never a higher one: a higher id would fence the leader off the switch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from controller.openflow.role import GENERATION_MASK, Role


def is_newer(a: int, b: int) -> bool:
    """Is generation `a` newer than `b`, as the switch compares them (the
    difference read as a signed 64-bit number, so ids may wrap)?"""
    diff = (a - b) & GENERATION_MASK
    return 0 < diff < (1 << 63)


@dataclass(frozen=True)
class Outcome:
    """What this controller knows of the election: the leader's identity
    (None: no leader known), its generation (0: never seen one), and
    whether the leader is this controller."""
    leader: Optional[str]
    generation: int
    mine: bool = False

    @property
    def role(self) -> Role:
        return Role.MASTER if self.mine else Role.SLAVE

    def describe(self) -> str:
        if self.mine:
            return f'this controller leads (generation {self.generation})'
        if self.leader is None:
            return 'no leader known' + (f' (last generation {self.generation})'
                                        if self.generation else '')
        return f'following {self.leader} (generation {self.generation})'


UNDECIDED = Outcome(None, 0)


class SessionRole:
    """One switch connection's role: the one we asked for, with which
    generation, and the one the switch confirmed.  Only a connection that
    asked for MASTER and had it confirmed may write."""

    def __init__(self) -> None:
        self.wanted = Role.SLAVE
        self.generation = 0
        self.confirmed = Role.EQUAL      # what a switch gives a new connection
        self.requested: Optional[Tuple[Role, int]] = None

    @property
    def writable(self) -> bool:
        return self.wanted is Role.MASTER and self.confirmed is Role.MASTER

    def want(self, outcome: Outcome) -> Optional[Tuple[Role, int]]:
        """Follow a new outcome; returns the (role, generation) request to
        send, or None (nothing new to ask, or no generation to ask with)."""
        self.wanted = outcome.role
        if outcome.generation == 0:
            return None
        request = (outcome.role, outcome.generation)
        if request == self.requested:
            return None
        self.generation = outcome.generation
        self.requested = request
        return request

    def confirm(self, role: Role, generation: int) -> bool:
        """The switch answered a role request.  Returns True when this makes
        the connection writable (it was not before).  A reply to a request
        we have since replaced is ignored."""
        if self.requested is None or (role, generation & GENERATION_MASK) != \
                (self.requested[0], self.requested[1] & GENERATION_MASK):
            return False
        before = self.writable
        self.confirmed = role
        return self.writable and not before

    def refused(self) -> None:
        """The switch refused our request (stale generation: it has seen a
        newer leader) or a write (we are SLAVE there): we do not write, and
        the next outcome asks again."""
        self.confirmed = Role.SLAVE
        self.requested = None
