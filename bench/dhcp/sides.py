"""Building both sides of bench/dhcp in one lab: the clients' veths (all
client ends in one namespace), our bridge with the controller and a generated
topology, and the NORMAL bridge with dnsmasq serving the same leases."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from bench.common import SetupError
from bench.dhcp.loadgen import LoadGenerator
from bench.dhcp.rawsock import raw_sockets
from controller.topology import load_topology
from lab import Bridge, Controller, Lab, free_tcp_port, sh, wait_for

NETWORK = '10.77.0.0/16'
PREFIXLEN = 16
SERVER_IP = '10.77.255.253'
ROUTER_IP = '10.77.255.254'
SERVER_MAC = '52:54:00:bd:ff:fd'
ROUTER_MAC = '52:54:00:bd:ff:fe'
DNS_SERVERS = ['10.77.255.253', '192.0.2.53']
DOMAIN = 'bench.internal'
LEASE = 3600
DPID = 0xbd
MAX_CLIENTS = 4000
SIDES = ('ours', 'dnsmasq')
LETTER = {'ours': 'o', 'dnsmasq': 'd'}     # of the side's port names


def client_mac(i: int) -> str:
    return f'52:54:00:bd:{i >> 8:02x}:{i & 0xff:02x}'


def client_ip(i: int) -> str:
    return f'10.77.{i // 250}.{i % 250 + 1}'


def topology(ports: list[str]) -> dict:
    """One network with client i on port ``ports[i]``, a router and a DHCP
    server; the DHCP options dnsmasq is given too."""
    interfaces: dict[str, dict] = {}
    for i, port in enumerate(ports):
        interfaces[f'c{i}'] = {'network': 'bench', 'mac': client_mac(i), 'ipv4': client_ip(i),
                               'datapath': 'bench', 'port': port}
    interfaces['bench-gw'] = {'network': 'bench', 'mode': 'simulated', 'mac': ROUTER_MAC,
                              'ipv4': ROUTER_IP, 'services': ['router']}
    interfaces['bench-dhcp'] = {'network': 'bench', 'mode': 'simulated', 'mac': SERVER_MAC,
                                'ipv4': SERVER_IP, 'services': ['dhcp']}
    return {'datapaths': {'bench': {'dpid': DPID}},
            'networks': {'bench': {'ipv4': NETWORK, 'dns_servers': DNS_SERVERS,
                                   'domain_name': DOMAIN, 'lease_time': LEASE}},
            'interfaces': interfaces}


def dnsmasq_argv(n: int, pidfile: Path) -> list[str]:
    argv = ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0',
            '--interface=eth0', '--bind-interfaces', '--log-facility=-', '--quiet-dhcp',
            '--leasefile-ro', '--dhcp-authoritative', '--no-ping', '--user=root',
            f'--pid-file={pidfile}', f'--dhcp-lease-max={max(1000, 2 * n)}',
            f'--dhcp-range={NETWORK.split("/")[0]},static,255.255.0.0,{LEASE}',
            f'--dhcp-option=option:router,{ROUTER_IP}',
            f'--dhcp-option=option:dns-server,{",".join(DNS_SERVERS)}',
            f'--dhcp-option=option:domain-name,{DOMAIN}']
    argv += [f'--dhcp-host={client_mac(i)},{client_ip(i)}' for i in range(n)]
    return argv


def _batch(args: list[str], lines: list[str]) -> None:
    for i in range(0, len(lines), 500):
        sh(args + ['-batch', '-'], input='\n'.join(lines[i:i + 500]) + '\n', timeout=120)


def add_client_veths(lab: Lab, ns: str, bridge: Bridge, ports: list[str], inner: list[str],
                     macs: list[str]) -> None:
    """veth pairs: `ports[i]` on `bridge`, `inner[i]` (MAC `macs[i]`) in `ns`."""
    for port in ports:
        lab.track_link(port)          # so a crashed run is cleaned up too
    _batch(['ip'], [f'link add {pt} type veth peer name {nm} netns {ns}'
                    for pt, nm in zip(ports, inner)])
    _batch(['ip', '-n', ns], [f'link set {nm} address {mac}' for nm, mac in zip(inner, macs)]
           + [f'link set {nm} up' for nm in inner])
    _batch(['ip'], [f'link set {pt} up' for pt in ports])
    sh(['sysctl', '-qw'] + [f'net.ipv6.conf.{pt}.disable_ipv6=1' for pt in ports], check=False)
    for i in range(0, len(ports), 200):
        args = ['ovs-vsctl', '--timeout=120']
        for pt in ports[i:i + 200]:
            args += ['--', '--may-exist', 'add-port', bridge.name, pt]
        sh(args, timeout=180)


def static_flows(bridge: Bridge, server_port: str, ports_by_mac: dict[str, str]) -> None:
    """On a NORMAL bridge: DHCP requests straight to the server's port and
    each client MAC to its port, so nothing DHCP is flooded."""
    out = sh(['ovs-vsctl', '-f', 'csv', '--no-headings', '--columns=name,ofport',
              'list', 'Interface']).stdout
    ofport = {}
    for line in out.splitlines():
        name, _, num = line.partition(',')
        ofport[name.strip('"')] = num.strip()
    flows = [f'priority=100,udp,tp_src=68,tp_dst=67,actions=output:{ofport[server_port]}']
    flows += [f'priority=90,dl_dst={mac},actions=output:{ofport[port]}'
              for mac, port in ports_by_mac.items()]
    sh(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', bridge.name, '-'],
       input='\n'.join(flows) + '\n', timeout=60)


def controller_hint(controller: Optional[Controller], verbose: bool) -> str:
    """What the controller's log says about why it gave no answers."""
    if controller is None:
        return ''
    log = controller.log_text().splitlines()
    if verbose:
        return '\ncontroller log (tail):\n' + '\n'.join(log[-25:])
    found = []
    for k, line in enumerate(log):
        if ' ERROR ' in line:
            found.append(line.strip())
        elif line.startswith('Traceback'):
            tail = next((x for x in log[k + 1:] if x and not x.startswith(' ')), '')
            found.append(f'Traceback: {tail.strip()}')
    packet_ins = sum('packet-in' in line for line in log)
    hint = f'; first controller error: {found[0]}' if found else ''
    if packet_ins:
        hint += f'; {packet_ins} log lines about packet-ins'
    return hint


