"""The REST API of a running controller on real Open vSwitch: what it reports
matches the switch, a PUT is applied like a file save, a bad one is refused
with line numbers, and nothing changes without the token."""
import re
import time

import yaml

from lab import REPO_ROOT, sh, wait_for
from lab.api import ApiClient, api_args
from lab.proc import tcp_listening
from tests.integration.dhcp_clients import udhcpc_once
from tests.integration.scenarios import Scenario, gateway, vif, wait_reachable

TOKEN = 'integration-token-7f3a'


def scenario(lab):
    dhcp = gateway('net1', '52:54:00:74:01:fd', '172.16.1.253', services=('dhcp',))
    return Scenario(
        lab, datapaths={'br0': {'dpid': 0xa1}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'vm1': vif(lab, 'net1', '52:54:00:00:0a:01', '172.16.1.1', 'br0', 'a1'),
            'vm2': vif(lab, 'net1', '52:54:00:00:0a:02', '172.16.1.2', 'br0', 'a2'),
            'vm3': vif(lab, 'net1', '52:54:00:00:0a:03', '172.16.1.3', 'br0', 'a3'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net1-dhcp': dhcp,
        })


def start(lab, s, hosts=('vm1', 'vm2')):
    """The scenario's bridge and hosts, and a controller with the API on a
    free port and a token file; returns (controller, API client)."""
    from lab import free_tcp_port
    port = free_tcp_port()
    s.write()
    s.make_bridge('br0', port)
    for name in hosts:
        s.make_host(name)
    token_file = lab.write('api-token', TOKEN + '\n')
    args, base = api_args(token_file=token_file)
    ctl = lab.controller(s.path, port=port, extra_args=args)
    api = ApiClient(base, TOKEN)
    api.wait_up()
    s.bridges['br0'].wait_connected()
    wait_for(lambda: (api.get('/v1/datapaths/br0')['last_sync'] or {}).get('ok'),
             timeout=15, what='br0 to be programmed')
    return ctl, api


def test_the_api_reports_what_the_switch_has(lab):
    s = scenario(lab)
    ctl, api = start(lab, s)
    br, vm1 = s.bridges['br0'], s.hosts['vm1']

    dp = api.get('/v1/datapaths/br0')
    assert dp['connected'] and dp['state'] == 'ready' and dp['since'] <= time.time()
    ours = br.dump_flows()
    assert dp['flows'] == len(ours)
    per_table = {}
    for f in ours:
        per_table[str(f['table'])] = per_table.get(str(f['table']), 0) + 1
    assert dp['flows_per_table'] == per_table
    assert {p['name']: p['up'] for p in dp['ports']}[vm1.port] is True
    assert dp['tunnel_port']['needed'] is False

    wait_reachable(vm1, '172.16.1.2')
    assert vm1.ping('172.16.1.2', count=3)
    iface = api.get('/v1/interfaces/vm1')
    assert iface['where'] == f'br0 port {vm1.port}' and iface['ofport'] == br.ofport(vm1.port)
    switch_says = re.search(r'rx pkts=(\d+)', br.ofctl('dump-ports', str(iface['ofport'])))
    assert 4 <= iface['counters']['rx_packets'] <= int(switch_says.group(1))

    sh(['ip', 'link', 'set', vm1.port, 'down'])
    wait_for(lambda: api.get('/v1/interfaces/vm1')['up'] is False, timeout=10,
             what='the API to see the port down')
    absent = api.get('/v1/networks/net1')['interfaces']
    assert {i['name']: i.get('up') for i in absent}['vm3'] is None     # not plugged in

    vm3 = lab.host('vm3', br, s.doc['interfaces']['vm3']['port'], '52:54:00:00:0a:03', None)
    assert udhcpc_once(lab, vm3)['ip'] == '172.16.1.3'
    leases = api.get('/v1/leases')
    assert [(x['mac'], x['ipv4'], x['datapath']) for x in leases] == \
        [('52:54:00:00:0a:03', '172.16.1.3', 'br0')]
    assert abs(leases[0]['at'] - time.time()) < 30

    assert api.request('GET', '/v1/interfaces/nope')[0] == 404
    assert '/v1/status' in api.get('/v1/openapi.json')['paths']

    show = sh([str(REPO_ROOT / '.venv' / 'bin' / 'vnetctl'), 'show', '--api', api.base])
    assert 'datapath br0 (dpid 0xa1) connected since' in show.stdout
    assert f'    port {vm1.port}: vm1 (net1) DOWN' in show.stdout
    assert '    vif vm3 172.16.1.3 52:54:00:00:0a:03: br0 port' in show.stdout
    ctl.assert_running()


def test_a_put_is_applied_like_a_file_save(lab):
    s = scenario(lab)
    ctl, api = start(lab, s)
    before = api.get('/v1/status')['topology']['revision']
    doc = dict(s.doc, interfaces=dict(s.doc['interfaces']))
    doc['interfaces']['vm4'] = vif(lab, 'net1', '52:54:00:00:0a:04', '172.16.1.4', 'br0', 'a4')
    vm4 = lab.host('vm4', s.bridges['br0'], doc['interfaces']['vm4']['port'],
                   '52:54:00:00:0a:04', '172.16.1.4/24')
    assert not vm4.ping('172.16.1.1', count=1, timeout=1)
    text = yaml.safe_dump(doc, sort_keys=False)

    status, body = api.put_topology(text)
    assert status == 200, body
    assert body['revision'] == before + 1
    assert open(s.path).read() == text
    wait_reachable(vm4, '172.16.1.1', timeout=5)
    st = api.get('/v1/status')
    assert st['last_change']['source'] == 'api' and st['last_change']['summary'] == 'interfaces +vm4'
    wait_for(lambda: api.get('/v1/status')['last_change']['applied_seconds'] is not None,
             timeout=5, what='the change to be confirmed')
    assert 0 < api.get('/v1/status')['last_change']['applied_seconds'] < 5
    assert 'vm4' in {i['name'] for i in api.get('/v1/datapaths/br0')['interfaces']}
    ctl.assert_running()


def test_a_refused_put_and_bad_bodies_change_nothing(lab):
    s = scenario(lab)
    ctl, api = start(lab, s)
    vm1 = s.hosts['vm1']
    wait_reachable(vm1, '172.16.1.2')
    before = open(s.path).read()
    revision = api.get('/v1/status')['topology']['revision']
    flows = len(s.bridges['br0'].dump_flows())

    bad = before.replace('ipv4: 172.16.1.2\n', 'ipv4: 172.16.7.2\n')
    line = bad.splitlines().index('    ipv4: 172.16.7.2') + 1
    status, body = api.put_topology(bad)
    assert status == 422
    assert [(p['line'], p['path']) for p in body['problems']] == [(line, 'interfaces.vm2.ipv4')]
    assert body['problems'][0]['text'].startswith(f'{s.path}:{line}: interfaces.vm2.ipv4: ')
    refused = api.get('/v1/status')['last_refused']
    assert refused['source'] == 'api' and refused['problems'][0]['line'] == line

    assert api.put_topology(before + 'x', token='')[0] == 401
    assert api.put_topology(before + 'x', token='wrong')[0] == 401
    assert api.put_topology('datapaths: {br0: [')[0] == 422
    status, body = api.request('PUT', '/v1/topology', b'\x7fELF\x02\x01\x01\x00' * 1000)
    assert status == 422 and 'NUL' in body['problems'][0]['message']
    status, body = api.request('PUT', '/v1/topology', b'# padding\n' * (1 << 20))
    assert status == 413 and 'MiB' in body['error']

    time.sleep(0.5)                       # a watcher that saw a change would have taken it
    assert open(s.path).read() == before
    assert api.get('/v1/status')['topology']['revision'] == revision
    assert len(s.bridges['br0'].dump_flows()) == flows
    assert vm1.ping('172.16.1.2')
    ctl.assert_running()


def test_by_default_the_api_listens_on_localhost_only_and_refuses_writes(lab):
    """A controller in a namespace of its own, with no API options at all."""
    ns = f'{lab.prefix}-apidef'
    lab.track_netns(ns)
    sh(['ip', 'netns', 'add', ns])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
    ctl = lab.controller(scenario(lab).write(), netns=ns)
    wait_for(lambda: tcp_listening(9090, ns), timeout=15, what='the API on port 9090')
    listening = sh(['ip', 'netns', 'exec', ns, 'ss', '-ltnH', 'sport', '= :9090']).stdout
    assert [line.split()[3] for line in listening.splitlines()] == ['127.0.0.1:9090']
    put = sh(['ip', 'netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
              '-X', 'PUT', '--data-binary', 'datapaths: {}', 'http://127.0.0.1:9090/v1/topology'])
    assert put.stdout == '403'
    ctl.assert_running()
