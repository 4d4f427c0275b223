"""The agent's local copy of the last good document and its revision.

Written after each document the agent validated, atomically (a crash leaves
the old copy or the new one, never half of one), so an agent that starts
while etcd is away can run the network it ran before.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Optional

from controller.store.document import Stored
from controller.store.url import StoreURL

LOG = logging.getLogger('vnet')
DEFAULT_DIR = '/var/lib/ryu-vnet'


class TopologyCache:
    def __init__(self, directory: str | os.PathLike, url: StoreURL):
        name = re.sub(r'[^A-Za-z0-9._-]', '_', url.prefix)
        self.dir = Path(directory)
        # one file for document and revision: a single rename replaces both
        self.path = self.dir / f'{name}.topology.json'

    def save(self, stored: Stored) -> bool:
        """Keep `stored`; False (logged) if the directory is not writable."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.path, json.dumps({'revision': stored.revision,
                                                 'document': stored.text}).encode())
        except OSError as exc:
            LOG.warning('cannot keep a local copy of the topology in %s: %s', self.dir, exc)
            return False
        return True

    def load(self) -> Optional[Stored]:
        """The copy, or None if there is none (or it is unreadable)."""
        try:
            data = json.loads(self.path.read_text())
            return Stored(str(data['document']), int(data['revision']))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
