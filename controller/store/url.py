"""`etcd://HOST:PORT[,HOST:PORT...]/PREFIX`: where a topology is stored.

The document lives under ``/PREFIX/topology`` (YAML text, exactly as a file
would hold it); every change vnetctl applies is recorded under
``/PREFIX/history/`` (time, summary and the document, because etcd's
compaction may drop old revisions).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Tuple

SCHEME = 'etcd://'
_HOST_RE = re.compile(r'[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]')
_PREFIX_RE = re.compile(r'[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*')


class StoreURLError(ValueError):
    """A malformed etcd:// URL; the message names the part that is wrong."""


@dataclass(frozen=True)
class StoreURL:
    endpoints: Tuple[Tuple[str, int], ...]
    prefix: str

    @property
    def topology_key(self) -> str:
        return f'/{self.prefix}/topology'

    @property
    def history_prefix(self) -> str:
        return f'/{self.prefix}/history/'

    def history_key(self, stamp_ns: int) -> str:
        # zero-padded nanoseconds: the keys sort in time order
        return f'{self.history_prefix}{stamp_ns:020d}'

    @property
    def text(self) -> str:
        hosts = ','.join(f'{h}:{p}' for h, p in self.endpoints)
        return f'{SCHEME}{hosts}/{self.prefix}'

    def where(self, revision: int | None = None) -> str:
        """The document's name in logs and errors: URL + key (+ revision)."""
        name = f'{SCHEME}{",".join(f"{h}:{p}" for h, p in self.endpoints)}{self.topology_key}'
        return name if revision is None else f'{name}@{revision}'

    def __str__(self) -> str:
        return self.text


def is_store_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_store_url(text: str) -> StoreURL:
    """`etcd://h1:2379,h2:2379/vnet` -> StoreURL; StoreURLError says what is wrong."""
    if not is_store_url(text):
        raise StoreURLError(f'{text!r}: a store URL starts with {SCHEME}')
    rest = text[len(SCHEME):]
    hosts, slash, prefix = rest.partition('/')
    prefix = prefix.strip('/')
    if not slash or not prefix:
        raise StoreURLError(f'{text!r}: no key prefix; write {SCHEME}HOST:PORT[,HOST:PORT...]/PREFIX')
    if not _PREFIX_RE.fullmatch(prefix):
        raise StoreURLError(f'{text!r}: prefix {prefix!r} may hold only letters, digits, '
                            "'.', '_', '-' and '/' between parts")
    if not hosts:
        raise StoreURLError(f'{text!r}: no HOST:PORT before the prefix')
    return StoreURL(tuple(_endpoint(text, item) for item in hosts.split(',')), prefix)


def _endpoint(text: str, item: str) -> Tuple[str, int]:
    host, colon, port = item.rpartition(':')
    if not colon or not host:
        raise StoreURLError(f'{text!r}: endpoint {item!r} is not HOST:PORT')
    if not _HOST_RE.fullmatch(host):
        raise StoreURLError(f'{text!r}: endpoint {item!r}: {host!r} is not a host name or address')
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise StoreURLError(f'{text!r}: endpoint {item!r}: port {port!r} is not 1-65535')
    return host.strip('[]'), int(port)
