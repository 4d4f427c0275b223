"""Topologies + lab hosts built together, so port names and MACs agree."""
import yaml

from lab import free_tcp_port, wait_for


class Scenario:
    """A topology file written into the lab, with hosts for its vif interfaces."""

    def __init__(self, lab, datapaths, networks, interfaces, route_links=None):
        self.lab = lab
        self.doc = {'datapaths': datapaths, 'networks': networks,
                    'interfaces': interfaces}
        if route_links:
            self.doc['route_links'] = route_links
        self.bridges, self.hosts = {}, {}

    def write(self, name='topology.yml'):
        self.path = self.lab.write(name, yaml.safe_dump(self.doc, sort_keys=False))
        return self.path

    def start(self, hosts=(), gateways=None):
        """Write the file, make every datapath's bridge and the named hosts
        (with default routes from `gateways`), start the controller, wait
        for the bridges to connect.  Returns the controller."""
        port = free_tcp_port()
        self.write()
        for dp_name in self.doc['datapaths']:
            self.make_bridge(dp_name, port)
        for name in hosts:
            self.make_host(name, gateway=(gateways or {}).get(name))
        ctl = self.lab.controller(self.path, port=port)
        for bridge in self.bridges.values():
            bridge.wait_connected()
        return ctl

    def make_bridge(self, dp_name, controller_port):
        dpid = self.doc['datapaths'][dp_name]['dpid']
        self.bridges[dp_name] = self.lab.bridge(dp_name, dpid=dpid, controller_port=controller_port)
        return self.bridges[dp_name]

    def make_host(self, iface_name, gateway=None):
        iface = self.doc['interfaces'][iface_name]
        prefix = self.doc['networks'][iface['network']]['ipv4'].split('/')[1]
        host = self.lab.host(iface_name, self.bridges[iface['datapath']], iface['port'],
                             iface['mac'], f"{iface['ipv4']}/{prefix}", gateway=gateway)
        self.hosts[iface_name] = host
        return host


def vif(lab, network, mac, ip, datapath, port):
    return {'network': network, 'mac': mac, 'ipv4': ip, 'datapath': datapath,
            'port': lab.ifname(port)}


def gateway(network, mac, ip, services=('router',)):
    return {'network': network, 'mode': 'simulated', 'mac': mac, 'ipv4': ip,
            'services': list(services)}


def overlapping_networks(lab):
    """Seed 003's isolation case: net1 and net3 both 172.16.1.0/24 on one bridge."""
    return Scenario(
        lab,
        datapaths={'br0': {'dpid': 0x1}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net3': {'ipv4': '172.16.1.0/24'}},
        interfaces={
            'vm1': vif(lab, 'net1', '52:54:00:0d:84:01', '172.16.1.1', 'br0', 'p1'),
            'vm2': vif(lab, 'net1', '52:54:00:0d:84:02', '172.16.1.2', 'br0', 'p2'),
            'vm3': vif(lab, 'net3', '52:54:00:0d:84:03', '172.16.1.1', 'br0', 'p3'),
            'vm4': vif(lab, 'net3', '52:54:00:0d:84:04', '172.16.1.2', 'br0', 'p4'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net3-gw': gateway('net3', '52:54:00:74:03:fe', '172.16.1.254'),
        })


def wait_reachable(host, ip, timeout=10):
    wait_for(lambda: host.ping(ip, count=1, timeout=1), timeout=timeout,
             what=f'{host} to reach {ip}')
