"""vnetctl rollback REV --store etcd://...: store again the document of revision REV."""
from __future__ import annotations

import argparse
from typing import TextIO

from controller.cli.storeopts import Failed, add_store_argument, open_store, run_guarded, write_document
from controller.topology import TopologyError
from controller.topology.incremental import Revalidator

EXAMPLE = '''example:
  vnetctl history --store etcd://127.0.0.1:2379/vnet
  vnetctl rollback 41 --store etcd://127.0.0.1:2379/vnet
exit status: 0 rolled back, 1 unknown revision, changed meanwhile or etcd unavailable, 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'rollback', help='store an earlier topology again', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Take the document of revision REV from the history and apply it like '
                    '`vnetctl apply` (a new revision; the history keeps both).')
    parser.add_argument('revision', type=int, metavar='REV')
    add_store_argument(parser)
    parser.add_argument('--dry-run', action='store_true', help='show the change, write nothing')
    parser.set_defaults(run=lambda args, out: run_guarded(run, args, out))


def run(args, out: TextIO) -> int:
    store = open_store(args)
    try:
        entry = store.at(args.revision)
    except KeyError:
        raise Failed(f'revision {args.revision} is not in the history of {store.url.where()} '
                     '(vnetctl history lists them)') from None
    revalidator = Revalidator(store.url.where(entry.revision))
    try:
        new = revalidator.load(entry.text)
    except TopologyError as exc:      # validation rules grew stricter since
        raise Failed(f'revision {args.revision} is not valid today: {exc.problems[0]}') from None
    return write_document(store, entry.text, new, out, dry_run=args.dry_run,
                          what=f'rollback to {args.revision}: ', revalidator=revalidator)
