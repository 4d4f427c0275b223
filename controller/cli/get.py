"""vnetctl get --store etcd://...: the stored document and its revision."""
from __future__ import annotations

import argparse
from typing import TextIO

from controller.cli.storeopts import OK, PROBLEM, add_store_argument, open_store, run_guarded

EXAMPLE = '''example:
  vnetctl get --store etcd://127.0.0.1:2379/vnet > current.yml
exit status: 0 printed, 1 no document or etcd unavailable, 2 usage'''


def register(commands) -> None:
    parser = commands.add_parser(
        'get', help='print the topology stored in etcd', epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Print the stored document, after a first comment line naming its '
                    'revision (the output is a valid topology file).')
    add_store_argument(parser)
    parser.set_defaults(run=lambda args, out: run_guarded(run, args, out))


def run(args, out: TextIO) -> int:
    store = open_store(args)
    stored = store.read()
    if stored is None:
        print(f'vnetctl: {store.url.where()} holds no document yet (vnetctl apply FILE)', file=out)
        return PROBLEM
    print(f'# revision {stored.revision} of {store.url.where()}', file=out)
    out.write(stored.text if stored.text.endswith('\n') else stored.text + '\n')
    return OK
