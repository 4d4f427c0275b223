"""The same trace, asked of the real switch, mapped back to the topology.

`ovs-appctl ofproto/trace` runs the frame through what the bridge really
has.  Each table it reports names a flow's cookie; our cookies fingerprint
the flow, so compiling the datapath with the bridge's own port numbers
gives cookie -> flow -> topology objects (what OVN's ovn-detrace does with
logical flows).  A cookie we did not compile (a stale flow, another
owner's) is shown as such: that itself is a finding.

Bridges are found by datapath id, ports by `ovs-ofctl show`, on the
machine's Open vSwitch or, per datapath, another one named by its run
directory (`Ovs`).  A frame that leaves through the tunnel is traced on,
on the destination datapath's bridge, when its switch can be asked.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from controller.explain import verdict as v
from controller.explain.packet import Probe
from controller.explain.walk import MAX_HOPS, Walker, ending
from controller.pipeline import compile_datapath
from controller.pipeline.flows import COOKIE_MASK, COOKIE_TAG, OFPP_CONTROLLER, OFPP_LOCAL, Flow
from controller.pipeline.punt import REASON_REG
from controller.pipeline.tunnel import TUNNEL_DST_FIELD, TUNNEL_SRC_FIELD, VNI_FIELD

TIMEOUT = 30
OFCTL = ('ovs-ofctl', '-O', 'OpenFlow13')
# our field names -> ovs-ofctl's
OVS_FIELDS = {'eth_src': 'dl_src', 'eth_dst': 'dl_dst', 'eth_type': 'dl_type', 'ipv4_src': 'nw_src',
              'ipv4_dst': 'nw_dst', 'ip_proto': 'nw_proto', 'icmpv4_type': 'icmp_type',
              'icmpv4_code': 'icmp_code', VNI_FIELD: 'tun_id', TUNNEL_SRC_FIELD: 'tun_src',
              TUNNEL_DST_FIELD: 'tun_dst'}
FROM_OVS = {'dl_src': 'eth_src', 'dl_dst': 'eth_dst', 'nw_src': 'ipv4_src', 'nw_dst': 'ipv4_dst',
            'arp_spa': 'arp_spa', 'arp_sha': 'arp_sha', 'metadata': 'metadata', 'in_port': 'in_port',
            'nw_ttl': 'nw_ttl'}
INTEGER_FIELDS = ('metadata', 'in_port', 'nw_ttl')


class LiveError(Exception):
    """The switch could not be asked: one line for the user."""


def run(argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> str:
    try:
        cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except FileNotFoundError:
        raise LiveError(f'{argv[0]}: not found (is Open vSwitch installed?)') from None
    except subprocess.TimeoutExpired:
        raise LiveError(f'{shlex.join(argv)}: no answer after {TIMEOUT} s') from None
    if cp.returncode != 0:
        said = cp.stderr.strip() or cp.stdout.strip() or f'exit status {cp.returncode}'
        raise LiveError(f'{shlex.join(argv)}: {said.splitlines()[0]}')
    return cp.stdout


# -- reading the switch -----------------------------------------------------------

@dataclass(frozen=True)
class Ovs:
    """Which Open vSwitch to ask: the machine's own (rundir None), or the one
    whose run directory is `rundir` (its db.sock, BRIDGE.mgmt sockets and
    ovs-vswitchd control socket), as each emulated host of the lab has."""
    rundir: Optional[str] = None

    def vsctl(self, *args: str) -> str:
        db = [f'--db=unix:{self.rundir}/db.sock'] if self.rundir else []
        return run(['ovs-vsctl', f'--timeout={TIMEOUT}', *db, *args])

    def ofctl(self, command: str, bridge: str, *args: str) -> str:
        target = f'unix:{self.rundir}/{bridge}.mgmt' if self.rundir else bridge
        return run([*OFCTL, command, target, *args])

    def appctl(self, *args: str) -> str:
        if self.rundir is None:
            return run(['ovs-appctl', *args])
        ctl = os.path.join(self.rundir, 'ovs-vswitchd.ctl')
        target = ['-t', ctl] if os.path.exists(ctl) else []     # else ovs-vswitchd.PID.ctl there
        return run(['ovs-appctl', *target, *args], env=dict(os.environ, OVS_RUNDIR=self.rundir))


LOCAL = Ovs()


def bridges_by_dpid(ovs: Ovs = LOCAL) -> Dict[int, str]:
    out = ovs.vsctl('--format=csv', '--data=bare', '--no-headings', '--columns=name,datapath_id',
                    'list', 'Bridge')
    found = {}
    for line in out.splitlines():
        name, _, dpid = line.partition(',')
        if dpid.strip():
            found[int(dpid.strip().strip('"'), 16)] = name.strip('"')
    return found


_PORT_LINE = re.compile(r'^\s*(\d+|LOCAL)\((.+?)\):')


def bridge_ports(bridge: str, ovs: Ovs = LOCAL) -> Dict[str, int]:
    """Port name -> OpenFlow port number, as the switch numbers them; the
    bridge's own (LOCAL) port too, as the controller sees it in the port
    descriptions: the service port is found by the bridge's name."""
    return {m.group(2): OFPP_LOCAL if m.group(1) == 'LOCAL' else int(m.group(1))
            for m in map(_PORT_LINE.match, ovs.ofctl('show', bridge).splitlines()) if m}


