"""vnetctl apply FILE --store etcd://...: validate, show the change, store it if unchanged since."""
from __future__ import annotations

import argparse
from typing import TextIO

from controller.cli.problems import print_problems
from controller.cli.storeopts import PROBLEM, add_store_argument, open_store, run_guarded, write_document
from controller.topology import TopologyError
from controller.topology.incremental import Revalidator
from controller.topology.validate import read_text

EXAMPLE = '''example:
  vnetctl apply my.yml --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/vnet
  vnetctl apply my.yml --expect-revision 42     # only if nobody changed it since revision 42
exit status: 0 applied (or nothing to change), 1 invalid file, changed since you looked,
or etcd unavailable (nothing written), 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'apply', help='store a topology file in etcd', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Validate FILE, print what it changes against the stored document, and '
                    'store it in one etcd transaction that succeeds only if the document is '
                    'still the revision the change was computed against.')
    parser.add_argument('file', metavar='FILE')
    add_store_argument(parser)
    parser.add_argument('--expect-revision', type=int, metavar='REV',
                        help='refuse unless the stored document is at REV (as `vnetctl get` showed)')
    parser.add_argument('--dry-run', action='store_true', help='show the change, write nothing')
    parser.set_defaults(run=lambda args, out: run_guarded(run, args, out))


def run(args, out: TextIO) -> int:
    store = open_store(args)
    revalidator = Revalidator(args.file)       # then reads the stored document as an edit
    try:
        text = read_text(args.file)
        new = revalidator.load(text)
    except TopologyError as exc:
        print_problems(exc, out)
        return PROBLEM
    return write_document(store, text, new, out, args.expect_revision, args.dry_run,
                          revalidator=revalidator)
