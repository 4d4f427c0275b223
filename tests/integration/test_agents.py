"""An agent per emulated host, all reading one topology from etcd: each programs
only its own switch, an edit applied with vnetctl reaches every one, and one
agent's death or restart touches no packet (lab/agents.py, lab/hosts.py)."""
import subprocess

import pytest

from controller.pipeline.service_port import SERVICE_RETURN_PRIORITY
from lab import free_tcp_port, wait_for
from lab.agents import etcd_for, start_agent
from lab.hosts import MultiHost
from tests.integration.multihost import flows
from tests.integration.storelab import applied_revision, apply, wait_logged
from tests.integration.test_live_edits import ping_result

HOSTS = {'h1': 0x201, 'h2': 0x202, 'h3': 0x203}
VMS = {'red1': ('h1', 1), 'red2': ('h2', 2), 'red3': ('h3', 3), 'red4': ('h3', 4)}


def mac(n):
    return f'52:54:00:45:01:{n:02x}'


class Agents:
    """h1-h3, one agent each, red1-red3 in the stored topology; red4 plugged on h3
    but in the topology only after an edit."""

    def __init__(self, lab):
        self.lab, self.port = lab, free_tcp_port()
        self.mh = MultiHost(lab, controller_port=self.port, local_agents=True)
        self.h = {n: self.mh.host(n, dpid=d) for n, d in HOSTS.items()}
        self.vm = {n: self.h[h].vm(n, port=f'{n}-p', mac=mac(i), cidr=f'10.45.1.{i}/24')
                   for n, (h, i) in VMS.items()}
        self.mh.prime_tunnels()
        self.url = etcd_for(self.mh).store_url('vnet')
        self.doc = self.topology(['red1', 'red2', 'red3'])
        apply(lab, self.url, self.doc)
        self.agent = {n: start_agent(lab, h, self.url, self.port) for n, h in self.h.items()}
        for n in self.h:
            wait_logged(self.agent[n], ': connected: applied', timeout=20)

    def topology(self, vms):
        return {
            'datapaths': {n: {'dpid': h.dpid, 'tunnel_ip': h.tunnel_ip} for n, h in self.h.items()},
            'networks': {'red': {'ipv4': '10.45.1.0/24', 'vni': 4501}},
            'interfaces': {n: {'network': 'red', 'mac': mac(VMS[n][1]), 'ipv4': f'10.45.1.{VMS[n][1]}',
                               'datapath': VMS[n][0], 'port': f'{n}-p'} for n in vms}}

    def reaches(self, src, dst):
        ip = f'10.45.1.{VMS[dst][1]}'
        return self.vm[src].run(f'ip neigh flush to {ip}; ping -c 1 -W 0.5 {ip}',
                                check=False).returncode == 0

    def steady_ping(self, src, dst, seconds):
        return self.vm[src].popen(['ping', '-i', '0.05', '-w', str(seconds), '-W', '1',
                                   f'10.45.1.{VMS[dst][1]}'], stdout=subprocess.PIPE)


@pytest.fixture
def agents(lab, request):
    a = Agents(lab)
    request.node._vnet_controllers = list(a.agent.values())
    yield a
    a.mh.close()


def test_each_host_runs_its_own_agent_and_an_applied_edit_reaches_all_of_them(agents):
    for name, agent in agents.agent.items():
        log = agent.log_text()
        connected = {other for other in HOSTS if f'{other} (dpid' in log}
        assert connected == {name}, f'agent {name} programmed {connected}'
    assert agents.reaches('red1', 'red3') and agents.reaches('red2', 'red1')
    assert not agents.reaches('red1', 'red4')

    edit = agents.topology(['red1', 'red2', 'red3', 'red4'])
    rev = applied_revision(apply(agents.lab, agents.url, edit))
    for agent in agents.agent.values():
        wait_logged(agent, f'/vnet/topology@{rev} changed: interfaces +red4')
    wait_for(lambda: agents.reaches('red1', 'red4') and agents.reaches('red2', 'red4'),
             timeout=5, interval=0.1, what='red1 (h1) and red2 (h2) to reach red4 on h3')


def test_killing_one_hosts_agent_affects_no_other_host_and_its_restart_loses_no_packets(agents):
    h1 = agents.h['h1']
    before = {(f['cookie'], f['table'], f['match'], f['actions']) for f in flows(h1)}
    across = agents.steady_ping('red2', 'red3', 6)       # h2 <-> h3: other agents
    through = agents.steady_ping('red1', 'red2', 6)      # h1's switch, its agent dies
    agents.agent['h1'].proc.kill()
    agents.agent['h1'].proc.wait(timeout=10)
    wait_for(lambda: agents.reaches('red3', 'red2'), timeout=3, what='h2-h3 during the outage')

    again = start_agent(agents.lab, h1, agents.url, agents.port, run=2)
    # read back and compared: nothing to send (no flow-mod, no bundle)
    wait_logged(again, 'h1 (dpid 0x201): connected: already in sync', timeout=20)
    for name, (rc_sent, rc_answered, out) in {'red2->red3': ping_result(across),
                                              'red1->red2': ping_result(through)}.items():
        assert rc_sent >= 80 and rc_answered == rc_sent, f'{name}: {out}'
    after = {(f['cookie'], f['table'], f['match'], f['actions']) for f in flows(h1)}
    assert after == before
    for other in ('h2', 'h3'):
        assert 'disconnected' not in agents.agent[other].log_text()


def test_each_agent_answers_dns_on_its_own_hosts_service_port(agents):
    doc = agents.topology(['red1', 'red2', 'red3'])
    doc['networks']['red']['domain_name'] = 'red.internal'
    doc['interfaces']['dns'] = {'network': 'red', 'mode': 'simulated', 'mac': '52:54:00:45:01:35',
                                'ipv4': '10.45.1.53', 'services': ['dns']}
    rev = applied_revision(apply(agents.lab, agents.url, doc))
    for name, agent in agents.agent.items():
        wait_logged(agent, f'/vnet/topology@{rev} changed')
        assert 'answering DHCP and DNS on service port br-int-svc' in agent.log_text(), name
    for vm, other in (('red1', 'red3'), ('red2', 'red1'), ('red3', 'red2')):
        out = agents.vm[vm].run(f'dig +short +time=2 +tries=2 @10.45.1.53 {other}.red.internal').stdout
        assert out.split() == [f'10.45.1.{VMS[other][1]}'], f'{vm} asked for {other}: {out!r}'
    for name, h in agents.h.items():
        # each host's query went to its own service port, and its answer left by
        # the vif's own device there (none came back in through the return flow)
        punted = sum(f['n_packets'] for f in flows(h) if 'tp_dst=53' in f['match'] and 'output:' in f['actions'])
        returned = [f for f in flows(h) if f['table'] == 0 and f.get('priority') == SERVICE_RETURN_PRIORITY]
        assert punted >= 1, (name, 'no query reached the service port')
        assert len(returned) == 1 and returned[0]['n_packets'] == 0, (name, returned)