_COOKIE = re.compile(r'cookie=(0x[0-9a-f]+)')


def installed_cookies(bridge: str, ovs: Ovs = LOCAL) -> List[int]:
    """The cookies of our flows on the bridge (learned next hops excluded)."""
    out = ovs.ofctl('dump-flows', bridge, f'cookie={COOKIE_TAG:#x}/{COOKIE_MASK:#x}')
    return [int(m.group(1), 16) for m in map(_COOKIE.search, out.splitlines()) if m]


def flow_spec(fields: dict) -> str:
    """Our packet fields as an ovs-ofctl flow, for ofproto/trace."""
    return ','.join(f'{OVS_FIELDS.get(k, k)}={v}' for k, v in fields.items())


# -- parsing ofproto/trace ----------------------------------------------------------

_STEP = re.compile(r'^ ?(\d{1,3})\. (.*?)(?:, )?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$')


@dataclass
class Raw:
    """One table of an ofproto/trace, as OVS printed it."""
    table: int
    cookie: Optional[int]
    text: str
    actions: List[str] = field(default_factory=list)


@dataclass
class Parsed:
    steps: List[Raw]
    outputs: List[Tuple[int, dict]]    # (port, what we know of the frame leaving)
    final: dict                        # the frame after the pipeline


def parse_trace(text: str) -> Parsed:
    """The tables of the traced bridge.  A frame sent into a VXLAN tunnel is
    then shown crossing the underlay's bridge (another `bridge("...")`
    block, inside a group's bucket or after the pipeline): that is
    transport, not our pipeline, and is left out."""
    steps: List[Raw] = []
    underlay: Optional[int] = None       # indentation of the underlay block being skipped
    seen_bridge = False
    for line in text.splitlines():
        if line.startswith(('Final flow:', 'Megaflow:', 'Datapath actions:')):
            break
        body = line.lstrip()
        indent = len(line) - len(body)
        if not body:
            continue
        if underlay is not None:
            if indent > underlay or (indent == underlay and not body.startswith('bucket')):
                continue
            underlay = None
        if body.startswith('bridge("'):
            underlay = indent if seen_bridge else None
            seen_bridge = True
            continue
        m = _STEP.match(line)
        if m:
            cookie = int(m.group(4), 16) if m.group(4) else None
            steps.append(Raw(int(m.group(1)), cookie, f'{m.group(2)} priority {m.group(3)}'.strip()))
        elif body == 'No match.' and steps:
            steps.append(Raw(steps[-1].table, None, 'no flow matches'))
        elif steps and indent >= 4:
            steps[-1].actions.append(body)
    final = _final_flow(text)
    return Parsed(steps, _outputs(steps, final), final)


def _final_flow(text: str) -> dict:
    m = re.search(r'^Final flow: (.*)$', text, re.M)
    flow_text = m.group(1) if m and m.group(1) != 'unchanged' else ''
    if not flow_text:
        m = re.search(r'^Flow: (.*)$', text, re.M)
        flow_text = m.group(1) if m else ''
    fields = {}
    for item in flow_text.split(','):
        key, _, value = item.partition('=')
        if key in FROM_OVS and value:
            fields[FROM_OVS[key]] = int(value, 0) if key in INTEGER_FIELDS else value
    return fields