@dataclass
class Bench:
    """Both sides of the DHCP benchmark, with one load generator each."""
    lab: Lab
    n: int
    service_port: bool = True     # ours answers through the bridge's service port
    gens: dict[str, LoadGenerator] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)    # side -> why it is not measured
    controller: Optional[Controller] = None
    dnsmasq: Optional[subprocess.Popen] = None
    dnsmasq_log: Optional[Path] = None

    def build(self, sides: list[str], verbose: bool, dnsmasq_bridge: str = 'normal',
              app: str = 'controller.app') -> None:
        lab, n = self.lab, self.n
        port = free_tcp_port()
        bridges = {'ours': lab.bridge('bo', DPID, controller_port=port,
                                      service_port=self.service_port) if 'ours' in sides
                   else None,
                   'dnsmasq': lab.normal_bridge('bd') if 'dnsmasq' in sides else None}
        # the client namespace, created with the first veth of the first side
        first = 'ours' if 'ours' in sides else 'dnsmasq'
        first_br = bridges[first]
        assert first_br is not None
        cli = lab.host('cli', first_br, lab.ifname(LETTER[first] + '0'), client_mac(0), None)
        names: dict[str, list[str]] = {}
        for side in SIDES:
            br = bridges[side]
            if br is None:
                continue
            start = 1 if side == first else 0     # lab.host made the first one
            inner = [f'{LETTER[side]}{i}' for i in range(n)]
            if side == first:
                inner[0] = cli.ifname
            add_client_veths(lab, cli.ns, br,
                             [lab.ifname(f'{LETTER[side]}{i}') for i in range(start, n)],
                             inner[start:], [client_mac(i) for i in range(start, n)])
            names[side] = inner
        if bridges['dnsmasq'] is not None:
            self._start_dnsmasq(bridges['dnsmasq'], dnsmasq_bridge)
        if bridges['ours'] is not None:
            self._start_controller(bridges['ours'], port, verbose, app)
        for side, inner in names.items():
            self.gens[side] = LoadGenerator(raw_sockets(cli.ns, inner),
                                            [client_mac(i) for i in range(n)],
                                            [client_ip(i) for i in range(n)], SERVER_IP)

    def _start_dnsmasq(self, br: Bridge, dnsmasq_bridge: str) -> None:
        lab = self.lab
        srv = lab.host('srv', br, lab.ifname('ds'), SERVER_MAC, f'{SERVER_IP}/{PREFIXLEN}')
        log_path = self.dnsmasq_log = lab.path('dnsmasq.log')
        with open(log_path, 'w') as log:
            dnsmasq = self.dnsmasq = srv.popen(dnsmasq_argv(self.n, lab.path('dnsmasq.pid')),
                                               stdout=log, stderr=log)
        try:
            wait_for(lambda: dnsmasq.poll() is not None or
                     'DHCP, static leases only' in log_path.read_text(),
                     timeout=10, interval=0.05, what='dnsmasq to start')
        except AssertionError as e:
            raise SetupError(f'dnsmasq did not start: {e}') from None
        if dnsmasq.poll() is not None:
            raise SetupError(f'dnsmasq exited ({dnsmasq.returncode}):\n'
                             f'{log_path.read_text()[-2000:]}')
        if dnsmasq_bridge == 'static':
            static_flows(br, srv.port, {client_mac(i): lab.ifname(f'd{i}') for i in range(self.n)})

    def _start_controller(self, br: Bridge, port: int, verbose: bool, app: str) -> None:
        """Ours: the controller with the generated topology, until it has
        installed flows.  If it does not get there, the ours half says why
        (notes) and dnsmasq is still measured."""
        lab = self.lab
        path = lab.write('topology.yml', yaml.safe_dump(
            topology([lab.ifname(f'o{i}') for i in range(self.n)]), sort_keys=False))
        try:
            load_topology(str(path))
        except Exception as e:
            raise SetupError(f'the generated topology is refused: {e}') from None
        try:
            ctl = self.controller = lab.controller(
                path, port=port, extra_args=['--verbose'] if verbose else [], app=app)
        except Exception as e:   # the lab raises when it exits before listening
            lines = [x for x in str(e).splitlines() if x.strip()]
            head = lines[0].strip('\'"') if lines else repr(e)
            note = f'controller did not start: {head}'
            if lines and verbose:
                note += '\n' + '\n'.join(lines[1:][-25:])
            elif lines:
                note += f' ... {lines[-1]}'
            self.notes['ours'] = note
            return

        def flows_or_death() -> bool:
            if not ctl.running():
                raise AssertionError(f'controller exited ({ctl.proc and ctl.proc.returncode})')
            return bool(br.dump_flows())
        try:
            wait_for(flows_or_death, timeout=30, interval=0.2,
                     what='the controller to install flows')
        except AssertionError as e:
            self.notes['ours'] = (f'controller not ready: {str(e).splitlines()[0]}'
                                  + controller_hint(ctl, verbose))

    def close(self) -> None:
        for g in self.gens.values():
            g.close()
