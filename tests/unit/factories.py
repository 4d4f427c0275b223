"""Topologies built directly from the model, for tests of the pure layers."""
import ipaddress

from controller.topology import (Datapath, Interface, Network, Topology, SIMULATED, VIF)


def net(name, cidr, vni):
    return Network(name=name, ipv4=ipaddress.IPv4Network(cidr), vni=vni)


def vif(name, network, mac, ip, datapath='br0', port=None):
    return Interface(name=name, network=network, mac=mac, ipv4=ipaddress.IPv4Address(ip),
                     mode=VIF, datapath=datapath, port=port or f'p-{name}')


def sim(name, network, mac, ip, services=('router',)):
    return Interface(name=name, network=network, mac=mac, ipv4=ipaddress.IPv4Address(ip),
                     mode=SIMULATED, services=tuple(services))


def topology(networks, interfaces, datapaths=(('br0', 1),)):
    return Topology(source='test.yml',
                    datapaths={n: Datapath(n, d) for n, d in datapaths},
                    networks={n.name: n for n in networks},
                    interfaces={i.name: i for i in interfaces})


def overlapping():
    """Two networks with the same prefix, two vifs and a gateway each (seed 003)."""
    return topology(
        [net('net1', '172.16.1.0/24', 101), net('net3', '172.16.1.0/24', 103)],
        [vif('vm1', 'net1', '52:54:00:00:00:01', '172.16.1.1'),
         vif('vm2', 'net1', '52:54:00:00:00:02', '172.16.1.2'),
         vif('vm3', 'net3', '52:54:00:00:00:03', '172.16.1.1'),
         vif('vm4', 'net3', '52:54:00:00:00:04', '172.16.1.2'),
         sim('gw1', 'net1', '52:54:00:00:01:fe', '172.16.1.254'),
         sim('gw3', 'net3', '52:54:00:00:03:fe', '172.16.1.254')])


ALL_PORTS = {'p-vm1': 1, 'p-vm2': 2, 'p-vm3': 3, 'p-vm4': 4}
