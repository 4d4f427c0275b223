"""The topology store's pure logic: etcd:// URLs, the local copy, the
compare-and-put write and its history, and the agent's source, against an
in-memory stand-in for etcd (the real thing: tests/integration/test_store.py)."""
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from controller.cli.storeopts import Failed, write_document
from controller.store import Conflict, EtcdClient, StoreUnavailable, StoreURLError, TopologyStore, parse_store_url
from controller.store.cache import TopologyCache
from controller.store.client import KeyValue, Put
from controller.store.document import Stored
from controller.store.source import EtcdSource
from controller.topology import validate_text

URL = parse_store_url('etcd://127.0.0.1:2379,10.0.0.2:2380/vnet')
GOOD = 'datapaths:\n  br0: {dpid: 1}\nnetworks:\n  net1: {ipv4: 10.0.0.0/24}\n'
GOOD2 = GOOD + '  net2: {ipv4: 10.0.1.0/24}\n'
BAD = 'datapaths:\n  br0: {dpid: 1}\nnetworks:\n  net1: {ipv4: 10.0.0.0/33}\n'


class FakeEtcd:
    """Keys with mod_revision and version, one store revision, transactions."""

    def __init__(self):
        self.kvs: dict = {}
        self.revision = 1
        self.down = False
        self.before_txn = None        # run inside put_if, before the compare: a racing writer

    def _check(self):
        if self.down:
            raise StoreUnavailable('etcd at etcd://fake is unavailable')

    def get(self, key: str) -> Optional[KeyValue]:
        self._check()
        return self.kvs.get(key)

    def range(self, key: str, prefix: bool = False) -> List[KeyValue]:
        self._check()
        return [kv for k, kv in sorted(self.kvs.items()) if (k.startswith(key) if prefix else k == key)]

    def put(self, key: str, value: bytes) -> int:
        self._check()
        self.revision += 1
        old = self.kvs.get(key)
        self.kvs[key] = KeyValue(key, value, self.revision, old.version + 1 if old else 1)
        return self.revision

    def put_if(self, key: str, mod_revision: int, puts: Sequence[Put]) -> Optional[int]:
        self._check()
        if self.before_txn:
            self.before_txn()
        current = self.kvs.get(key)
        if (current.mod_revision if current else 0) != mod_revision:
            return None
        self.revision += 1
        for p in puts:
            old = self.kvs.get(p.key)
            self.kvs[p.key] = KeyValue(p.key, p.value, self.revision, old.version + 1 if old else 1)
        return self.revision

    def watch(self, key, start_revision, idle_timeout):
        time.sleep(0.02)          # an idle watch: the source re-reads and watches again
        return iter(())


# -- URLs ---------------------------------------------------------------------

def test_a_store_url_names_its_endpoints_and_prefix():
    url = parse_store_url('etcd://10.0.0.1:2379,[::1]:2380,etcd-3.lan:2379/site/a')
    assert url.endpoints == (('10.0.0.1', 2379), ('::1', 2380), ('etcd-3.lan', 2379))
    assert url.prefix == 'site/a'
    assert url.topology_key == '/site/a/topology'
    assert url.history_key(5) == '/site/a/history/00000000000000000005'
    assert url.where(7) == 'etcd://10.0.0.1:2379,::1:2380,etcd-3.lan:2379/site/a/topology@7'


@pytest.mark.parametrize('text, complaint', [
    ('http://h:1/p', 'starts with etcd://'),
    ('etcd://h:2379', 'no key prefix'),
    ('etcd://h:2379/', 'no key prefix'),
    ('etcd:///p', 'no HOST:PORT'),
    ('etcd://h/p', "endpoint 'h' is not HOST:PORT"),
    ('etcd://h:99999/p', "port '99999' is not 1-65535"),
    ('etcd://h:x/p', "port 'x'"),
    ('etcd://h:1,/p', "endpoint '' is not HOST:PORT"),
    ('etcd://h:1/a b', "prefix 'a b'"),
    ('etcd://h:1/a//b', "prefix 'a//b'"),
])
def test_a_malformed_store_url_is_refused_naming_what_is_wrong(text, complaint):
    with pytest.raises(StoreURLError, match=None) as err:
        parse_store_url(text)
    assert complaint in str(err.value) and repr(text) in str(err.value)


