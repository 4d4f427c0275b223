"""What `vnetctl attach` makes of an interface of the topology (pure).

An `AttachSpec` says everything about one attachment: the OVS port and the
bridge's datapath id, the name, MAC, address, MTU and routes inside the
namespace.  The routes are what the network's DHCP server hands out
(`services.dhcp_plan`: option 3's router, or the RFC 3442 routes when the
network has several routers), so a static attach and `--dhcp` agree.

Ownership lives in the OVS Interface's external_ids (`record`), so
`attach --all` can re-create every attachment after a reboot:
`vnet-attach` = netns=NAME | pid=PID | docker=CONTAINER, `vnet-interface`,
`vnet-ifname`, `vnet-dhcp` and, for a PID, `vnet-pid-start` (its start
time: a recycled PID is not the same process).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from controller.cli.ovscmd import SetupError
from controller.services.dhcp_plan import NetworkPlans
from controller.topology import SIMULATED, Topology

NETNS, PID, DOCKER = 'netns', 'pid', 'docker'
KINDS = (NETNS, PID, DOCKER)
DEFAULT_IFNAME = 'eth0'
ATTACH, INTERFACE, IFNAME, DHCP, PID_START = (
    'vnet-attach', 'vnet-interface', 'vnet-ifname', 'vnet-dhcp', 'vnet-pid-start')


class AttachError(SetupError):
    """Bad input for attach/detach, in one line; nothing was changed."""


@dataclass(frozen=True)
class Target:
    """Where the interface goes: a named namespace, a process's, a container's."""
    kind: str
    value: str

    def __str__(self) -> str:
        return f'{self.kind}={self.value}'

    @classmethod
    def parse(cls, text: str) -> 'Target':
        kind, sep, value = text.partition('=')
        if not sep or kind not in KINDS or not value:
            raise AttachError(f'bad {ATTACH} record {text!r}: expected netns=NAME, pid=PID '
                              'or docker=CONTAINER')
        return cls(kind, value)


@dataclass(frozen=True)
class AttachSpec:
    interface: str
    datapath: str
    dpid: int
    port: str
    ifname: str
    mac: str
    cidr: Optional[str]                  # '172.16.1.1/24'; None: no address
    mtu: int
    routes: Tuple[str, ...]              # 'default via 172.16.1.254', '10.2.0.0/24 via ...'
    dhcp: bool = False


def attach_spec(topology: Topology, name: str, ifname: str = DEFAULT_IFNAME,
                dhcp: bool = False) -> AttachSpec:
    iface = topology.interfaces.get(name)
    if iface is None:
        raise AttachError(unknown_interface(topology, name))
    if iface.mode == SIMULATED or iface.datapath is None or iface.port is None:
        raise AttachError(f'{topology.source}: interfaces.{name} is {iface.mode}: it has no '
                          'port to attach (the datapath answers for it)')
    network = topology.networks[iface.network]
    cidr = f'{iface.ipv4}/{network.ipv4.prefixlen}' if iface.ipv4 is not None else None
    return AttachSpec(interface=name, datapath=iface.datapath,
                      dpid=topology.datapaths[iface.datapath].dpid, port=iface.port,
                      ifname=ifname, mac=iface.mac, cidr=cidr, mtu=network.mtu,
                      routes=routes(topology, iface.network) if cidr else (), dhcp=dhcp)


def unknown_interface(topology: Topology, name: str) -> str:
    ports = sorted(n for n, i in topology.interfaces.items() if i.port is not None)
    close = difflib.get_close_matches(name, ports, n=1)
    hint = f'did you mean {close[0]}?' if close else \
        f'interfaces with a port: {", ".join(ports[:8]) or "none"}{" ..." if len(ports) > 8 else ""}'
    return f'{topology.source}: no interface {name!r}; {hint}'


def routes(topology: Topology, network: str) -> Tuple[str, ...]:
    """The network's routes through its routers, as DHCP would give them."""
    plan = NetworkPlans(topology).get(network)
    if plan is None or plan.router is None:
        return ()
    if plan.classless_routes:
        return tuple(f'{"default" if p.prefixlen == 0 else p} via {gw}'
                     for p, gw in plan.classless_routes)
    return (f'default via {plan.router.ipv4}',)


def record(spec: AttachSpec, target: Target, pid_start: Optional[int] = None) -> Dict[str, str]:
    """The Interface's external_ids that say who owns it."""
    ids = {ATTACH: str(target), INTERFACE: spec.interface, IFNAME: spec.ifname,
           DHCP: 'true' if spec.dhcp else 'false'}
    if pid_start is not None:
        ids[PID_START] = str(pid_start)
    return ids


def external_ids(row: Dict[str, str]) -> Dict[str, str]:
    """The external_ids of a flattened Interface row."""
    return {k.split(':', 1)[1]: v for k, v in row.items() if k.startswith('external_ids:')}


# -- which bridge -------------------------------------------------------------

def bridge_dpid(row: Dict[str, str]) -> Optional[int]:
    """A bridge's datapath id: the configured one, else the one OVS chose."""
    for key in ('other_config:datapath-id', 'datapath_id'):
        text = row.get(key, '').strip('"')
        try:
            return int(text, 16)
        except ValueError:
            continue
    return None


def pick_bridge(spec: AttachSpec, bridges: Sequence[Dict[str, str]]) -> Dict[str, str]:
    """The bridge of the spec's datapath on this machine: by datapath id,
    preferring the one named as the datapath when several share it."""
    same = [b for b in bridges if bridge_dpid(b) == spec.dpid]
    named = [b for b in same if b['name'] == spec.datapath]
    if named or len(same) == 1:
        return (named or same)[0]
    if same:
        raise AttachError(f'{spec.interface}: bridges {", ".join(b["name"] for b in same)} all have '
                          f'datapath id {spec.dpid:#x} (datapath {spec.datapath}); give one alone')
    here = ', '.join(f'{b["name"]} ({_dpid_text(b)})' for b in bridges) or 'none'
    raise AttachError(f'{spec.interface} is on datapath {spec.datapath} (dpid {spec.dpid:#x}), '
                      f'which has no bridge on this machine (bridges here: {here}); '
                      f'create it with: vnetctl setup {spec.datapath} --apply')


def _dpid_text(row: Dict[str, str]) -> str:
    dpid = bridge_dpid(row)
    return 'no dpid' if dpid is None else f'dpid {dpid:#x}'


# -- DHCP ----------------------------------------------------------------------

def lease_config(env: Dict[str, str], fallback_mtu: int) -> Tuple[Optional[str], List[str], int]:
    """(cidr, routes, mtu) from what udhcpc tells its script (ip, mask, router,
    mtu, staticroutes): staticroutes win over router, as RFC 3442 says."""
    ip, mask = env.get('ip'), env.get('mask') or env.get('subnet')
    if not ip or not mask:
        return None, [], fallback_mtu
    prefix = mask if mask.isdigit() else str(sum(bin(int(o)).count('1') for o in mask.split('.')))
    words = env.get('staticroutes', '').split()
    found = [f'{"default" if dst == "0.0.0.0/0" else dst} via {gw}'
             for dst, gw in zip(words[::2], words[1::2])]
    if not found and env.get('router'):
        found = [f'default via {env["router"].split()[0]}']
    mtu = env.get('mtu', '')
    return f'{ip}/{prefix}', found, int(mtu) if mtu.isdigit() else fallback_mtu
