"""Notice when the topology file changes.

Polling, not inotify: editors save by rename (new inode), by truncate and
write, or over NFS, and a cheap stat every 200 ms sees all of them.  A
change of stat triggers a read; only a change of content (its hash) counts,
so touching the file or saving it unchanged does nothing.
"""
from __future__ import annotations

import hashlib
import os
from typing import Optional, Tuple

POLL_SECONDS = 0.2


def file_digest(path: str) -> Optional[str]:
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _stat_key(path: str) -> Optional[Tuple]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileWatch:
    """`changed()` is true once per new content of `path`."""

    def __init__(self, path: str, digest: Optional[str] = None):
        self.path = path
        self.digest = digest if digest is not None else file_digest(path)
        self._stat = _stat_key(path)

    def changed(self, force: bool = False) -> bool:
        stat = _stat_key(self.path)
        if stat == self._stat and not force:
            return False
        self._stat = stat
        digest = file_digest(self.path)
        if digest is None or digest == self.digest:
            return False
        self.digest = digest
        return True