# -- compare-and-put and history ------------------------------------------------

def test_a_write_against_the_revision_read_succeeds_and_records_its_history():
    etcd, clock = FakeEtcd(), iter([1000.0, 2000.0])
    store = TopologyStore(etcd, URL, clock=lambda: next(clock))
    first = store.write(GOOD, 0, 'first document')
    second = store.write(GOOD2, first, 'networks +net2')
    assert store.read() == Stored(GOOD2, second)
    assert [(e.revision, e.time, e.summary, e.text) for e in store.history()] == [
        (first, 1000.0, 'first document', GOOD), (second, 2000.0, 'networks +net2', GOOD2)]
    assert store.at(first).text == GOOD
    with pytest.raises(KeyError):
        store.at(first + 100)


def test_a_write_against_a_stale_revision_is_refused_and_writes_nothing():
    etcd = FakeEtcd()
    store = TopologyStore(etcd, URL)
    first = store.write(GOOD, 0, 'first')
    before = dict(etcd.kvs)
    with pytest.raises(Conflict, match='changed since you looked'):
        store.write(GOOD2, first - 1, 'stale')
    with pytest.raises(Conflict):
        store.write(GOOD2, 0, 'creating what exists')
    assert etcd.kvs == before


def test_of_two_writers_that_read_the_same_revision_only_the_first_to_commit_wins():
    etcd = FakeEtcd()
    store = TopologyStore(etcd, URL)
    base = store.write(GOOD, 0, 'first')
    etcd.before_txn = lambda: (setattr(etcd, 'before_txn', None),
                               store.write(GOOD2, base, 'the other writer'))
    with pytest.raises(Conflict):
        store.write(BAD, base, 'ours')
    assert store.read().text == GOOD2
    assert [e.summary for e in store.history()] == ['first', 'the other writer']


def test_history_skips_entries_it_cannot_read():
    etcd = FakeEtcd()
    store = TopologyStore(etcd, URL)
    store.write(GOOD, 0, 'first')
    etcd.put(URL.history_key(1), b'not json')
    etcd.put(URL.history_key(2), json.dumps({'time': 1, 'summary': 's', 'document': '!!'}).encode())
    assert [e.summary for e in store.history()] == ['first']


# -- the local copy -----------------------------------------------------------

def test_the_local_copy_keeps_the_document_and_its_revision(tmp_path):
    cache = TopologyCache(tmp_path / 'cache', URL)
    assert cache.load() is None
    assert cache.save(Stored(GOOD, 7))
    assert cache.save(Stored(GOOD2, 9))
    assert TopologyCache(tmp_path / 'cache', URL).load() == Stored(GOOD2, 9)
    assert [p.name for p in (tmp_path / 'cache').iterdir()] == ['vnet.topology.json']


def test_an_unwritable_or_damaged_local_copy_is_no_copy(tmp_path):
    (tmp_path / 'file').write_text('x')
    assert not TopologyCache(tmp_path / 'file' / 'sub', URL).save(Stored(GOOD, 1))
    cache = TopologyCache(tmp_path, URL)
    cache.path.write_text('{"revision": 3')
    assert cache.load() is None


# -- the agent's source ---------------------------------------------------------

@pytest.fixture
def sources():
    made = []
    yield made
    for src in made:
        src.stop()


@pytest.fixture
def source(tmp_path, sources):
    def make(etcd):
        src = EtcdSource(URL, str(tmp_path), client=etcd)
        sources.append(src)
        return src
    return make


def test_the_agent_starts_from_the_store_and_keeps_a_local_copy(tmp_path, source):
    etcd = FakeEtcd()
    rev = TopologyStore(etcd, URL).write(GOOD, 0, 'first')
    src = source(etcd)
    assert list(src.load().networks) == ['net1'] and src.revision == rev
    assert TopologyCache(tmp_path, URL).load() == Stored(GOOD, rev)


def test_with_etcd_away_the_agent_starts_from_its_local_copy_and_catches_up_later(tmp_path, source, caplog):
    etcd = FakeEtcd()
    TopologyCache(tmp_path, URL).save(Stored(GOOD, 4))
    etcd.down = True
    src = source(etcd)
    assert list(src.load().networks) == ['net1'] and src.revision == 4
    assert 'RUNNING FROM THE LOCAL COPY' in caplog.text
    etcd.down = False
    rev = TopologyStore(etcd, URL).write(GOOD2, 0, 'edit')
    [update] = src.poll(2)
    assert update.error is None and list(update.topology.networks) == ['net1', 'net2']
    assert update.origin == URL.where(rev) and src.revision == rev


