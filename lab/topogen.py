"""Generated topologies: N vifs in networks of K, each network with a
simulated gateway and a simulated DHCP interface, on one datapath or spread
over many.  The benchmarks and the tests take their big topologies from here.

Names and addresses (network i, vif k, datapath d)::

    datapaths  br{d}        dpid = Spec.dpid + d, tunnel_ip 198.18.{d // 250}.{d % 250 + 1}
    networks   n{i}         10.{i >> 8}.{i & 255}.0/24
    vifs       vm{k}        in network k // K, address .{k % K + 1},
                            MAC 52:54:00:{k >> 16}:{k >> 8}:{k} (bytes), port Spec.port(k)
    simulated  n{i}-gw      .254, MAC 52:54:01:00:{i >> 8}:{i}, services [router]
               n{i}-dhcp    .253, MAC 52:54:02:00:{i >> 8}:{i}, services [dhcp]

A network spans ``span`` datapaths: network i is on datapaths
(i * span + j) % datapaths for j < span, and its vifs are dealt over them in
turn (its vif number j goes to the (j % span)-th).  So with as many networks
times span as datapaths, every datapath gets one piece of one network.

``extra_vif`` adds vif number N to the first network (its next address): the
one-interface edit of bench/scale.

The text is written line by line (no YAML library): 10,000 interfaces take
milliseconds, and the layout is fixed, so tests can find lines in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, NamedTuple, Optional

MAX_PER_NETWORK = 250       # host addresses .1-.251 (with the extra vif) below .253 and .254
MAX_NETWORKS = 1 << 16      # 10.{i >> 8}.{i & 255}.0/24
MAX_VIFS = 1 << 24          # three MAC bytes
MAX_DATAPATHS = 250 * 256   # tunnel addresses in 198.18.0.0/16


def default_port(k: int) -> str:
    """The OVS port name of vif k unless the Spec says otherwise."""
    return f'p{k}'


@dataclass(frozen=True)
class Spec:
    """What to generate; see the module docstring for the names it leads to."""
    vifs: int
    per_network: int = 100
    datapaths: int = 1
    span: int = 1                  # datapaths each network spans
    dpid: int = 0x1                # of br0; br{d} gets dpid + d
    port: Callable[[int], str] = field(default=default_port, compare=False)
    tunnel_ips: Optional[bool] = None   # None: exactly when networks span several datapaths
    extra_vif: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.vifs < MAX_VIFS:
            problems.append(f'vifs: 1 .. {MAX_VIFS - 1}, got {self.vifs}')
        if not 1 <= self.per_network <= MAX_PER_NETWORK:
            problems.append(f'per_network: 1 .. {MAX_PER_NETWORK}, got {self.per_network}')
        elif self.networks > MAX_NETWORKS:
            problems.append(f'{self.networks} networks; at most {MAX_NETWORKS}')
        if not 1 <= self.datapaths <= MAX_DATAPATHS:
            problems.append(f'datapaths: 1 .. {MAX_DATAPATHS}, got {self.datapaths}')
        if not 1 <= self.span <= self.datapaths:
            problems.append(f'span: 1 .. datapaths ({self.datapaths}), got {self.span}')
        if not (1 <= self.dpid and self.dpid + self.datapaths <= 1 << 64):
            problems.append(f'dpid {self.dpid:#x}: br0 .. br{self.datapaths - 1} need '
                            'dpids from 1 to 2**64 - 1')
        if problems:
            raise ValueError('; '.join(problems))

    @property
    def networks(self) -> int:
        return max(1, -(-self.vifs // self.per_network))

    @property
    def with_tunnel_ips(self) -> bool:
        return self.span > 1 if self.tunnel_ips is None else self.tunnel_ips


class Datapath(NamedTuple):
    name: str
    dpid: int
    tunnel_ip: Optional[str]


class Vif(NamedTuple):
    number: int
    name: str
    network: str
    mac: str
    ipv4: str
    datapath: str
    port: str


def datapath_name(d: int) -> str:
    return f'br{d}'


def vif_name(k: int) -> str:
    return f'vm{k}'


def network_name(i: int) -> str:
    return f'n{i}'


def _net_prefix(i: int) -> str:
    return f'10.{i >> 8}.{i & 255}'


def datapaths(spec: Spec) -> list[Datapath]:
    return [Datapath(datapath_name(d), spec.dpid + d,
                     f'198.18.{d // 250}.{d % 250 + 1}' if spec.with_tunnel_ips else None)
            for d in range(spec.datapaths)]


def network_datapaths(spec: Spec, i: int) -> list[str]:
    """The datapaths network i spans, in the order its vifs are dealt to."""
    return [datapath_name((i * spec.span + j) % spec.datapaths) for j in range(spec.span)]


def _vif(spec: Spec, k: int, net: int, j: int) -> Vif:
    return Vif(k, vif_name(k), network_name(net),
               f'52:54:00:{(k >> 16) & 255:02x}:{(k >> 8) & 255:02x}:{k & 255:02x}',
               f'{_net_prefix(net)}.{j + 1}', network_datapaths(spec, net)[j % spec.span],
               spec.port(k))


def vifs(spec: Spec) -> Iterator[Vif]:
    """Every vif in file order: vm0 .. vm{N-1}, then the extra one if asked."""
    for k in range(spec.vifs):
        net, j = divmod(k, spec.per_network)
        yield _vif(spec, k, net, j)
    if spec.extra_vif:
        yield _vif(spec, spec.vifs, 0, min(spec.per_network, spec.vifs))


def topology_text(spec: Spec) -> str:
    """The topology file (version 1) of ``spec``."""
    nets = spec.networks
    head = f'# lab.topogen: {spec.vifs} vifs in {nets} networks of {spec.per_network}'
    if spec.datapaths > 1:
        head += f' on {spec.datapaths} datapaths, each network on {spec.span}'
    out = [head + (', plus one (the edit)' if spec.extra_vif else ''), 'datapaths:']
    for dp in datapaths(spec):
        out += [f'  {dp.name}:', f'    dpid: {dp.dpid:#x}']
        if dp.tunnel_ip:
            out.append(f'    tunnel_ip: {dp.tunnel_ip}')
    out += ['', 'networks:']
    for i in range(nets):
        out += [f'  {network_name(i)}:', f'    ipv4: {_net_prefix(i)}.0/24']
    out += ['', 'interfaces:']
    for v in vifs(spec):
        out += [f'  {v.name}:', f'    network: {v.network}', f'    mac: {v.mac}',
                f'    ipv4: {v.ipv4}', f'    datapath: {v.datapath}', f'    port: {v.port}']
    for i in range(nets):
        for tag, service, kind, host in (('gw', 'router', 1, 254), ('dhcp', 'dhcp', 2, 253)):
            out += [f'  {network_name(i)}-{tag}:', f'    network: {network_name(i)}',
                    '    mode: simulated', f'    mac: 52:54:{kind:02x}:00:{i >> 8:02x}:{i & 255:02x}',
                    f'    ipv4: {_net_prefix(i)}.{host}', f'    services: [{service}]']
    return '\n'.join(out) + '\n'
