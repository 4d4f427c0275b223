"""The fabric of bench.fabric_control: its shape, its topology file and the
flows the controller's own compiler says each datapath must end up with.

The layout is lab.topogen's (networks spread over ``span`` datapaths each,
vifs dealt over them in turn).  topogen gives every datapath a tunnel_ip but
no ``tunnel_port``, and in one ovs-vswitchd every port name is unique, so
100 bridges cannot each have a ``vxlan0``: ``with_tunnel_ports`` adds
``tunnel_port: vx<d>`` to each datapath of the generated text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Optional

from controller.pipeline import Compiler
from controller.topology import Topology
from lab import topogen

DPID_BASE = 0xfab000000000
OFPP_LOCAL = 0xfffffffe          # the bridge's own port, as the controller sees it (OF1.3)
_DATAPATH_LINE = re.compile(r'^  (?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*):$')
_TUNNEL_IP_LINE = re.compile(r'^    tunnel_ip: ')


def tunnel_port_name(d: int) -> str:
    return f'vx{d}'


@dataclass(frozen=True)
class Shape:
    """``datapaths`` datapaths, ``per_datapath`` vifs on each, in
    ``networks_per_datapath`` networks there, every network on ``span``
    datapaths (so a network has per_datapath / networks_per_datapath vifs
    on each of its datapaths)."""
    datapaths: int = 100
    per_datapath: int = 100
    span: int = 10
    networks_per_datapath: int = 10

    def __post_init__(self) -> None:
        problems = []
        if min(self.datapaths, self.per_datapath, self.span, self.networks_per_datapath) < 1:
            problems.append('every count must be at least 1')
        elif self.span > self.datapaths:
            problems.append(f'span {self.span} > datapaths {self.datapaths}')
        elif self.per_datapath % self.networks_per_datapath:
            problems.append(f'per-datapath {self.per_datapath} is not a multiple of '
                            f'networks-per-datapath {self.networks_per_datapath}')
        elif self.datapaths * self.networks_per_datapath % self.span:
            problems.append(f'datapaths x networks-per-datapath ({self.datapaths} x '
                            f'{self.networks_per_datapath}) is not a multiple of span {self.span}')
        elif self.per_network >= topogen.MAX_PER_NETWORK:
            problems.append(f'{self.per_network} vifs per network; at most '
                            f'{topogen.MAX_PER_NETWORK - 1} (one more comes with the edit)')
        if problems:
            raise ValueError('; '.join(problems))

    @property
    def per_network(self) -> int:
        return self.per_datapath // self.networks_per_datapath * self.span

    @property
    def networks(self) -> int:
        return self.datapaths * self.networks_per_datapath // self.span

    @property
    def vifs(self) -> int:
        return self.datapaths * self.per_datapath

    def spec(self, extra_vif: bool = False) -> topogen.Spec:
        return topogen.Spec(vifs=self.vifs, per_network=self.per_network,
                            datapaths=self.datapaths, span=self.span, dpid=DPID_BASE,
                            tunnel_ips=True, extra_vif=extra_vif)

    def describe(self) -> str:
        return (f'{self.datapaths} datapaths x {self.per_datapath} vifs = {self.vifs} vifs; '
                f'{self.networks} networks of {self.per_network} vifs, each on {self.span} '
                f'datapaths ({self.networks_per_datapath} networks per datapath), '
                'a gateway and a DHCP interface per network')


def with_tunnel_ports(text: str) -> str:
    """topogen's text with ``tunnel_port: vx<d>`` after datapath br<d>'s tunnel_ip."""
    out, d = [], None
    for line in text.splitlines():
        out.append(line)
        m = _DATAPATH_LINE.match(line)
        if m:
            d = _datapath_number(m.group('name'))
        elif _TUNNEL_IP_LINE.match(line) and d is not None:
            out.append(f'    tunnel_port: {tunnel_port_name(d)}')
    return '\n'.join(out) + '\n'


def _datapath_number(name: str) -> Optional[int]:
    m = re.fullmatch(r'br(\d+)', name)
    return int(m.group(1)) if m else None


class BridgePlan(NamedTuple):
    """One bridge to build: the datapath's name (also the OVS bridge's), its
    dpid, tunnel port and address, and its vif ports (the edit's included)."""
    name: str
    dpid: int
    tunnel_port: str
    tunnel_ip: str
    ports: tuple[str, ...]


def bridge_plans(shape: Shape) -> list[BridgePlan]:
    """Every bridge with every port any version of the topology puts on it."""
    spec = shape.spec(extra_vif=True)
    ports: dict[str, list[str]] = {dp.name: [] for dp in topogen.datapaths(spec)}
    for v in topogen.vifs(spec):
        ports[v.datapath].append(v.port)
    return [BridgePlan(dp.name, dp.dpid, tunnel_port_name(d), dp.tunnel_ip or '',
                       tuple(ports[dp.name]))
            for d, dp in enumerate(topogen.datapaths(spec))]


def bridge_ports(plan: BridgePlan, numbers: Mapping[str, int]) -> dict[str, int]:
    """The ports of one bridge as the controller sees them: name -> OpenFlow
    number (its LOCAL port included), from ``numbers`` (every interface's)."""
    names = (*plan.ports, plan.tunnel_port)
    ports = {n: numbers[n] for n in names if numbers.get(n, -1) > 0}
    ports[plan.name] = OFPP_LOCAL
    return ports


class Desired(NamedTuple):
    """One datapath's desired state, as much as the bench compares: the
    cookies of its flows and its groups."""
    cookies: frozenset[int]
    groups: Mapping[int, object]


def desired_states(topology: Topology, ports: Mapping[str, Mapping[str, int]],
                   compiler: Optional[Compiler] = None) -> dict[str, Desired]:
    """What each datapath must end up with, by the controller's own compiler."""
    compiler = compiler or Compiler()
    out = {}
    for name, p in ports.items():
        state = compiler.compile(topology, name, p)
        out[name] = Desired(frozenset(state.flows), dict(state.groups))
    return out


class Change(NamedTuple):
    """What an edit changes on one datapath: flows added and removed, and
    how many groups are added, changed or removed."""
    added: frozenset[int]
    removed: frozenset[int]
    groups: int


def changes(before: Mapping[str, Desired], after: Mapping[str, Desired]) -> dict[str, Change]:
    """The datapaths whose desired state differs, and how."""
    empty = Desired(frozenset(), {})
    out = {}
    for name in sorted(set(before) | set(after), key=_natural):
        old, new = before.get(name, empty), after.get(name, empty)
        groups = sum(old.groups.get(g) != new.groups.get(g)
                     for g in set(old.groups) | set(new.groups))
        if old.cookies != new.cookies or groups:
            out[name] = Change(new.cookies - old.cookies, old.cookies - new.cookies, groups)
    return out


def _natural(name: str) -> tuple:
    d = _datapath_number(name)
    return (0, d, '') if d is not None else (1, 0, name)


def probe(change: Change) -> Optional[tuple[str, int]]:
    """How to see that ``change`` has reached the switch: an ovs-ofctl flow
    filter for one of its flows and the count to expect (1 for an added
    flow, 0 for a removed one).  One flow is enough: a change arrives in
    one bundle, all at once.  None when only groups change."""
    if change.added:
        return f'cookie={min(change.added):#x}/-1', 1
    if change.removed:
        return f'cookie={min(change.removed):#x}/-1', 0
    return None


def edit_vif(shape: Shape) -> topogen.Vif:
    """The vif the edit adds (and the revert removes)."""
    return list(topogen.vifs(shape.spec(extra_vif=True)))[-1]