def test_an_invalid_revision_is_refused_with_its_line_and_the_last_good_stays(tmp_path, source):
    etcd = FakeEtcd()
    good = TopologyStore(etcd, URL).write(GOOD, 0, 'first')
    src = source(etcd)
    src.load()
    bad = etcd.put(URL.topology_key, BAD.encode())
    [update] = src.poll(2)
    assert update.topology is None
    assert str(update.error.problems[0]).startswith(f'{URL.where(bad)}:4: networks.net1.ipv4:')
    assert src.revision == good and TopologyCache(tmp_path, URL).load() == Stored(GOOD, good)
    assert src.poll(0.3) == []          # re-read every 20 ms, but refused once only


def test_with_no_store_and_no_copy_the_agent_waits_and_applies_nothing(tmp_path, source):
    etcd = FakeEtcd()
    etcd.down = True
    src = source(etcd)
    got = []
    t = threading.Thread(target=lambda: got.append(src.load()), daemon=True)
    t.start()
    t.join(0.8)
    assert t.is_alive() and not got
    etcd.down = False
    TopologyStore(etcd, URL).write(GOOD, 0, 'first')
    t.join(3)
    assert got and list(got[0].networks) == ['net1']


# -- vnetctl's write: summary, expected revision, nothing half-written ---------------

def cli_write(etcd, text, expected=None, dry_run=False):
    out = io.StringIO()
    try:
        status = write_document(TopologyStore(etcd, URL), text, validate_text(text, 'f.yml'), out,
                                expected=expected, dry_run=dry_run)
    except Failed as exc:
        return None, str(exc)
    return status, out.getvalue()


def test_vnetctl_shows_the_change_and_writes_only_against_the_revision_it_expects():
    etcd = FakeEtcd()
    status, out = cli_write(etcd, GOOD)
    assert status == 0 and 'first document: datapaths +br0; networks +net1' in out
    first = TopologyStore(etcd, URL).read().revision
    status, out = cli_write(etcd, GOOD2, dry_run=True)
    assert status == 0 and f'topology@{first} -> networks +net2' in out and 'dry run' in out
    assert TopologyStore(etcd, URL).read().revision == first
    status, message = cli_write(etcd, GOOD2, expected=first - 1)
    assert status is None and 'changed since you looked' in message
    assert TopologyStore(etcd, URL).read().text == GOOD
    status, out = cli_write(etcd, GOOD2, expected=first)
    assert status == 0 and 'applied: revision' in out
    status, out = cli_write(etcd, GOOD2)
    assert status == 0 and 'holds this document already; nothing written' in out
    assert len(TopologyStore(etcd, URL).history()) == 2


def test_vnetctl_refuses_when_another_write_lands_between_its_read_and_its_transaction():
    etcd = FakeEtcd()
    cli_write(etcd, GOOD)
    etcd.before_txn = lambda: (setattr(etcd, 'before_txn', None), etcd.put(URL.topology_key, b'x: 1\n'))
    status, message = cli_write(etcd, GOOD2)
    assert status is None and 'changed since you looked' in message and 'nothing was written' in message
    assert TopologyStore(etcd, URL).read().text == 'x: 1\n'


def test_with_no_member_answering_the_client_names_every_endpoint_in_one_line():
    ports = []
    for _ in range(2):                    # free ports, nothing listening
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            ports.append(s.getsockname()[1])
    url = parse_store_url(f'etcd://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/vnet')
    with pytest.raises(StoreUnavailable) as err:
        EtcdClient(url, timeout=0.5).get(url.topology_key)
    message = str(err.value)
    assert '\n' not in message and message.count('connection refused') == 2
    assert all(f'127.0.0.1:{p}' in message for p in ports)


def test_importing_the_client_does_not_print_eventlets_deprecation_warning():
    cp = subprocess.run([sys.executable, '-W', 'always', '-c', 'import controller.store.client'],
                        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert cp.returncode == 0, cp.stderr
    assert 'Eventlet is deprecated' not in cp.stderr
