"""etcd v3 through its JSON gateway (``/v3/``), with etcd3gw, over several endpoints.

Every request has a short timeout and goes to the first endpoint that
answers; when none does -- all down, or no quorum, so the members cannot
serve a linearizable read or commit a write -- the caller gets one
`StoreUnavailable` whose message is one line.
"""
from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence

import requests

from controller.store.url import StoreURL

with warnings.catch_warnings():
    # etcd3gw imports futurist, which imports eventlet only to say it is
    # deprecated; we never use eventlet (os-ken runs on threads)
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    from etcd3gw import exceptions as etcd_errors
    from etcd3gw.client import Etcd3Client

API_PATH = '/v3/'          # etcd 3.4 serves /v3/ (and /v3beta/); no discovery round trip
TIMEOUT = 2.0              # seconds per request and endpoint


class StoreUnavailable(Exception):
    """No endpoint answered (down, or no quorum). The message is one line."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    version: int


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _kv(raw: dict) -> KeyValue:
    return KeyValue(base64.b64decode(raw['key']).decode(), base64.b64decode(raw.get('value', '')),
                    int(raw.get('mod_revision', 0)), int(raw.get('version', 0)))


def _prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (ASCII)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class EtcdClient:
    """The few etcd operations the store needs: range, compare-and-put, watch."""

    def __init__(self, url: StoreURL, timeout: float = TIMEOUT):
        self.url, self.timeout = url, timeout
        self._clients = [Etcd3Client(host=h, port=p, api_path=API_PATH, timeout=timeout)
                         for h, p in url.endpoints]
        self._current = 0          # the endpoint that answered last: tried first

    def _post(self, path: str, payload: dict) -> dict:
        failures = []
        order = list(range(self._current, len(self._clients))) + list(range(self._current))
        for i in order:
            client = self._clients[i]
            try:
                result = client.post(client.get_url(path), json=payload)
            except (etcd_errors.Etcd3Exception, requests.RequestException, ValueError) as exc:
                failures.append(f'{client.host}:{client.port} {_reason(exc)}')
                continue
            self._current = i
            return result
        raise StoreUnavailable(f'etcd at {self.url.text} is unavailable (no quorum, or no member '
                               f'answered within {self.timeout:g} s): {"; ".join(failures)}')

    def range(self, key: str, prefix: bool = False) -> List[KeyValue]:
        """Linearizable read: only a member that is part of a quorum answers."""
        payload: dict[str, Any] = {'key': _b64(key)}
        if prefix:
            payload['range_end'] = _b64(_prefix_end(key))
        return [_kv(kv) for kv in self._post('/kv/range', payload).get('kvs', [])]

    def get(self, key: str) -> Optional[KeyValue]:
        found = self.range(key)
        return found[0] if found else None

    def put_if(self, key: str, mod_revision: int, puts: Sequence[Put]) -> Optional[int]:
        """All of `puts` in one transaction if `key` was last modified at
        `mod_revision` (0: the key does not exist); the new revision, else None."""
        payload = {
            'compare': [{'key': _b64(key), 'result': 'EQUAL', 'target': 'MOD',
                         'mod_revision': mod_revision}],
            'success': [{'request_put': {'key': _b64(p.key), 'value': _b64(p.value)}} for p in puts],
            'failure': [],
        }
        result = self._post('/kv/txn', payload)
        if not result.get('succeeded'):
            return None
        return int(result['header']['revision'])

    def put(self, key: str, value: bytes) -> int:
        """An unconditional put (tests write around vnetctl with it)."""
        return int(self._post('/kv/put', {'key': _b64(key), 'value': _b64(value)})['header']['revision'])

    def watch(self, key: str, start_revision: int, idle_timeout: float) -> Iterator[KeyValue]:
        """The puts of `key` from `start_revision` on, as they happen.

        Ends quietly when nothing arrived for `idle_timeout` s, raising
        StoreUnavailable when the member goes away: either way the caller
        re-reads (a linearizable read, which a member that silently lost its
        peers cannot serve) and watches again."""
        client = self._clients[self._current]
        request: dict[str, Any] = {'create_request': {'key': _b64(key),
                                                      'start_revision': start_revision}}
        try:
            with client.session.post(client.get_url('/watch'), json=request, stream=True,
                                     timeout=(self.timeout, idle_timeout)) as resp:
                if resp.status_code != 200:
                    raise StoreUnavailable(f'watch refused: HTTP {resp.status_code}')
                # chunk_size=None (allowed, though the stubs say int): each HTTP chunk as it
                # comes, so a 1 MB event takes a few reads, not 2,000 of 512 bytes
                for line in resp.iter_lines(chunk_size=None):  # type: ignore[call-overload]
                    yield from _watch_events(line)
        except requests.RequestException as exc:
            if _idle(exc):
                return          # quiet for idle_timeout: the caller re-reads and watches again
            self._current = (self._current + 1) % len(self._clients)
            raise StoreUnavailable(f'watch on {client.host}:{client.port} ended: {_reason(exc)}') \
                from None


def _watch_events(line: bytes) -> Iterator[KeyValue]:
    if not line.strip():
        return
    chunk = json.loads(line)
    if 'error' in chunk:
        raise StoreUnavailable(f'watch failed: {chunk["error"].get("message", chunk["error"])}')
    result = chunk.get('result', {})
    if result.get('canceled') or result.get('compact_revision'):
        raise StoreUnavailable(f'watch canceled (compacted at {result.get("compact_revision")})')
    for event in result.get('events', []):
        if event.get('type', 'PUT') == 'PUT':
            yield _kv(event['kv'])


def _idle(exc: requests.RequestException) -> bool:
    """A read timeout on an open stream (requests wraps it in ConnectionError)."""
    return isinstance(exc, requests.ReadTimeout) or 'Read timed out' in str(exc)


def _reason(exc: BaseException) -> str:
    # etcd3gw keeps the message in detail_text (str() of its errors is empty)
    text = ' '.join(f'{getattr(exc, "detail_text", None) or ""} {exc}'.split())
    if isinstance(exc, (etcd_errors.ConnectionTimeoutError, requests.Timeout)):
        return 'timed out'
    if 'Connection refused' in text:
        return 'connection refused'
    if 'timed out' in text.lower():
        return 'timed out'
    return text[:160] or type(exc).__name__
