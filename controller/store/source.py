"""The topology from etcd, for the controller: the first document (from the
store, else the local copy) and every new revision after it.

A thread watches the key; each new revision is validated there (a large
document never holds up the app's event thread) and handed over as an
`Update`.  When etcd is away the last good topology keeps running: nothing
is applied, nothing is removed, and the thread catches up when it answers.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import List, Optional

from controller.store.cache import TopologyCache
from controller.store.client import EtcdClient, KeyValue, StoreUnavailable
from controller.store.document import Stored, TopologyStore
from controller.store.url import StoreURL
from controller.topology import Topology, TopologyError, validate_text
from controller.topology.incremental import Revalidator

LOG = logging.getLogger('vnet')
RETRY_SECONDS = 0.5        # etcd away: try again this often
WATCH_IDLE_SECONDS = 5.0   # a silent watch is re-established (and the key re-read) this often
WAIT_LOG_SECONDS = 10.0    # at start with no copy: say we are still waiting this often


@dataclass(frozen=True)
class Update:
    """New content: its `topology`, or the `error` that refused it; `origin`
    names it (file, or URL@revision), `digest` is its content hash, `started`
    the monotonic time reading it began."""
    topology: Optional[Topology]
    error: Optional[TopologyError]
    origin: str
    digest: Optional[str] = None
    started: float = 0.0


class EtcdSource:
    mode = 'etcd watch'

    def __init__(self, url: StoreURL, cache_dir: str, client: Optional[EtcdClient] = None):
        self.url = url
        self.client = client or EtcdClient(url)
        self.store = TopologyStore(self.client, url)
        self.cache = TopologyCache(cache_dir, url)
        self.revision = 0          # the running (last good) document's revision
        self.seen = 0              # the last revision looked at, good or not
        self.topology: Optional[Topology] = None
        self.digest: Optional[str] = None    # of the running document
        self._updates: 'queue.Queue[Update]' = queue.Queue()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._away = False
        self._deleted = False      # the key is gone (said once; nothing is removed for it)
        # a new revision that only edits interfaces is read in O(edit)
        self.revalidator = Revalidator(url.where())

    @property
    def name(self) -> str:
        return self.url.where()

    # -- the first document --------------------------------------------------
    def load(self) -> Topology:
        """The stored document if etcd answers and it is valid, else the local
        copy; with neither, wait (saying so) until etcd has a valid one."""
        waited_since, last_log = time.monotonic(), 0.0
        while True:
            reason = self._try_store()
            if self.topology is not None:
                return self.topology
            if self._try_cache(reason):
                assert self.topology is not None
                return self.topology
            if time.monotonic() - last_log >= WAIT_LOG_SECONDS:
                LOG.error('no topology to run: %s, and no local copy in %s; waiting for etcd '
                          '(%.0f s so far)', reason, self.cache.path, time.monotonic() - waited_since)
                last_log = time.monotonic()
            time.sleep(RETRY_SECONDS)

    def _try_store(self) -> str:
        try:
            stored = self.store.read()
        except StoreUnavailable as exc:
            return str(exc)
        if stored is None:
            return f'{self.name} holds no document yet'
        try:
            topology = self._validate(stored.text, self.url.where(stored.revision))
        except TopologyError as err:
            self.seen = stored.revision
            LOG.error('refusing %s:\n%s', self.url.where(stored.revision), err)
            return f'{self.url.where(stored.revision)} is not valid'
        self._accept(stored, topology)
        LOG.info('topology from %s', self.url.where(stored.revision))
        return ''

    def _try_cache(self, reason: str) -> bool:
        copy = self.cache.load()
        if copy is None:
            return False
        try:
            topology = validate_text(copy.text, str(self.cache.path))
        except TopologyError as err:
            LOG.error('the local copy %s is not valid either:\n%s', self.cache.path, err)
            return False
        self.topology, self.revision = topology, copy.revision
        self.digest = hashlib.sha256(copy.text.encode()).hexdigest()
        self.seen = max(self.seen, copy.revision)
        self._away = True
        LOG.warning('*** RUNNING FROM THE LOCAL COPY %s (revision %d): %s. The switches keep '
                    'this topology until etcd answers; then it catches up. ***',
                    self.cache.path, copy.revision, reason)
        return True

    def _validate(self, text: str, origin: str) -> Topology:
        """validate_text(text, origin), fast for interface-only edits."""
        self.revalidator.source = origin
        return self.revalidator.load(text)

    def _accept(self, stored: Stored, topology: Topology) -> None:
        self.topology, self.revision, self.seen = topology, stored.revision, stored.revision
        self.digest = hashlib.sha256(stored.text.encode()).hexdigest()
        self.cache.save(stored)

    # -- later revisions ----------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name='vnet-etcd-watch', daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll(self, timeout: float, forced: bool = False) -> List[Update]:
        """The updates that arrived, waiting up to `timeout` s for the first."""
        self.start()
        if forced:
            LOG.info('SIGHUP: %s is read by its watch; nothing to do', self.name)
        try:
            updates = [self._updates.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._updates.empty():
            updates.append(self._updates.get_nowait())
        return updates

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._catch_up()
                for kv in self.client.watch(self.url.topology_key, self.seen + 1, WATCH_IDLE_SECONDS):
                    if kv.mod_revision > self.seen:
                        self._offer(kv)
            except StoreUnavailable as exc:
                if not self._away:
                    LOG.warning('etcd unavailable (%s); the switches keep running revision %d',
                                exc, self.revision)
                    self._away = True
                self._stop.wait(RETRY_SECONDS)
            except Exception:                       # never let the watch die silently
                LOG.exception('watching %s failed; retrying', self.name)
                self._stop.wait(RETRY_SECONDS)

    def _catch_up(self) -> None:
        """Read the key (after a start, a reconnect or an idle watch)."""
        kv = self.client.get(self.url.topology_key)
        if self._away:
            LOG.warning('etcd answers again at %s (running revision %d)', self.name, self.revision)
            self._away = False
        if kv is None:
            if self.seen and not self._deleted:
                LOG.warning('%s was deleted; the last good topology (revision %d) keeps running',
                            self.name, self.revision)
            self._deleted = True
            return
        self._deleted = False
        if kv.mod_revision != self.seen:
            self._offer(kv)

    def _offer(self, kv: KeyValue) -> None:
        started = time.monotonic()
        self.seen = kv.mod_revision
        stored = Stored(kv.value.decode('utf-8', errors='replace'), kv.mod_revision)
        origin, digest = self.url.where(kv.mod_revision), hashlib.sha256(kv.value).hexdigest()
        try:
            topology = self._validate(stored.text, origin)
        except TopologyError as err:
            self._updates.put(Update(None, err, origin, digest, started))
            return
        self._accept(stored, topology)
        self._updates.put(Update(topology, None, origin, digest, started))
