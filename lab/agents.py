"""An agent per emulated host: the controller, reading its topology from
etcd, inside each host's namespace, its OVS connected to 127.0.0.1 there.

    hosts = MultiHost(lab, controller_port=P, local_agents=True)
    h1 = hosts.host('h1', dpid=0x101)
    etcd = etcd_for(hosts)                       # on the management network
    agent = start_agent(lab, h1, etcd.store_url('vnet'), P)

The agents reach etcd over the management network (the hosts cannot reach
the root namespace's 127.0.0.1), and each keeps its local copy of the last
good document in the lab's temporary directory.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lab.controller import Controller
from lab.etcd import EtcdCluster

if TYPE_CHECKING:
    from lab.core import Lab
    from lab.hosts import EmulatedHost, MultiHost


def agent_args(lab: Lab, name: str) -> list[str]:
    """An agent's extra arguments: its own local copy, no API, and no election
    (each agent is the only controller of its own switch)."""
    return ['--topology-cache', str(lab.path(f'cache-{name}')), '--api-listen', 'off',
            '--election', 'off']


def etcd_for(hosts: MultiHost, size: int = 1) -> EtcdCluster:
    """etcd members on the management address, which every host reaches."""
    return EtcdCluster(hosts.lab, size=size, ip=hosts.controller_ip).start()


def start_agent(lab: Lab, host: EmulatedHost, url: str, port: int, wait: bool = True,
                run: int = 1) -> Controller:
    """The agent of ``host`` on 127.0.0.1:``port`` in its namespace; its log is
    ``<lab tmp>/agent-<host>-<run>.log``."""
    return lab.controller(url, port=port, netns=host.ns, wait=wait,
                          extra_args=agent_args(lab, host.name),
                          log_path=lab.path(f'agent-{host.name}-{run}.log'))
