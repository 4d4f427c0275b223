"""Topologies built directly from the model, for tests of the pure layers."""
import ipaddress

from controller.topology import SIMULATED, VIF, Datapath, Interface, Network, Topology


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


def routed():
    """Seed 003's router case plus seed 000's physical LAN, on one bridge.

    net1 172.16.1.0/24 and net2 172.16.2.0/24 joined by rl1 through .254
    gateways; net3 repeats net1's prefix and is on no link; lan 10.0.10.0/24
    is physical (host port 'up0'), joined to net2 by rl2, with a default
    route to 10.0.10.254 on the LAN.
    """
    import ipaddress as ip

    from controller.topology import HOST, PHYSICAL, Interface, Route, RouteLink
    lan = Network(name='lan', ipv4=ip.IPv4Network('10.0.10.0/24'), vni=110, mode=PHYSICAL)
    ifaces = [
        vif('a1', 'net1', '52:54:00:00:01:01', '172.16.1.1', port='pa1'),
        vif('b1', 'net2', '52:54:00:00:02:01', '172.16.2.1', port='pb1'),
        vif('c1', 'net3', '52:54:00:00:03:01', '172.16.1.1', port='pc1'),
        Interface(name='uplink', network='lan', mac='52:54:00:00:10:01', mode=HOST,
                  ipv4=ip.IPv4Address('10.0.10.11'), datapath='br0', port='up0'),
        sim('gw1', 'net1', '52:54:00:00:01:fe', '172.16.1.254'),
        sim('gw2', 'net2', '52:54:00:00:02:fe', '172.16.2.254'),
        sim('gw2b', 'net2', '52:54:00:00:02:fd', '172.16.2.253'),
        sim('gw3', 'net3', '52:54:00:00:03:fe', '172.16.1.254'),
        sim('lan-gw', 'lan', '52:54:00:00:10:fe', '10.0.10.1'),
    ]
    links = {
        'rl1': RouteLink('rl1', (Route('gw1', ip.IPv4Network('172.16.1.0/24')),
                                 Route('gw2', ip.IPv4Network('172.16.2.0/24')))),
        'rl2': RouteLink('rl2', (Route('gw2b', ip.IPv4Network('172.16.2.0/24')),
                                 Route('lan-gw', ip.IPv4Network('0.0.0.0/0'),
                                       ip.IPv4Address('10.0.10.254')))),
    }
    t = topology([net('net1', '172.16.1.0/24', 101), net('net2', '172.16.2.0/24', 102),
                  net('net3', '172.16.1.0/24', 103), lan], ifaces)
    return Topology(source=t.source, datapaths=t.datapaths, networks=t.networks,
                    interfaces=t.interfaces, route_links=links)


ROUTED_PORTS = {'pa1': 1, 'pb1': 2, 'pc1': 3, 'up0': 4}
