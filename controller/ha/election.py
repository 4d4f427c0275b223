"""Leader election through an etcd lease.

Every controller runs one `Election` in its own thread:

    follower  --reads the key every POLL s; nobody holds it-->  campaign
    campaign  --create-if-absent (a transaction) under our lease: won-->  leader
              --lost: the winner holds it-->  follower
    leader    --keep-alive every TTL/3, and the key is still ours-->  leader
              --lease expired, key gone or someone else's-->  follower (at once)
              --etcd unreachable until TTL/3 before the lease could expire-->  follower

The leader's generation is the revision that created its key, so it grows
with every election (see roles.py).  A leader steps down *before* its lease
can expire on the server (it counts from when it sent its last successful
keep-alive), so by the time etcd lets another controller win, this one has
already stopped writing; the switch's generation check fences whatever is
still in flight.  Followers poll the key instead of holding a watch stream:
one small read four times a second costs nothing, cannot hang on a member
that stopped answering, and the failover time is set by the lease TTL anyway.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from controller.ha.leases import Holder, StoreUnavailable
from controller.ha.roles import UNDECIDED, Outcome

POLL_SECONDS = 0.25          # followers read the key this often


class Election:
    def __init__(self, client, key: str, identity: str, ttl: int,
                 on_change: Callable[[Outcome], None], log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic, renewals=None):
        """`renewals`: the client the leader renews through, with timeouts
        short enough to step down in time (default: `client`, which may
        take its time: a follower has no deadline)."""
        self.client, self.key, self.identity, self.ttl = client, key, identity, ttl
        self.renewals = renewals or client
        self.on_change, self.log, self.clock = on_change, log, clock
        self.keepalive_every = ttl / 3
        self.poll = min(POLL_SECONDS, ttl / 4)
        self.leading = False
        self.lease: Optional[int] = None
        self.lease_ok_at = 0.0          # when the last renewal that succeeded was sent
        self.outcome = UNDECIDED
        self._unreachable = False

    # -- the loop ---------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Run rounds until `stop` is set; then resign."""
        self.log.info('election on %s as %s (lease %d s)', self.key, self.identity, self.ttl)
        while not stop.is_set():
            try:
                wait = self.step()
            except Exception:                     # never let the election thread die
                self.log.exception('election round failed')
                wait = self.poll
            if self.leading:                      # wake in time to step down
                wait = min(wait, max(0.0, self.deadline - self.clock()))
            stop.wait(wait)
        self.resign()

    @property
    def deadline(self) -> float:
        """When a leader that could not renew must step down: TTL/3 before
        its lease could expire on the server."""
        return self.lease_ok_at + self.ttl - self.keepalive_every

    def step(self) -> float:
        """One round; returns the seconds until the next."""
        return self._lead() if self.leading else self._follow()

    # -- leading ---------------------------------------------------------------------
    def _lead(self) -> float:
        if self.clock() >= self.deadline:
            self._step_down(f'lease not renewed for {self.clock() - self.lease_ok_at:.1f} s')
            return 0.0
        sent = self.clock()
        try:
            assert self.lease is not None
            left = self.renewals.keepalive(self.lease)
            holder = self.renewals.holder(self.key) if left > 0 else None
        except StoreUnavailable as exc:
            self._reachable(False, exc)
            return min(self.keepalive_every, self.poll)
        self._reachable(True)
        if left <= 0:
            self.lease = None
            self._step_down('our lease expired')
            return 0.0
        self.lease_ok_at = sent
        if holder is None or holder.lease != self.lease:
            self._step_down('the election key is gone' if holder is None
                            else f'the election key is held by {holder.identity}')
            return 0.0
        return self.keepalive_every

    def _step_down(self, why: str) -> None:
        self.leading = False
        self.log.warning('stepping down as leader: %s', why)
        self._set(Outcome(None, self.outcome.generation))

    def resign(self) -> None:
        """Clean shutdown: stop leading and end the lease, so a follower
        takes over at its next read instead of after the TTL."""
        if self.leading:
            self.leading = False
            self._set(Outcome(None, self.outcome.generation))
        if self.lease is not None:
            try:
                self.client.revoke(self.lease)
                self.log.info('election: lease revoked')
            except StoreUnavailable:
                pass
            self.lease = None

    # -- following -----------------------------------------------------------------
    def _follow(self) -> float:
        try:
            holder = self.client.holder(self.key)
            if holder is None:
                holder = self._campaign()
            elif holder.lease == self.lease and not self._renew():
                holder = None        # our old lease is ending: campaign again next round
        except StoreUnavailable as exc:
            self._reachable(False, exc)
            if self.outcome.leader is not None:
                self._set(Outcome(None, self.outcome.generation))
            return self.poll
        self._reachable(True)
        if holder is None:
            return 0.0
        if holder.lease == self.lease:
            self._become_leader(holder)
            return self.keepalive_every
        self._set(Outcome(holder.identity, holder.create_revision))
        return self.poll

    def _renew(self) -> bool:
        """Renew our lease (the deadline counts from when this was sent)."""
        sent = self.clock()
        if self.lease is None or self.client.keepalive(self.lease) <= 0:
            self.lease = None
            return False
        self.lease_ok_at = sent
        return True

    def _campaign(self) -> Optional[Holder]:
        """Nobody holds the key: try to create it under our lease (a fresh
        one unless ours is still alive)."""
        if not self._renew():
            sent = self.clock()
            self.lease = self.client.grant(self.ttl)
            self.lease_ok_at = sent
        assert self.lease is not None
        _, holder = self.client.claim(self.key, self.identity, self.lease)
        return holder

    def _become_leader(self, holder: Holder) -> None:
        self.leading = True
        self._set(Outcome(self.identity, holder.create_revision, mine=True))

    # -- reporting ------------------------------------------------------------------
    def _set(self, outcome: Outcome) -> None:
        if outcome == self.outcome:
            return
        self.outcome = outcome
        self.log.info('election: %s', outcome.describe())
        self.on_change(outcome)

    def _reachable(self, ok: bool, exc: Optional[Exception] = None) -> None:
        """Say once that etcd is away, and once that it is back."""
        if ok and self._unreachable:
            self.log.info('election: etcd answers again')
        elif not ok and not self._unreachable:
            self.log.warning('election: %s', exc)
        self._unreachable = not ok
