"""A frame through the compiled tables, datapath by datapath, offline.

Only the datapaths the frame reaches are compiled (the source datapath
first, then each one the tunnel leads to), and on each only the ports of
the networks the frame can be in: its own and those a route link joins to
it (routing happens once, where the frame enters).  Every other port's
flows match another port or another network's metadata, so they can never
match this frame; leaving them out makes a trace on a 10,000-interface
datapath compile a hundred ports, not all of them (tests/unit/
test_cli_trace.py checks that the verdicts and flows equal a full compile).
Each table's decision is recorded as a `Step` with the objects behind it.
"""
from __future__ import annotations

from typing import Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

from controller.explain import verdict as v
from controller.explain.origin import Origins
from controller.explain.packet import Probe, ProbeError
from controller.explain.ports import numbered
from controller.explain.source import Located
from controller.openflow.ofsim import FakeSwitch, tunnel_arrival
from controller.pipeline import Compiler
from controller.pipeline.flows import OFPP_CONTROLLER, OFPP_LOCAL
from controller.pipeline.punt import REASON_REG, Reason
from controller.pipeline.service_port import service_port_name
from controller.pipeline.tunnel import TUNNEL_DST_FIELD
from controller.topology import SIMULATED

MAX_HOPS = 4        # datapaths a frame may cross; more is a forwarding loop
PortsOf = Callable[[str], Mapping[str, int]]


class Walker:
    """Compiles datapaths on demand; `ports_of(datapath)` gives their port
    numbers (offline: numbered in name order; live: read from the bridge)."""

    def __init__(self, located: Located, ports_of: Optional[PortsOf] = None,
                 networks: Optional[FrozenSet[str]] = None):
        """`networks`: compile only the ports of these (None: every port)."""
        self.located, self.topology = located, located.topology
        self.ports_of = ports_of or (lambda dp: numbered(dp, located.topology))
        self.networks = networks
        self.compiler = Compiler()
        self._switches: Dict[str, Tuple[FakeSwitch, Dict[str, int], Origins]] = {}

    @classmethod
    def for_probe(cls, located: Located, probe: Probe) -> 'Walker':
        """A walker that compiles only what `probe` can reach."""
        return cls(located, networks=located.topology.joined_to(probe.source.network))

    def switch(self, datapath: str):
        if datapath not in self._switches:
            ports = dict(self.ports_of(datapath))
            state = self.compiler.compile(self.topology, datapath, self._scoped(datapath, ports))
            self._switches[datapath] = (FakeSwitch.from_state(state), ports,
                                        Origins(self.located, datapath, ports))
        return self._switches[datapath]

    def _scoped(self, datapath: str, ports: Dict[str, int]) -> Dict[str, int]:
        if self.networks is None:
            return ports
        on = self.topology.ports_on(datapath)
        tunnel = self.topology.datapaths[datapath].tunnel_port
        return {name: number for name, number in ports.items()
                if name == tunnel or (name in on and on[name].network in self.networks)}

    @property
    def compiled(self) -> List[str]:
        return sorted(self._switches)

    def trace(self, probe: Probe) -> v.Trace:
        _, ports, _ = self.switch(probe.datapath)
        if probe.port not in ports:
            raise ProbeError(f'port {probe.port} of {probe.source.name} is not on datapath '
                             f'{probe.datapath}')
        steps: List[v.Step] = []
        endings: List[v.Ending] = []
        queue: List[Tuple[str, dict, Tuple[str, ...]]] = [
            (probe.datapath, dict(probe.fields, in_port=ports[probe.port]), ())]
        while queue:
            datapath, packet, via = queue.pop(0)
            if len(via) >= MAX_HOPS:
                raise AssertionError('a frame kept crossing tunnels: a forwarding loop')
            for port, pkt in self._run(datapath, packet, steps):
                hop = self._tunnel_hop(datapath, port, pkt)
                if hop is not None:
                    target, tunnel_port = hop
                    arriving = tunnel_arrival(pkt, tunnel_port, self._tunnel_ip(datapath))
                    queue.append((target, arriving, via + (datapath,)))
                else:
                    endings.append(self._ending(datapath, port, pkt, via))
        return v.Trace(probe, steps, endings, v.verdict(endings, steps, self.topology))

    def _run(self, datapath: str, packet: dict, steps: List[v.Step]):
        switch, _, origins = self.switch(datapath)

        def record(table, f, pkt):
            steps.append(v.Step(datapath, table, f, f.cookie if f is not None else None,
                                f.describe() if f is not None else 'no flow matches',
                                origins.of(f) if f is not None else [], pkt))
        return switch.run(packet, on_step=record)

    def _tunnel_ip(self, datapath: str) -> str:
        return str(self.topology.datapaths[datapath].tunnel_ip)

    def _tunnel_hop(self, datapath: str, port: int, pkt: dict):
        """(datapath, its tunnel port) when `port` is this datapath's tunnel
        port and the destination is a datapath of the topology."""
        conf = self.topology.datapaths[datapath]
        if self.switch(datapath)[1].get(conf.tunnel_port) != port:
            return None
        for name, other in self.topology.datapaths.items():
            if other.tunnel_ip is not None and str(other.tunnel_ip) == str(pkt.get(TUNNEL_DST_FIELD)):
                return name, self.switch(name)[1][other.tunnel_port]
        return None

    def _ending(self, datapath: str, port: int, pkt: dict, via) -> v.Ending:
        names = {number: name for name, number in self.switch(datapath)[1].items()}
        return ending(self.topology, datapath, port, pkt, via, names)


