"""Where the topology comes from: a file, or etcd (`etcd://...`), behind one interface.

    preload(path, cache_dir)   the launcher: the first topology, before anything listens
    open_source(...)           the app: the preloaded source, or a new one
    source.topology            the running topology
    source.poll(timeout, forced) -> [Update]   new content (validated) since the last call

A file is watched with controller.watch; etcd with controller.store.source.
"""
from __future__ import annotations

import logging
import time
from typing import List, Optional, Protocol

from controller import options
from controller.store.cache import DEFAULT_DIR
from controller.store.source import EtcdSource, Update
from controller.store.url import is_store_url, parse_store_url
from controller.topology import Topology, TopologyError, load_topology
from controller.topology.incremental import Revalidator
from controller.topology.validate import read_text
from controller.watch import FileWatch, file_digest, text_digest

LOG = logging.getLogger('vnet')


class Source(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def topology(self) -> Optional[Topology]: ...
    @property
    def digest(self) -> Optional[str]: ...

    def poll(self, timeout: float, forced: bool = False) -> List[Update]: ...


class FileSource:
    """The topology file, watched for finished saves (see controller.watch)."""

    def __init__(self, path: str, digest: Optional[str], topology: Topology):
        self.name, self.topology = path, topology
        self.watch = FileWatch(path, digest)
        # Edits are read in O(edit) (controller.topology.incremental); it
        # learns the running text on the first poll, off the event thread.
        self.revalidator: Optional[Revalidator] = Revalidator(path)
        self._primed = False

    @property
    def mode(self) -> str:
        return self.watch.mode

    @property
    def digest(self) -> Optional[str]:
        return self.watch.digest

    def poll(self, timeout: float, forced: bool = False) -> List[Update]:
        if not self._primed:
            self._prime()
        saved = self.watch.wait(timeout)
        if not ((saved or forced) and self.watch.changed(force=forced)):
            if forced:
                LOG.info('SIGHUP: %s is unchanged', self.name)
            return []
        started, digest = time.monotonic(), self.watch.digest
        try:
            return [Update(self._load(), None, self.name, digest, started)]
        except TopologyError as err:
            return [Update(None, err, self.name, digest, started)]

    def _load(self) -> Topology:
        if self.revalidator is None:
            return load_topology(self.name)
        return self.revalidator.load_file(self.name)

    def _prime(self) -> None:
        """Read the running file whole once, if it is still what is running."""
        self._primed = True
        try:
            text = read_text(self.name)
            if self.revalidator is not None and text_digest(text) == self.watch.digest:
                self.revalidator.load(text)
        except TopologyError:
            pass                    # changed since; the next edit is read whole


def cache_dir(conf) -> str:
    return getattr(conf, 'topology_cache', None) or DEFAULT_DIR


def preload(path: str, cache: str) -> options.Preloaded:
    """The first topology (TopologyError for a bad file; an etcd source waits
    for the store or uses its local copy)."""
    if is_store_url(path):
        source = EtcdSource(parse_store_url(path), cache)
        return options.Preloaded(path, None, source.load(), source)
    digest = file_digest(path)
    return options.Preloaded(path, digest, load_topology(path))


def open_source(path: str, cache: str, preloaded: Optional[options.Preloaded]) -> Source:
    """The app's source: the launcher's if it read the same one, else a new one."""
    if is_store_url(path):
        if preloaded is not None and isinstance(preloaded.source, EtcdSource) \
                and preloaded.path == path:
            return preloaded.source
        etcd = EtcdSource(parse_store_url(path), cache)
        etcd.load()
        return etcd
    digest = file_digest(path)
    topology = (preloaded and preloaded.topology_for(path, digest)) or load_topology(path)
    return FileSource(path, digest, topology)
