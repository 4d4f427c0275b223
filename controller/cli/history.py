"""vnetctl history --store etcd://...: every change vnetctl applied, oldest first."""
from __future__ import annotations

import argparse
import datetime
from typing import TextIO

from controller.cli.storeopts import OK, add_store_argument, open_store, run_guarded

EXAMPLE = '''example:
  vnetctl history --store etcd://127.0.0.1:2379/vnet
exit status: 0 listed, 1 etcd unavailable, 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'history', help='list the changes applied to the stored topology', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='One line per change vnetctl apply or rollback stored: revision, time '
                    '(UTC) and summary; * marks the revision running now. Documents written '
                    'around vnetctl have no entry.')
    add_store_argument(parser)
    parser.set_defaults(run=lambda args, out: run_guarded(run, args, out))


def run(args, out: TextIO) -> int:
    store = open_store(args)
    current = store.read()
    entries = store.history()
    if not entries:
        print(f'no changes recorded under {store.url.history_prefix}', file=out)
    for e in entries:
        when = datetime.datetime.fromtimestamp(e.time, datetime.timezone.utc)
        mark = '*' if current is not None and current.revision == e.revision else ' '
        print(f'{mark}{e.revision:>8}  {when:%Y-%m-%d %H:%M:%S}Z  {e.summary}', file=out)
    return OK
