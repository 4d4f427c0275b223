"""The election and the role keeper together, as the app runs them.

The election runs in its own thread and only posts `EventLeadership`; the
app hands it to the keeper in its event thread, where every switch event
is handled too, so roles never race a sync.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable, Optional

from os_ken.controller import event

from controller.ha.election import Election
from controller.ha.keeper import RoleKeeper
from controller.ha.leases import LeaseClient
from controller.ha.roles import Outcome
from controller.store import StoreURL, is_store_url, parse_store_url
from controller.store.client import TIMEOUT as STORE_TIMEOUT


class EventLeadership(event.EventBase):
    """The election's outcome changed."""

    def __init__(self, outcome: Outcome):
        super().__init__()
        self.outcome = outcome


def election_url(election: Optional[str], topology: Optional[str]) -> Optional[StoreURL]:
    """The etcd the election runs on, or None (no election: the only
    controller, the default).  Opt-in, because an agent per host is the only
    controller of its own switch: an election by default would let one agent
    in the whole fleet write.  `--election store` means the etcd:// topology
    store.  StoreURLError says what is wrong with a bad URL."""
    word = (election or '').strip().lower()
    if word in ('', 'off'):
        return None
    if word == 'store':
        if not (topology and is_store_url(topology)):
            raise ValueError('"store" needs an etcd:// --topology; give the etcd URL instead')
        return parse_store_url(topology)
    return parse_store_url(str(election).strip())


def check_options(election: Optional[str], topology: Optional[str], ttl: int) -> None:
    """ValueError naming the option, for the launcher to print before anything listens."""
    try:
        election_url(election, topology)
    except ValueError as err:
        raise ValueError(f'--election: {err}') from None
    if ttl < 1:
        raise ValueError(f'--election-ttl {ttl}: at least 1 second')


class Failover:
    def __init__(self, election: Election, keeper: RoleKeeper):
        self.election, self.keeper = election, keeper
        self._stop = threading.Event()
        self._done = threading.Event()

    @classmethod
    def configure(cls, election: Optional[str], topology: Optional[str], ttl: int, port: int,
                  post: Callable[[Outcome], None], log: logging.Logger) -> Optional['Failover']:
        """The failover this controller takes part in, or None without an
        election.  The election key is /PREFIX/leader."""
        check_options(election, topology, ttl)
        url = election_url(election, topology)
        if url is None:
            return None
        identity = f'{socket.gethostname()}:{port}:pid{os.getpid()}'
        # a leader's renewal must fail fast enough to leave time to step down
        # (a keep-alive period, split over every endpoint it may try); the
        # rest may wait as long as the store's client does
        renewals = LeaseClient(url, timeout=ttl / 3 / len(url.endpoints))
        election_ = Election(LeaseClient(url, timeout=STORE_TIMEOUT), f'/{url.prefix}/leader',
                             identity, ttl, post, log, renewals=renewals)
        log.info('failover: one of several controllers, elected through %s', url.text)
        return cls(election_, RoleKeeper(log))

    def run(self) -> None:
        try:
            self.election.run(self._stop)
        finally:
            self._done.set()

    def stop(self, wait: float = 1.0) -> None:
        """Stop campaigning; a leader revokes its lease, so a follower takes
        over at once instead of after the TTL."""
        self._stop.set()
        self._done.wait(wait)