def _outputs(steps: List[Raw], final: dict) -> List[Tuple[int, dict]]:
    found: List[Tuple[int, dict]] = []
    tun_dst: Optional[str] = None
    reason = 0
    for step in steps:
        for i, action in enumerate(step.actions):
            skipped = i + 1 < len(step.actions) and 'skipping output to input port' in step.actions[i + 1]
            if action.startswith('bucket'):
                tun_dst = None
            elif action.endswith('->tun_dst'):
                tun_dst = action[len('set_field:'):-len('->tun_dst')]
            elif action.endswith('->reg1'):
                reason = int(action[len('set_field:'):-len('->reg1')], 0)
            elif action.startswith('output:') and not skipped:
                port = _output_port(action, step.actions[i + 1:i + 3])
                if port is not None:       # the reason too: a punt may leave by the service port
                    found.append((port, {TUNNEL_DST_FIELD: tun_dst, **({REASON_REG: reason} if reason else {})}))
            elif action == 'IN_PORT':
                found.append((final.get('in_port', -1), dict(final)))
            elif action.startswith('CONTROLLER'):
                found.append((OFPP_CONTROLLER, {REASON_REG: reason}))
    return found


def _output_port(action: str, following: List[str]) -> Optional[int]:
    """The port of an `output:` line: a number, or for an output to a
    register (output:NXM_NX_REG5[0..14]) the port OVS reports on the next
    line ("-> output port is 8197"); None when OVS skipped the output (the
    input port, a port number out of range)."""
    target = action[len('output:'):]
    if target.isdigit():
        return int(target)
    m = re.match(r'-> output port is (\d+)$', following[0]) if following else None
    if m is None or any('skipping output to input port' in line for line in following[1:]):
        return None
    return int(m.group(1))


# -- the live trace -------------------------------------------------------------------

