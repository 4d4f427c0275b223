"""The topology document in the store: read it, write it only if unchanged
since it was read, and the history of what vnetctl applied.

Works over any client with `get`, `range(prefix=True)` and `put_if` (the
etcd client, or the in-memory one the unit tests use).
"""
from __future__ import annotations

import base64
import json
import time
import zlib
from dataclasses import dataclass
from typing import Callable, List, Optional, Protocol, Sequence

from controller.store.client import KeyValue, Put
from controller.store.url import StoreURL


class KV(Protocol):
    def get(self, key: str) -> Optional[KeyValue]: ...
    def range(self, key: str, prefix: bool = False) -> List[KeyValue]: ...
    def put_if(self, key: str, mod_revision: int, puts: Sequence[Put]) -> Optional[int]: ...


class Conflict(Exception):
    """The document changed since the caller read it."""


@dataclass(frozen=True)
class Stored:
    text: str
    revision: int          # the etcd revision that last modified the document (0: none yet)


@dataclass(frozen=True)
class HistoryEntry:
    revision: int
    time: float
    summary: str
    text: str


class TopologyStore:
    def __init__(self, kv: KV, url: StoreURL, clock: Callable[[], float] = time.time):
        self.kv, self.url, self.clock = kv, url, clock

    def read(self) -> Optional[Stored]:
        kv = self.kv.get(self.url.topology_key)
        return Stored(kv.value.decode('utf-8', errors='replace'), kv.mod_revision) if kv else None

    def write(self, text: str, expected_revision: int, summary: str) -> int:
        """Store `text` if the document is still at `expected_revision` (0: absent),
        with its history entry in the same transaction; the new revision.
        Raises Conflict otherwise: nothing is written."""
        now = self.clock()
        entry = {'time': now, 'summary': summary,
                 # compressed: a 1 MB document and its history copy fit one request
                 'document': base64.b64encode(zlib.compress(text.encode(), 6)).decode()}
        puts = [Put(self.url.topology_key, text.encode()),
                Put(self.url.history_key(int(now * 1e9)), json.dumps(entry).encode())]
        revision = self.kv.put_if(self.url.topology_key, expected_revision, puts)
        if revision is None:
            raise Conflict(f'{self.url.where()} changed since you looked '
                           f'(you read revision {expected_revision})')
        return revision

    def history(self) -> List[HistoryEntry]:
        """Every change vnetctl recorded, oldest first (their revision is the
        history key's own: both were written in one transaction)."""
        entries = [_entry(kv) for kv in self.kv.range(self.url.history_prefix, prefix=True)]
        return sorted((e for e in entries if e is not None), key=lambda e: e.revision)

    def at(self, revision: int) -> HistoryEntry:
        for entry in self.history():
            if entry.revision == revision:
                return entry
        raise KeyError(revision)


def _entry(kv: KeyValue) -> Optional[HistoryEntry]:
    try:
        data = json.loads(kv.value)
        text = zlib.decompress(base64.b64decode(data['document'])).decode()
        return HistoryEntry(kv.mod_revision, float(data['time']), str(data['summary']), text)
    except (ValueError, KeyError, TypeError, zlib.error):
        return None          # not ours, or damaged: history skips it
