"""The etcd calls an election needs: leases, create-if-absent, who holds a key.

Over the store's client (`controller.store.EtcdClient`: the etcd v3 JSON
gateway through etcd3gw, trying each endpoint in turn, one-line
`StoreUnavailable` when none answers).  The store's key/value view has no
lease or create revision, which an election needs, so the few requests are
written here against the same gateway.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Optional, Tuple

from controller.store import EtcdClient, StoreUnavailable, StoreURL

__all__ = ['Holder', 'LeaseClient', 'StoreUnavailable']


@dataclass(frozen=True)
class Holder:
    """Who holds the election key: its value (the holder's identity), the
    revision that created it (the leader's generation), and the lease that
    keeps it."""
    identity: str
    create_revision: int
    lease: int


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _holder(kv: dict) -> Holder:
    return Holder(base64.b64decode(kv.get('value', '')).decode(errors='replace'),
                  int(kv.get('create_revision', 0)), int(kv.get('lease', 0)))


class LeaseClient:
    def __init__(self, url: StoreURL, timeout: float):
        self.url = url
        self._etcd = EtcdClient(url, timeout=timeout)

    def _post(self, path: str, payload: dict) -> dict:
        return self._etcd._post(path, payload)     # endpoint rotation, StoreUnavailable

    def grant(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; its id."""
        return int(self._post('/lease/grant', {'TTL': ttl, 'ID': 0})['ID'])

    def keepalive(self, lease: int) -> int:
        """Renew `lease`; the seconds it now has left (<= 0: it has expired)."""
        result = self._post('/lease/keepalive', {'ID': lease})
        return int(result.get('result', result).get('TTL', -1))

    def revoke(self, lease: int) -> None:
        """End `lease` now (its keys go with it)."""
        self._post('/kv/lease/revoke', {'ID': lease})

    def holder(self, key: str) -> Optional[Holder]:
        kvs = self._post('/kv/range', {'key': _b64(key)}).get('kvs', [])
        return _holder(kvs[0]) if kvs else None

    def claim(self, key: str, identity: str, lease: int) -> Tuple[bool, Optional[Holder]]:
        """Create `key` = `identity` under `lease` if nobody holds it, in one
        transaction; (won, the holder now).  The holder is None only when the
        key vanished between the compare and the read (its lease expired)."""
        payload = {
            'compare': [{'key': _b64(key), 'result': 'EQUAL', 'target': 'CREATE',
                         'create_revision': 0}],
            'success': [{'request_put': {'key': _b64(key), 'value': _b64(identity),
                                         'lease': lease}}],
            'failure': [{'request_range': {'key': _b64(key)}}],
        }
        result = self._post('/kv/txn', payload)
        if result.get('succeeded'):
            return True, Holder(identity, int(result['header']['revision']), lease)
        responses = result.get('responses') or [{}]
        kvs = responses[0].get('response_range', {}).get('kvs', [])
        return False, (_holder(kvs[0]) if kvs else None)
