"""What vnetctl's store commands share: --store, opening it, one-line errors,
and the validated, summarised, compare-and-put write (apply and rollback)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Optional, TextIO

from controller.topology import Topology, TopologyError
from controller.topology.diff import describe
from controller.topology.incremental import Revalidator

if TYPE_CHECKING:     # imported when used: etcd3gw costs `vnetctl check` a quarter second
    from controller.store import TopologyStore

ENV = 'VNET_TOPOLOGY'
OK, PROBLEM, USAGE = 0, 1, 2


class Failed(Exception):
    """One line for the operator, and the exit status."""

    def __init__(self, line: str, status: int = PROBLEM):
        super().__init__(line)
        self.status = status


def add_store_argument(parser) -> None:
    parser.add_argument('--store', metavar='etcd://HOST:PORT[,...]/PREFIX',
                        help=f'the store (default: ${ENV} when it is an etcd:// URL)')
    parser.add_argument('--timeout', type=float, default=2.0, metavar='SECONDS',
                        help='per request and etcd member (default 2)')


def open_store(args) -> 'TopologyStore':
    from controller.store import EtcdClient, StoreURLError, TopologyStore, is_store_url, parse_store_url
    text = args.store or (os.environ.get(ENV) if is_store_url(os.environ.get(ENV, '')) else None)
    if not text:
        raise Failed(f'no store: give --store etcd://HOST:PORT/PREFIX (or set {ENV})', USAGE)
    try:
        url = parse_store_url(text)
    except StoreURLError as exc:
        raise Failed(f'--store: {exc}', USAGE) from None
    return TopologyStore(EtcdClient(url, timeout=args.timeout), url)


def run_guarded(body, args, out: TextIO) -> int:
    """Run `body(args, out)`; a Failed or an unavailable store is one line on stderr."""
    from controller.store import StoreUnavailable
    try:
        return body(args, out)
    except Failed as exc:
        print(f'vnetctl: {exc}', file=sys.stderr)
        return exc.status
    except StoreUnavailable as exc:
        print(f'vnetctl: {exc}; nothing was written', file=sys.stderr)
        return PROBLEM


def write_document(store: 'TopologyStore', text: str, new: Topology, out: TextIO,
                   expected: Optional[int] = None, dry_run: bool = False, what: str = '',
                   revalidator: Optional[Revalidator] = None) -> int:
    """Show what changes against the stored document, then store `text` only
    if the document is still the one the change was computed against.
    (`revalidator`: the one that read `text`; it reads the stored document
    as an edit of it, in O(difference) when only interfaces differ.)"""
    from controller.store import Conflict
    current = store.read()
    revision = current.revision if current else 0
    if expected is not None and expected != revision:
        raise Failed(f'{store.url.where()} changed since you looked (you read revision '
                     f'{expected}, it is now {revision}); nothing was written')
    summary = what + _summary(store, current.text if current else None, new, revision,
                              revalidator or Revalidator(''))
    print(f'{store.url.where(revision or None)} -> {summary}', file=out)
    if current is not None and current.text == text:
        print('the store holds this document already; nothing written', file=out)
        return OK
    if dry_run:
        print('dry run: nothing written', file=out)
        return OK
    try:
        written = store.write(text, revision, summary)
    except Conflict as exc:
        now = store.read()
        if now is not None and now.text == text:      # an earlier attempt of ours landed
            print(f'applied: revision {now.revision}', file=out)
            return OK
        raise Failed(f'{exc}; nothing was written. Look again (vnetctl get) and re-apply') from None
    print(f'applied: revision {written}', file=out)
    return OK


def _summary(store: 'TopologyStore', old_text: Optional[str], new: Topology, revision: int,
             revalidator: Revalidator) -> str:
    if old_text is None:
        return 'first document: ' + describe(Topology(source=''), new)
    revalidator.source = store.url.where(revision)
    try:
        old = revalidator.load(old_text)
    except TopologyError:
        return 'replaces an invalid document'
    return describe(old, new)
