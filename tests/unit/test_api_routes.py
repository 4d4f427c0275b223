"""The REST API without a switch: routes against the OpenAPI document, access
rules, bad bodies, the PUT path, and the read-only view of app state."""
import logging
import re
import threading
import time
from types import SimpleNamespace

import pytest
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller import options
from controller.api import History, PortStats, openapi, server, view
from controller.api.topology_put import TopologyWriter, write_atomically
from controller.openflow.reconcile import Installed
from controller.openflow.session import State, SyncRecord
from controller.services import build_registry
from controller.topology import validate_text

TOPOLOGY = """\
datapaths:
  br0: {dpid: 0x1, tunnel_ip: 198.18.0.1}
  br1: {dpid: 0x2, tunnel_ip: 198.18.0.2}
networks:
  net1: {ipv4: 172.16.1.0/24}
  net2: {ipv4: 172.16.2.0/24}
interfaces:
  vm1: {network: net1, mac: '52:54:00:00:00:01', ipv4: 172.16.1.1, datapath: br0, port: p1}
  vm2: {network: net1, mac: '52:54:00:00:00:02', ipv4: 172.16.1.2, datapath: br1, port: p2}
  vm3: {network: net2, mac: '52:54:00:00:00:03', ipv4: 172.16.2.3, datapath: br0, port: p3}
  gw1: {network: net1, mode: simulated, mac: '52:54:00:00:01:fe', ipv4: 172.16.1.254,
        services: [router]}
  gw2: {network: net2, mode: simulated, mac: '52:54:00:00:02:fe', ipv4: 172.16.2.254,
        services: [router]}
route_links:
  rl1:
    routes: [{interface: gw1}, {interface: gw2}]
"""
TOKEN = 's3cret-token'


class Port(SimpleNamespace):
    pass


def fake_session(name, dpid, ports, flows):
    dp = SimpleNamespace(id=dpid, ports={no: Port(port_no=no, name=n.encode(), config=0,
                                                   state=state, hw_addr='aa:bb:cc:00:00:%02x' % no)
                                         for no, (n, state) in ports.items()},
                         ofproto_parser=parser)
    installed = Installed()
    for cookie, (table, prio) in enumerate(flows, 1):
        installed.add_flow(cookie, (table, prio, ((f'f{cookie}', cookie),)))
    return SimpleNamespace(name=name, dp=dp, dpid=dpid, state=State.READY, since=1000.0,
                           installed=installed, tunnel_port_missing=False,
                           last_sync=SyncRecord('connected', 1000.5, 0.004, 3, True, 5.0))


@pytest.fixture
def state(tmp_path):
    path = tmp_path / 'topology.yml'
    path.write_text(TOPOLOGY)
    app = SimpleNamespace(topology=validate_text(TOPOLOGY, str(path)), topology_path=str(path),
                          strangers={0x99: object()}, retiring={}, history=History(),
                          services=build_registry(logging.getLogger('test')),
                          port_stats=PortStats())
    app.sessions = {1: fake_session('br0', 1, {1: ('p1', 0), 3: ('p3', 1), 7: ('vxlan0', 0)},
                                    [(0, 10), (0, 20), (40, 5)])}
    app.history.applied('started', 'd0', 'start', None, time.monotonic())
    return app


def client(state, token_file=None, wait=0.0):
    writer = TopologyWriter(state.topology_path, state.history)
    writer_put = writer.put
    writer.put = lambda raw: writer_put(raw, wait=wait)   # no app here to apply it
    return server.create_app(state, token_file, writer).test_client()


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / 'token'
    path.write_text(TOKEN + '\n')
    return str(path)


# -- the OpenAPI document -------------------------------------------------------

def test_every_route_is_in_the_openapi_document_and_every_documented_route_exists(state):
    web = server.create_app(state)
    routes = {(re.sub(r'<(\w+)>', r'{\1}', rule.rule), method.lower())
              for rule in web.url_map.iter_rules() if rule.endpoint != 'static'
              for method in rule.methods - {'HEAD', 'OPTIONS'}}
    documented = {(path, method) for path, ops in openapi.document('x')['paths'].items()
                  for method in ops}
    assert routes == documented