class LiveTracer:
    """Traces on the real bridges; `walker` compiles with their port numbers.
    `where` names the Open vSwitch of a datapath when it is not the
    machine's own (each emulated host of the lab runs its own)."""

    def __init__(self, located, where: Optional[Mapping[str, Ovs]] = None,
                 bridges: Optional[Dict[int, str]] = None):
        self.topology = located.topology
        self.where = dict(where or {})
        self._bridges: Dict[Ovs, Dict[int, str]] = {} if bridges is None else {LOCAL: bridges}
        self._ports: Dict[str, Dict[str, int]] = {}
        self.walker = Walker(located, self.ports)
        self.cookies: Dict[str, Dict[int, Flow]] = {}

    def ovs(self, datapath: str) -> Ovs:
        return self.where.get(datapath, LOCAL)

    def bridge(self, datapath: str) -> Optional[str]:
        ovs = self.ovs(datapath)
        if ovs not in self._bridges:
            self._bridges[ovs] = bridges_by_dpid(ovs)
        return self._bridges[ovs].get(self.topology.datapaths[datapath].dpid)

    def ports(self, datapath: str) -> Dict[str, int]:
        if datapath not in self._ports:
            bridge = self.bridge(datapath)
            if bridge is None:
                raise LiveError(f'no bridge here has datapath {datapath}\'s dpid '
                                f'{self.topology.datapaths[datapath].dpid:#x}')
            self._ports[datapath] = bridge_ports(bridge, self.ovs(datapath))
        return self._ports[datapath]

    def trace(self, probe: Probe) -> v.Trace:
        ports = self.ports(probe.datapath)
        if probe.port not in ports:
            raise LiveError(f'port {probe.port} of {probe.source.name} is not on bridge '
                            f'{self.bridge(probe.datapath)}')
        steps: List[v.Step] = []
        endings: List[v.Ending] = []
        queue: List[Tuple[str, dict, Tuple[str, ...]]] = [
            (probe.datapath, dict(probe.fields, in_port=ports[probe.port]), ())]
        while queue:
            datapath, fields, via = queue.pop(0)
            if len(via) >= MAX_HOPS:
                raise LiveError('the frame kept crossing tunnels: a forwarding loop')
            parsed = self._trace_on(datapath, fields, steps)
            for port, pkt in parsed.outputs:
                pkt.setdefault('in_port', fields['in_port'])
                hop = self._tunnel_hop(datapath, port, pkt)
                if hop is not None:
                    target, tunnel_port = hop
                    conf = self.topology.datapaths[datapath]
                    # the frame as it left (routing rewrote MACs and TTL), into the tunnel
                    changed = {k: parsed.final[k] for k in ('eth_src', 'eth_dst', 'nw_ttl')
                               if k in parsed.final and k in fields}
                    arriving = dict(in_port=tunnel_port, **{k: val for k, val in fields.items()
                                                            if k != 'in_port'})
                    arriving.update(changed)
                    arriving.update({VNI_FIELD: self._vni(parsed, fields), TUNNEL_SRC_FIELD:
                                     str(conf.tunnel_ip), TUNNEL_DST_FIELD: pkt[TUNNEL_DST_FIELD]})
                    queue.append((target, arriving, via + (datapath,)))
                    continue
                names = {n: p for p, n in self.ports(datapath).items()}
                endings.append(self._elsewhere(datapath, port, pkt, via)
                               or ending(self.topology, datapath, port, pkt, via, names))
        return v.Trace(probe, steps, endings, v.verdict(endings, steps, self.topology), 'switch')

    def _trace_on(self, datapath: str, fields: dict, steps: List[v.Step]) -> Parsed:
        bridge = self.bridge(datapath)
        parsed = parse_trace(self.ovs(datapath).appctl('ofproto/trace', str(bridge), flow_spec(fields)))
        _, _, origins = self.walker.switch(datapath)
        flows = self._flows(datapath)
        for raw in parsed.steps:
            f = flows.get(raw.cookie) if raw.cookie is not None else None
            text = raw.text if f is not None or raw.cookie is None else \
                f'{raw.text} (cookie {raw.cookie:#x}: not a flow the topology compiles to)'
            steps.append(v.Step(datapath, raw.table, f, raw.cookie, text,
                                origins.of(f) if f is not None else [], dict(parsed.final)))
        return parsed

    def _flows(self, datapath: str):
        if datapath not in self.cookies:
            switch, _, _ = self.walker.switch(datapath)
            self.cookies[datapath] = {f.cookie: f for table in switch.tables.values() for f in table}
        return self.cookies[datapath]

    def _tunnel_hop(self, datapath: str, port: int, pkt: dict):
        conf = self.topology.datapaths[datapath]
        if self.ports(datapath).get(conf.tunnel_port) != port:
            return None
        for name, other in self.topology.datapaths.items():
            if str(other.tunnel_ip) == str(pkt.get(TUNNEL_DST_FIELD)) and self.bridge(name):
                return name, self.ports(name)[other.tunnel_port]
        return None

    def _elsewhere(self, datapath: str, port: int, pkt: dict, via) -> Optional[v.Ending]:
        """Into the tunnel to a datapath whose bridge is not on this machine."""
        conf = self.topology.datapaths[datapath]
        if self.ports(datapath).get(conf.tunnel_port) != port:
            return None
        for name, other in self.topology.datapaths.items():
            if str(other.tunnel_ip) == str(pkt.get(TUNNEL_DST_FIELD)):
                return v.Ending(v.TUNNEL, datapath, f'{name} at {other.tunnel_ip} (its bridge is not '
                                                    'on this machine: trace on there)', via)
        return None

    @staticmethod
    def _vni(parsed: Parsed, fields: dict) -> int:
        for step in parsed.steps:
            for action in step.actions:
                if action.endswith('->tun_id'):
                    return int(action[len('set_field:'):-len('->tun_id')], 0)
        return int(fields.get(VNI_FIELD, 0))


# -- what the switches would get ------------------------------------------------------

@dataclass
class LiveChanges:
    """The flow changes one bridge would get: desired cookies against installed ones."""
    datapath: str
    bridge: Optional[str]
    installed: int = 0
    desired: int = 0
    added: List[Flow] = field(default_factory=list)        # compiled flows not on the switch
    removed: int = 0                                        # our flows the topology no longer makes

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed)


def live_changes(topology, datapaths: Sequence[str],
                 where: Optional[Mapping[str, Ovs]] = None) -> List[LiveChanges]:
    """Compile each datapath with its bridge's port numbers, as the controller
    does, and compare by cookie with our flows on the bridge."""
    result = []
    bridges: Dict[Ovs, Dict[int, str]] = {}
    for datapath in datapaths:
        conf = topology.datapaths.get(datapath)
        ovs = (where or {}).get(datapath, LOCAL)
        if ovs not in bridges:
            bridges[ovs] = bridges_by_dpid(ovs)
        bridge = bridges[ovs].get(conf.dpid) if conf is not None else None
        if bridge is None:
            result.append(LiveChanges(datapath, None))
            continue
        installed = set(installed_cookies(bridge, ovs))
        desired = compile_datapath(topology, datapath, bridge_ports(bridge, ovs)).flows
        result.append(LiveChanges(datapath, bridge, len(installed), len(desired),
                                  [f for c, f in desired.items() if c not in installed],
                                  len(installed - desired.keys())))
    return result
