"""Ports in large batches, straight through OVSDB with the ``ovs`` library's IDL.

ovs-vsctl spends O(n) client time per ``add-port`` on a big database (1,000
ports per call took 20-30 s at 10,000 ports), so the ports of bench/scale
are inserted here, thousands per transaction.  Each transaction also bumps
``next_cfg``; it is done when ovs-vswitchd reports that value in ``cur_cfg``
(what ``ovs-vsctl`` without ``--no-wait`` waits for).

The library parses JSON in pure Python (~2 us a character), so this client
keeps what the server sends it small: only the columns it uses (``COLUMNS``),
no Port or Interface rows (monitor condition false) unless ports are to be
removed, and a bridge's ``ports`` column write-only.  Otherwise every batch
would come back as megabytes of updates, and parsing them would take longer
than ovs-vswitchd takes to add the ports.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from lab import NetlabError

with warnings.catch_warnings():
    # ovs.poller imports eventlet (there for os-ken) only to see whether it
    # monkey-patched select; eventlet then warns that it is deprecated
    warnings.simplefilter('ignore')
    import ovs.poller
    from ovs.db.idl import Idl, SchemaHelper, Transaction

SCHEMA = Path('/usr/share/openvswitch/vswitch.ovsschema')
COLUMNS = {'Open_vSwitch': ['next_cfg', 'cur_cfg'],
           'Bridge': ['name', 'ports'],
           'Port': ['name', 'interfaces'],
           'Interface': ['name', 'type', 'options', 'ofport_request']}
WRITE_ONLY = {'Bridge': ['ports']}      # "readonly" in the IDL: not replicated, still mutable
NOT_REPLICATED = ('Port', 'Interface')  # until delete_ports needs the Port rows
ADD_BATCH = 2500


def removal_batch(remaining: int) -> int:
    """How many ports to remove in one transaction when ``remaining`` are
    left: about 1 s of ovs-vswitchd work (each removal costs it ~1.8 us per
    port still on the bridge), at least 50 and at most 5,000."""
    return int(min(5000, max(50, 1.0 / (1.8e-6 * max(1, remaining)))))


class Ovsdb:
    """An IDL connection to one Open_vSwitch database (its unix socket)."""

    def __init__(self, socket_path: Path, schema: Path = SCHEMA, timeout: float = 60):
        helper = SchemaHelper(location=str(schema))
        for table, columns in COLUMNS.items():
            helper.register_columns(table, columns, readonly=WRITE_ONLY.get(table, []))
        self.socket_path = socket_path
        self.idl = Idl(f'unix:{socket_path}', helper)
        for table in NOT_REPLICATED:
            self.idl.cond_change(table, [False])
        self._run_until(self.idl.has_ever_connected, timeout, f'the database at {socket_path}')

    def close(self) -> None:
        self.idl.close()

    def __enter__(self) -> 'Ovsdb':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the IDL loop -----------------------------------------------------------
    def _block(self, txn: Optional[Transaction] = None) -> None:
        poller = ovs.poller.Poller()
        self.idl.wait(poller)
        if txn is not None:
            txn.wait(poller)
        poller.timer_wait(100)      # a bounded wait, so deadlines are checked
        poller.block()

    def _run_until(self, done: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.idl.run()
            if done():
                return
            if time.monotonic() > deadline:
                raise NetlabError(f'timed out after {timeout:g}s waiting for {what}')
            self._block()

    def _row(self, table: str, name: Optional[str] = None) -> Any:
        for row in self.idl.tables[table].rows.values():
            if name is None or row.name == name:
                return row
        raise NetlabError(f'no {table} row' + (f' named {name}' if name else '') +
                          f' in {self.socket_path}')

    def _transact(self, build: Callable[[Transaction], None], timeout: float, what: str) -> None:
        """Commit what ``build`` writes, with next_cfg bumped, and wait until
        ovs-vswitchd has applied it."""
        deadline = time.monotonic() + timeout
        txn = Transaction(self.idl)
        build(txn)
        root = self._row('Open_vSwitch')
        root.increment('next_cfg')
        while (status := txn.commit()) == Transaction.INCOMPLETE:
            if time.monotonic() > deadline:
                txn.abort()
                raise NetlabError(f'timed out after {timeout:g}s committing {what}')
            self.idl.run()
            self._block(txn)
        if status != Transaction.SUCCESS:
            raise NetlabError(f'ovsdb transaction ({what}) failed: {status}: {txn.get_error()}')
        want = txn.get_increment_new_value()
        self._run_until(lambda: root.cur_cfg >= want, max(1.0, deadline - time.monotonic()),
                        f'ovs-vswitchd to apply configuration {want} ({what})')

    # -- ports ------------------------------------------------------------------
    def add_patch_ports(self, bridge: str, ports: Mapping[str, int], batch: int = ADD_BATCH,
                        timeout: float = 300) -> None:
        """Peerless patch ports (name -> requested OpenFlow number) on ``bridge``.

        A patch port whose peer does not exist gets an OpenFlow number and is
        announced like any port, but has no device: 10,000 cost seconds."""
        items = list(ports.items())
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]

            def build(txn: Transaction, chunk: list[tuple[str, int]] = chunk) -> None:
                br = self._row('Bridge', bridge)
                for name, ofport in chunk:
                    iface = txn.insert(self.idl.tables['Interface'])
                    iface.name, iface.type = name, 'patch'
                    iface.options = {'peer': name + 'x'}
                    iface.ofport_request = ofport
                    port = txn.insert(self.idl.tables['Port'])
                    port.name, port.interfaces = name, [iface]
                    br.addvalue('ports', port)
            self._transact(build, timeout, f'{len(chunk)} ports on {bridge}')

    def delete_ports(self, bridge: str, names: Iterable[str],
                     progress: Optional[Callable[[str], None]] = None) -> None:
        """Remove ports from ``bridge`` in batches small enough that
        ovs-vswitchd stays responsive (each removal costs it O(all ports))."""
        wanted = set(names)
        # (the seqno cond_change returns cannot be waited for: ovs 4.0.0 counts one ack
        # too many when another change is pending; the table's own state says it)
        self.idl.cond_change('Port', [True])
        state = self.idl.tables['Port'].condition_state
        self._run_until(lambda: state.acked == [True] and state.requested is None
                        and state.new is None, 120, 'the Port rows')
        rows = [p for p in self.idl.tables['Port'].rows.values() if p.name in wanted]
        total, t0, done = len(rows), time.monotonic(), 0
        while rows:
            n = removal_batch(len(rows))
            chunk, rows = rows[:n], rows[n:]

            def build(txn: Transaction, chunk: list[Any] = chunk) -> None:
                br = self._row('Bridge', bridge)
                for port in chunk:
                    br.delvalue('ports', port)
            self._transact(build, 300, f'removing {len(chunk)} ports from {bridge}')
            done += len(chunk)
            if progress and total >= 2000 and (done % 1000 < len(chunk) or not rows):
                progress(f'    removed {done}/{total} ports ({time.monotonic() - t0:.0f} s)')