def test_the_openapi_document_is_served_and_names_its_version(state):
    doc = client(state).get('/v1/openapi.json').get_json()
    assert doc['openapi'].startswith('3.') and doc['info']['version'] == view.version()
    assert doc['paths']['/v1/topology']['put']['responses']['422']


# -- access --------------------------------------------------------------------

def test_a_write_is_refused_with_403_when_the_controller_has_no_token(state):
    r = client(state).put('/v1/topology', data=TOPOLOGY)
    assert r.status_code == 403 and '--api-token-file' in r.get_json()['error']


def test_a_write_without_the_token_or_with_a_wrong_one_gets_401(state, token_file):
    c = client(state, token_file)
    assert c.put('/v1/topology', data=TOPOLOGY).status_code == 401
    r = c.put('/v1/topology', data=TOPOLOGY, headers={'Authorization': 'Bearer nope'})
    assert r.status_code == 401 and r.headers['WWW-Authenticate'].startswith('Bearer')
    r = c.put('/v1/topology', data=TOPOLOGY, headers={'Authorization': f'Basic {TOKEN}'})
    assert r.status_code == 401


def test_an_empty_token_file_refuses_writes_like_a_missing_one(state, tmp_path):
    empty = tmp_path / 'empty'
    empty.write_text('\n')
    r = client(state, str(empty)).put('/v1/topology', data=TOPOLOGY,
                                      headers={'Authorization': 'Bearer '})
    assert r.status_code == 403 and 'empty' in r.get_json()['error']


def test_reads_are_open_on_loopback_and_need_the_token_from_elsewhere(state, token_file):
    c = client(state, token_file)
    assert c.get('/v1/status').status_code == 200
    far = {'REMOTE_ADDR': '192.0.2.7'}
    assert c.get('/v1/status', environ_base=far).status_code == 401
    assert c.get('/v1/status', environ_base=far,
                 headers={'Authorization': f'Bearer {TOKEN}'}).status_code == 200
    assert client(state).get('/v1/status', environ_base=far).status_code == 403
    assert client(state).get('/v1/status', environ_base={'REMOTE_ADDR': '::1'}).status_code == 200


def test_metrics_follow_the_same_read_rule(state, token_file):
    def metrics(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'vnet_up 1\n']
    wsgi = server.with_metrics(server.create_app(state, token_file), metrics, token_file)
    from werkzeug.test import Client
    c = Client(wsgi)
    assert c.get('/metrics', environ_base={'REMOTE_ADDR': '127.0.0.1'}).get_data() == b'vnet_up 1\n'
    assert c.get('/metrics', environ_base={'REMOTE_ADDR': '192.0.2.7'}).status_code == 401
    assert c.get('/metrics', environ_base={'REMOTE_ADDR': '192.0.2.7'},
                 headers={'Authorization': f'Bearer {TOKEN}'}).status_code == 200
    assert c.get('/v1/status', environ_base={'REMOTE_ADDR': '127.0.0.1'}).status_code == 200


# -- bad bodies ------------------------------------------------------------------

AUTH = {'Authorization': f'Bearer {TOKEN}'}


def test_a_refused_topology_gets_422_with_file_line_and_key_and_nothing_changes(state, token_file):
    before = open(state.topology_path).read()
    bad = TOPOLOGY.replace('ipv4: 172.16.1.2,', 'ipv4: 172.16.9.2,')
    r = client(state, token_file).put('/v1/topology', data=bad, headers=AUTH)
    assert r.status_code == 422
    problems = r.get_json()['problems']
    assert [(p['line'], p['path']) for p in problems] == [(9, 'interfaces.vm2.ipv4')]
    assert problems[0]['text'].startswith(f'{state.topology_path}:9: interfaces.vm2.ipv4: ')
    assert open(state.topology_path).read() == before
    refused = state.history.snapshot()['refused']
    assert refused['source'] == 'api' and refused['problems'][0]['line'] == 9