def ending(topology, datapath: str, port: int, pkt: dict, via, port_names) -> v.Ending:
    """Classify one copy leaving `datapath` by `port` (the packet as it leaves)."""
    if port == OFPP_CONTROLLER:
        return _punt(datapath, pkt, via)
    if port == pkt.get('in_port') and not via:
        return v.Ending(v.ANSWERED, datapath, 'back to the sender', via, answer_text(topology, pkt))
    name = port_names.get(port)
    bridge = port_names.get(OFPP_LOCAL)
    if name is not None and bridge is not None and name == service_port_name(bridge):
        return _to_service_port(datapath, name, pkt, via)
    iface = topology.ports_on(datapath).get(name) if name is not None else None
    if iface is not None:
        return v.Ending(v.DELIVERED, datapath, f'{iface.name} (port {name})', via)
    conf = topology.datapaths[datapath]
    if name == conf.tunnel_port:
        return v.Ending(v.TUNNEL, datapath, f'{pkt.get(TUNNEL_DST_FIELD)} (no datapath of the '
                                            'topology has that tunnel_ip)', via)
    return v.Ending(v.DELIVERED, datapath, f'port {name or port}', via)


def _to_service_port(datapath: str, name: str, pkt: dict, via) -> v.Ending:
    """A punt through the bridge's service port: the controller reads it
    there (controller.pipeline.service_port), as it would a packet-in."""
    try:
        return _punt(datapath, pkt, via, f'service port {name}, ')
    except ValueError:                      # no punt reason written: not one of our punts
        return v.Ending(v.CONTROLLER, datapath, f'service port {name}', via)


def _punt(datapath: str, pkt: dict, via, where: str = '') -> v.Ending:
    """Sent to the controller with the punt reason in the packet (ValueError: none we know)."""
    reason = Reason(int(pkt.get(REASON_REG, 0)))
    return v.Ending(v.CONTROLLER, datapath, f'{where}punt reason {reason.name} ({int(reason)})', via,
                    v.PUNT_WHY.get(reason, ''))


def answer_text(topology, pkt: dict) -> str:
    """What the datapath answered with: the frame as rewritten by a responder."""
    responder = next((i.name for i in topology.interfaces.values()
                      if i.mode == SIMULATED and i.mac == pkt.get('eth_src')), pkt.get('eth_src'))
    if 'arp_spa' in pkt:
        return f'ARP reply {pkt["arp_spa"]} is-at {pkt.get("arp_sha")} ({responder})'
    return f'ICMP echo reply from {pkt.get("ipv4_src")} ({responder})'
