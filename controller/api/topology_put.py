"""PUT /v1/topology: the same path as an edit of the file.

The body is validated with the code that validates the file (problems name
the topology file, as a file edit's would); a valid body replaces the file
atomically (a temporary file in the same directory, then a rename), and the
app's file watcher applies it exactly as it applies an editor's save.  So
there is one way in for a change, whoever makes it.  When the topology lives
in etcd (`--topology etcd://...`), the body is stored there instead, in one
transaction that succeeds only if nobody changed the document meanwhile (as
`vnetctl apply` does), and the controller's store watch applies it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from controller.api.history import History, problem_json
from controller.store.client import EtcdClient, StoreUnavailable
from controller.store.document import Conflict, TopologyStore
from controller.store.url import is_store_url, parse_store_url
from controller.topology import Problem, TopologyError, validate_text
from controller.watch import file_digest

MAX_BODY_BYTES = 8 << 20     # 10,000 interfaces take about 1 MiB
APPLY_WAIT_SECONDS = 10.0    # how long a PUT waits to report the change applied


@dataclass
class Outcome:
    status: int
    body: dict = field(default_factory=dict)


class TopologyWriter:
    def __init__(self, path: str, history: History):
        self.path = path
        self.history = history
        self._lock = threading.Lock()       # one write at a time
        self.store: Optional[TopologyStore] = None
        if is_store_url(path):
            url = parse_store_url(path)
            self.store = TopologyStore(EtcdClient(url), url)

    def put(self, raw: bytes, wait: float = APPLY_WAIT_SECONDS) -> Outcome:
        text, problem = decode(raw, self.path)
        if problem is not None:
            return self._refuse([problem], raw)
        try:
            validate_text(text, self.path)
        except TopologyError as err:
            return self._refuse(err.problems, raw)
        if self.store is not None:
            raw = text.encode()              # what the store holds, and its digest
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            since_revision, since = self.history.revision, time.time()
            failed = self._write(raw, text, digest)
            if failed is not None:
                return failed
        result = self.history.wait_for(digest, since_revision, since, wait)
        body = {'changed': True, 'digest': digest, 'file': self.path}
        if result is None:
            body['message'] = (f'written to {self.path}; the controller has not applied it '
                               f'within {wait:g} s (see GET /v1/status)')
            return Outcome(202, body)
        if not result['applied']:          # the file changed again meanwhile, or cannot be read
            body['message'] = 'written, but the controller refused the file (see GET /v1/status)'
            return Outcome(409, body)
        body.update(revision=result['revision'],
                    message='taken by the controller; GET /v1/status says when the switches '
                            'it touched confirmed it')
        return Outcome(200, body)

    def _write(self, raw: bytes, text: str, digest: str) -> Optional[Outcome]:
        """Write the new content (None), or say why not (an Outcome)."""
        try:
            current = self._current_digest()
            if current == digest:
                return Outcome(200, {'changed': False, 'digest': digest,
                                     'message': 'the topology already has this content'})
            self.history.written_by_api(digest)
            if self.store is None:
                write_atomically(self.path, raw)
                return None
            stored = self.store.read()
            self.store.write(text, stored.revision if stored else 0, 'PUT /v1/topology')
            return None
        except Conflict as exc:
            return Outcome(409, {'error': f'{exc}; nothing was written, try again'})
        except StoreUnavailable as exc:
            return Outcome(503, {'error': f'{self.path}: {exc}; nothing was written'})
        except OSError as exc:
            return Outcome(500, {'error': f'cannot write {self.path}: {exc.strerror or exc}'})

    def _current_digest(self) -> Optional[str]:
        if self.store is None:
            return file_digest(self.path)
        stored = self.store.read()
        return hashlib.sha256(stored.text.encode()).hexdigest() if stored else None

    def _refuse(self, problems, raw: bytes) -> Outcome:
        problems = sorted(problems, key=lambda p: (p.line or 0, p.path, p.message))
        self.history.refused(problems, hashlib.sha256(raw).hexdigest(), 'api')
        return Outcome(422, {'error': f'the topology was refused ({len(problems)} problems); '
                                      'nothing changed',
                             'problems': [problem_json(p) for p in problems]})


def decode(raw: bytes, name: str):
    """(text, None), or (None, the Problem) for a body that is not UTF-8 text."""
    if b'\0' in raw:
        line = raw.count(b'\n', 0, raw.index(b'\0')) + 1
        return None, Problem(name, line, '', 'not a YAML text: it contains NUL bytes '
                                             '(binary data?)')
    try:
        return raw.decode('utf-8-sig'), None
    except UnicodeDecodeError as exc:
        line = raw.count(b'\n', 0, exc.start) + 1
        return None, Problem(name, line, '', f'not UTF-8 text (byte {raw[exc.start]:#04x})')


def write_atomically(path: str, data: bytes) -> None:
    """Replace `path` with `data` in one rename: a reader (the watcher) sees
    the old file or the new one, never half of it.  Keeps the file's mode."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.api', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def token_from(path: Optional[str]) -> Optional[str]:
    """The bearer token in `path` (first line, trimmed), None if there is none.
    Read at every write, so a rotated token takes effect at once."""
    if not path:
        return None
    try:
        with open(path, encoding='utf-8') as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None
