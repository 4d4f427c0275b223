"""Notice when the topology file has new, complete content.

A save is taken only once it is finished: with inotify, at once when a
file is renamed into place (IN_MOVED_TO: its content was complete before
the rename), and when the writer closes the file (IN_CLOSE_WRITE) only
after SETTLE_SECONDS without further writes, so a file written in several
goes is read once, whole.  Where inotify is unavailable (NFS, a
container without it) the file is polled, and a new stat must hold still
for SETTLE_SECONDS before the file is read.  Either way only a change of
content (its hash) counts: touching the file or saving it unchanged does
nothing.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Optional, Tuple

try:
    import inotify_simple
except ImportError:                       # not Linux: polling only
    inotify_simple = None

POLL_SECONDS = 0.2
SETTLE_SECONDS = 0.15
RENAMED, CLOSED = 'renamed', 'closed'     # how a save finished (inotify)
LOG = logging.getLogger('vnet')


def text_digest(text: str) -> str:
    """file_digest of a file holding `text` (UTF-8, as read_text decodes it)."""
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


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
    """`changed()` is true once per new content of `path`; `wait()` blocks
    (up to a timeout) until a finished save might have changed it."""

    def __init__(self, path: str, digest: Optional[str] = None, use_inotify: bool = True):
        self.path = path
        self.digest = digest if digest is not None else file_digest(path)
        self._stat = _stat_key(path)
        self._notify = _open_inotify(path) if use_inotify else None

    @property
    def mode(self) -> str:
        return 'inotify' if self._notify is not None else 'polling'

    def wait(self, timeout: float = POLL_SECONDS) -> bool:
        """Block until a save may have finished (True) or `timeout` passed."""
        if self._notify is None:
            time.sleep(timeout)
            return self._stat_settled()
        how = self._notify.saved(timeout)
        if how is None:
            return False
        # A rename into place is a finished save by construction (editors and
        # tools write a temporary file first); a close after writing may be
        # one of several, so wait until the writes stop.
        while how != RENAMED:
            how = self._notify.saved(SETTLE_SECONDS)
            if how is None:
                break
        return True

    def _stat_settled(self) -> bool:
        stat = _stat_key(self.path)
        if stat == self._stat:
            return False
        time.sleep(SETTLE_SECONDS)
        if _stat_key(self.path) != stat:               # still being written: next time
            return False
        return True

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

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()


class _DirectoryNotify:
    """inotify on the file's directory: renames into place are seen too."""

    def __init__(self, path: str):
        assert inotify_simple is not None
        flags = inotify_simple.flags
        self._name = os.path.basename(path)
        self._inotify = inotify_simple.INotify()
        self._inotify.add_watch(os.path.dirname(os.path.abspath(path)),
                                flags.CLOSE_WRITE | flags.MOVED_TO)

    def saved(self, timeout: float) -> Optional[str]:
        """RENAMED or CLOSED if our file was renamed into place or closed
        after writing within `timeout` (RENAMED if both), else None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ours = [e for e in self._inotify.read(timeout=max(1, int(left * 1000)))
                    if e.name == self._name]
            if ours:
                moved = inotify_simple.flags.MOVED_TO
                return RENAMED if any(e.mask & moved for e in ours) else CLOSED

    def close(self) -> None:
        self._inotify.close()


def _open_inotify(path: str) -> Optional[_DirectoryNotify]:
    if inotify_simple is None:
        return None
    try:
        return _DirectoryNotify(path)
    except OSError as exc:                   # no inotify here, or the directory is missing
        LOG.warning('cannot watch %s with inotify (%s); polling it instead', path, exc)
        return None