@pytest.mark.parametrize('body, words', [
    (b'datapaths: {br0: [unclosed', 'invalid YAML'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR', 'NUL'),
    (b'datapaths:\n  br0: {dpid: 1}\n\xff\xfe', 'not UTF-8'),
    (b'', 'empty'),
])
def test_malformed_yaml_binary_and_empty_bodies_get_a_clear_422(state, token_file, body, words):
    before = open(state.topology_path).read()
    r = client(state, token_file).put('/v1/topology', data=body, headers=AUTH)
    assert r.status_code == 422, r.get_json()
    assert words in ' '.join(p['text'] for p in r.get_json()['problems'])
    assert open(state.topology_path).read() == before


def test_a_10_mb_body_gets_413_and_nothing_changes(state, token_file):
    before = open(state.topology_path).read()
    r = client(state, token_file).put('/v1/topology', data=b'#' * (10 << 20), headers=AUTH)
    assert r.status_code == 413 and 'MiB' in r.get_json()['error']
    assert open(state.topology_path).read() == before


# -- the write path ------------------------------------------------------------------

def test_a_valid_put_replaces_the_file_atomically_and_reports_the_apply(state, token_file):
    new = TOPOLOGY.replace("vm3: {network: net2, mac: '52:54:00:00:00:03'",
                           "vm9: {network: net2, mac: '52:54:00:00:00:09'")
    digest = __import__('hashlib').sha256(new.encode()).hexdigest()

    def the_app_applies_it():           # what the app does when its watcher sees the file
        time.sleep(0.2)
        state.history.applied('interfaces +vm9 -vm3', digest, 'file', ['br0'], time.monotonic())
    threading.Thread(target=the_app_applies_it).start()
    r = client(state, token_file, wait=5).put('/v1/topology', data=new, headers=AUTH)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()['revision'] == 2
    assert open(state.topology_path).read() == new
    assert state.history.snapshot()['changes'][-1]['source'] == 'api'
    again = client(state, token_file).put('/v1/topology', data=new, headers=AUTH)
    assert again.status_code == 200 and again.get_json()['changed'] is False


def test_a_put_that_is_not_applied_in_time_gets_202(state, token_file):
    new = TOPOLOGY + '# a comment\n'
    r = client(state, token_file, wait=0.1).put('/v1/topology', data=new, headers=AUTH)
    assert r.status_code == 202 and 'not applied' in r.get_json()['message']


def test_an_atomic_write_keeps_the_mode_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 't.yml'
    path.write_text('old')
    path.chmod(0o640)
    write_atomically(str(path), b'new')
    assert path.read_text() == 'new' and path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ['t.yml']


# -- the view -------------------------------------------------------------------------

def test_status_tells_version_source_revision_and_the_last_refused_edit(state):
    from controller.topology import Problem
    state.history.refused([Problem('t.yml', 3, 'networks.net1.ipv4', 'bad')], 'd1', 'file')
    s = client(state).get('/v1/status').get_json()
    assert s['version'] == view.version()
    assert s['topology']['source'] == state.topology_path and s['topology']['revision'] == 1
    assert s['datapaths'] == {'connected': 1, 'total': 2}
    assert s['unknown_datapaths'] == ['0x99']
    assert s['last_refused']['problems'][0]['text'] == 't.yml:3: networks.net1.ipv4: bad'


def test_a_change_counts_as_applied_once_every_touched_datapath_confirmed_it(state):
    started = time.monotonic()
    state.history.applied('interfaces ~vm1', 'd2', 'file', ['br0', 'br1'], started)
    assert view.status(state)['last_change']['pending'] == ['br0']   # br1 is not connected
    state.sessions[1].last_sync = SyncRecord('topology change', time.time(), 0.25, 4, True,
                                             started + 0.5)
    last = view.status(state)['last_change']
    assert last['pending'] == [] and last['applied_seconds'] == pytest.approx(0.75)


def test_datapaths_say_connected_or_not_flows_per_table_and_the_tunnel_port(state):
    dps = {d['name']: d for d in client(state).get('/v1/datapaths').get_json()}
    assert dps['br0']['connected'] and not dps['br1']['connected']
    assert dps['br0']['flows_per_table'] == {'0': 2, '40': 1} and dps['br0']['flows'] == 3
    assert dps['br0']['tunnel_port'] == {'name': 'vxlan0', 'needed': True, 'found': True}
    assert dps['br0']['tunnels'] == [{'peer': 'br1', 'remote_ip': '198.18.0.2',
                                      'networks': ['net1']}]
    assert dps['br1']['state'] == 'disconnected' and dps['br1']['flows'] is None
    one = client(state).get('/v1/datapaths/br0').get_json()
    assert {p['name']: p['up'] for p in one['ports']} == {'p1': True, 'p3': False, 'vxlan0': True}
    assert client(state).get('/v1/datapaths/nope').status_code == 404


def test_networks_list_their_interfaces_where_they_are_and_their_route_links(state):
    nets = {n['name']: n for n in client(state).get('/v1/networks').get_json()}
    assert nets['net1']['route_links'] == ['rl1'] and nets['net1']['routed_to'] == ['net2']
    where = {i['name']: (i['where'], i.get('up')) for i in nets['net1']['interfaces']}
    assert where['vm1'] == ('br0 port p1', True)
    assert where['vm2'] == ('br1 port p2 (datapath not connected)', None)
    assert client(state).get('/v1/networks/net9').status_code == 404


def test_an_interface_has_its_port_counters_from_the_switch(state):
    def answer(msg):                     # the switch answers on the app's thread
        reply = SimpleNamespace(xid=msg.xid, body=[SimpleNamespace(
            rx_packets=5, tx_packets=6, rx_bytes=500, tx_bytes=600, rx_dropped=0, tx_dropped=1,
            rx_errors=0, tx_errors=0, duration_sec=9)])
        threading.Timer(0.05, state.port_stats.on_reply, [reply]).start()
    state.sessions[1].dp.send_msg = answer
    vm1 = client(state).get('/v1/interfaces/vm1').get_json()
    assert vm1['ofport'] == 1 and vm1['up'] is True
    assert vm1['counters']['rx_packets'] == 5 and vm1['counters']['tx_dropped'] == 1
    vm3 = client(state).get('/v1/interfaces/vm2').get_json()
    assert vm3['counters'] is None and vm3['datapath_connected'] is False


def test_port_stats_time_out_when_the_switch_does_not_answer(state):
    state.sessions[1].dp.send_msg = lambda msg: None
    assert state.port_stats.ask(state.sessions[1].dp, 1, timeout=0.05) is None


def test_drops_are_503_until_the_app_has_drop_counters(state):
    assert client(state).get('/v1/drops').status_code == 503
    state.drops = SimpleNamespace(snapshot=lambda: [{'datapath': 'br0', 'table': 0,
                                                     'stage': 'classifier', 'reason': 'x',
                                                     'packets': 1, 'bytes': 60}])
    assert client(state).get('/v1/drops').get_json()[0]['packets'] == 1


def test_leases_come_from_the_dhcp_service(state):
    from controller.pipeline.punt import Reason
    dhcp = state.services.handler(Reason.DHCP_REQUEST)
    dhcp.leases[('net1', '52:54:00:00:00:01')] = {'network': 'net1', 'mac': '52:54:00:00:00:01',
                                                  'ipv4': '172.16.1.1', 'datapath': 'br0'}
    assert client(state).get('/v1/leases').get_json()[0]['ipv4'] == '172.16.1.1'


def test_the_status_page_is_one_file_with_no_external_assets(state):
    page = client(state).get('/').get_data(as_text=True)
    assert '<script>' in page and '<style>' in page
    assert not re.search(r'(src|href)=["\']?(https?:)?//', page)


@pytest.mark.parametrize('text, expected', [
    ('127.0.0.1:9090', ('127.0.0.1', 9090)), ('[::1]:0', ('::1', 0)), ('off', None),
    ('OFF', None)])
def test_api_listen_takes_host_port_or_off(text, expected):
    assert options.api_listen(SimpleNamespace(api_listen=text)) == expected


@pytest.mark.parametrize('text', ['9090', 'localhost', ':9090', 'h:99999', 'h:x'])
def test_a_bad_api_listen_says_what_it_expects(text):
    with pytest.raises(ValueError, match='HOST:PORT'):
        options.api_listen(SimpleNamespace(api_listen=text))


# -- vnetctl show ------------------------------------------------------------------------

def test_vnetctl_show_prints_the_tree_and_fails_when_a_datapath_is_not_connected(state):
    import io

    from controller.cli import show
    c = client(state)

    def get(path):
        r = c.get(path)
        return None if r.status_code == 503 else r.get_json()
    out = io.StringIO()
    assert show.render(get, out) == 1               # br1 is not connected
    text = out.getvalue()
    assert f'{state.topology_path} revision 1' in text and '1 of 2 datapaths connected' in text
    assert 'datapath br0 (dpid 0x1) connected since' in text
    assert '    tunnel port vxlan0: found' in text
    assert '    port p1: vm1 (net1) up' in text and '    port p3: vm3 (net2) DOWN' in text
    assert 'datapath br1 (dpid 0x2) NOT CONNECTED' in text
    assert 'network net1 172.16.1.0/24 (virtual, VNI' in text and 'routed to net2 by rl1' in text
    assert '    simulated gw1 172.16.1.254 52:54:00:00:01:fe: router' in text


def test_vnetctl_show_says_when_the_controller_cannot_be_reached():
    import io

    from controller.cli import main
    from lab import free_tcp_port
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        status = main(['show', '--api', f'http://127.0.0.1:{free_tcp_port()}'])
    assert status == 1 and 'cannot reach the controller API' in out.getvalue()


# -- a topology that lives in etcd ---------------------------------------------------------

def test_a_put_to_a_topology_in_etcd_stores_it_in_one_guarded_transaction():
    from controller.store.document import TopologyStore
    from controller.store.url import parse_store_url
    from tests.unit.test_store_documents import FakeEtcd
    where = 'etcd://127.0.0.1:2379/vnet'
    history, etcd = History(), FakeEtcd()
    writer = TopologyWriter(where, history)
    writer.store = TopologyStore(etcd, parse_store_url(where))

    r = writer.put(TOPOLOGY.encode(), wait=0.05)
    assert r.status == 202                       # stored; no controller here to apply it
    assert writer.store.read().text == TOPOLOGY
    assert writer.put(TOPOLOGY.encode(), wait=0.05).body['changed'] is False

    bad = writer.put(TOPOLOGY.replace('dpid: 0x2', 'dpid: 0x1').encode())
    assert bad.status == 422 and bad.body['problems'][0]['text'].startswith(where)

    edited = TOPOLOGY + '# edited\n'
    etcd.before_txn = lambda: etcd.put(writer.store.url.topology_key, b'someone else')
    assert writer.put(edited.encode(), wait=0.05).status == 409
    etcd.before_txn, etcd.down = None, True
    assert writer.put(edited.encode(), wait=0.05).status == 503


def test_the_views_of_a_10000_interface_datapath_stay_linear(state):
    """O(n^2) over ports would take minutes here; linear takes a fraction of a second."""
    from lab.topogen import Spec, topology_text
    state.topology = validate_text(topology_text(Spec(10000)), 'big.yml')
    state.sessions = {1: fake_session('br0', 1, {k + 1: (f'p{k}', 0) for k in range(10000)},
                                      [(0, k) for k in range(20000)])}
    started = time.perf_counter()
    dp = view.datapath(state, 'br0')
    nets = view.networks(state)
    took = time.perf_counter() - started
    assert len(dp['interfaces']) == 10000 and all(i['up'] for i in dp['interfaces'])
    assert sum(len(n['interfaces']) for n in nets) == 10200
    assert took < 5, f'{took:.1f} s'
