"""Security groups on real Open vSwitch (userspace conntrack) with real clients:
curl and nc allowed and refused, established connections across live edits,
a removed rule cutting its connections, and a filter across two hosts."""
import os
import re

import yaml

from controller.pipeline.drops import Drop
from lab import ofctl, sh, wait_for
from tests.integration.multihost import VMS, Weave
from tests.integration.scenarios import vif, wait_reachable
from tests.integration.sglab import APP, CLIENT, WEB, EchoServer, connect, dropped, echoes, scenario


def start(lab):
    s = scenario(lab)
    s.ctl = s.start(('web', 'app', 'client'))
    wait_reachable(s.hosts['client'], WEB)            # ping: the icmp rule
    return s, s.bridges['br0']


def save(s, doc):
    tmp = str(s.path) + '.tmp'
    with open(tmp, 'w') as f:
        f.write(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, s.path)


def nc_connects(host, ip, port):
    return host.run(['nc', '-z', '-w', '1', ip, str(port)], check=False).returncode == 0


def test_curl_and_nc_get_what_the_rules_allow_and_the_rest_is_dropped_and_counted(lab):
    s, br = start(lab)
    web, app, client = s.hosts['web'], s.hosts['app'], s.hosts['client']
    web.popen(['python3', '-m', 'http.server', '80', '--bind', WEB, '--directory', str(lab.tmp)])
    for port in (22, 8080):
        web.popen(['nc', '-lk', WEB, str(port)])
    curl = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', f'http://{WEB}/']
    wait_for(lambda: client.run(curl, check=False).stdout == '200', timeout=10,
             what='curl from client to web:80 (allowed from anywhere)')
    before = dropped(br, Drop.SG_INGRESS_REFUSED)
    assert not nc_connects(client, WEB, 22)                 # no rule for 22
    assert nc_connects(app, WEB, 8080)                      # from_group app, to_group web
    assert not nc_connects(client, WEB, 8080)               # client is in no group
    assert dropped(br, Drop.SG_INGRESS_REFUSED) > before
    # app's egress reaches only web's 8000-8100: its curl to web:80 never leaves
    refused_out = dropped(br, Drop.SG_EGRESS_REFUSED)
    assert app.run(curl, check=False).stdout != '200'
    assert dropped(br, Drop.SG_EGRESS_REFUSED) > refused_out
    # app -> web: one connection, app's egress rule in ct_mark, web's ingress rule in ct_label
    conns = sh(['ovs-appctl', 'dpctl/dump-conntrack']).stdout
    assert re.search(rf'orig=\(src={APP},dst={WEB},sport=\d+,dport=8080\).*mark=\d+.*labels=0x[0-9a-f]+',
                     conns), conns
    # the switch shows the conntrack flows as they were meant (ovs-ofctl's spelling)
    rules = ofctl(br, 'dump-flows', 'table=45')
    assert 'ct_state=-rpl-inv+trk' in rules and 'ct_state=+est-rpl+trk' in rules
    assert re.search(r'actions=ct\(commit,zone=\d+,exec\(set_field:0x[0-9a-f]+->ct_label\)\),output:', rules)
    assert re.search(r'actions=ct\(table=45,zone=\d+\)', ofctl(br, 'dump-flows', 'table=44'))
    assert re.search(r'actions=ct\(commit,zone=\d+\),goto_table:20', ofctl(br, 'dump-flows', 'table=12'))
    # web's egress is all: it reaches the client (no group, no filter) and the reply comes back
    client.popen(['nc', '-lk', CLIENT, '9999'])
    wait_for(lambda: nc_connects(web, CLIENT, 9999), timeout=5, what='web -> client:9999')
    # app has no ingress rule: nothing reaches it, though app itself reaches out
    app.popen(['nc', '-lk', APP, '9999'])
    assert not nc_connects(client, APP, 9999)
    assert not client.ping(APP, count=1, timeout=1)
    # conntrack matches and actions read back as we made them: a restart changes nothing
    s.ctl.stop()
    s.ctl.start()
    wait_for(lambda: 'connected: already in sync' in s.ctl.log_text().split('### netlab')[-1],
             timeout=10, what='the restarted controller to find the switch in sync')


def test_an_established_connection_survives_an_unrelated_edit_and_dies_with_its_rule(lab):
    s, br = start(lab)
    server = EchoServer(s.hosts['web'].ns, WEB, 80)
    try:
        sock = connect(s.hosts['client'].ns, WEB, 80)
        assert sock is not None and echoes(sock)
        # unrelated: a new interface and a new rule in another group
        doc = s.doc
        doc['interfaces']['other'] = vif(lab, 'net1', '52:54:00:14:00:09', '172.16.1.9', 'br0', 'so')
        doc['security_groups']['app']['ingress'] = [{'proto': 'udp', 'ports': 53}]
        save(s, doc)
        wait_for(lambda: 'tp_dst=53' in ofctl(br, 'dump-flows', 'table=45'), timeout=5,
                 what='the unrelated edit on the bridge', state=lambda: s.ctl.log_tail(15))
        assert echoes(sock), 'the established connection broke on an unrelated edit'
        # the rule that allowed it goes: the connection is cut, and so are new ones
        doc['security_groups']['web']['ingress'] = doc['security_groups']['web']['ingress'][1:]
        save(s, doc)
        wait_for(lambda: 'tp_dst=80' not in ofctl(br, 'dump-flows', 'table=45'), timeout=5,
                 what='the removed rule off the bridge')
        assert not echoes(sock), 'a connection whose rule was removed still works'
        assert connect(s.hosts['client'].ns, WEB, 80, timeout=1) is None
        sock.close()
    finally:
        server.close()


class TwoHosts(Weave):
    """red1 on h1 (no group) and red3 on h3 (group web, behind the underlay router)."""

    def topology(self):
        doc = super().topology()
        doc['security_groups'] = {'web': {'ingress': [{'proto': 'tcp', 'ports': 8000,
                                                       'from': '10.44.1.0/24'}]}}
        doc['interfaces']['red3']['security_groups'] = ['web']
        return doc


def test_a_group_filters_traffic_from_another_host_through_the_tunnel(lab):
    w = TwoHosts(lab, [VMS['red1'], VMS['red3']]).start()
    try:
        red1, red3 = w.vm['red1'], w.vm['red3']
        for port in (8000, 22):
            red3.popen(['nc', '-lk', VMS['red3'].ip, str(port)])
        wait_for(lambda: nc_connects(red1, VMS['red3'].ip, 8000), timeout=10,
                 what='red1 (h1) -> red3 (h3) port 8000, allowed')
        assert not nc_connects(red1, VMS['red3'].ip, 22)
        assert not red1.ping(VMS['red3'].ip, count=1, timeout=1)     # no icmp rule
        assert red3.ping(VMS['red1'].ip, count=1, timeout=2)          # egress all; the reply passes
    finally:
        w.close()
