"""How the multi-host demo lays a topology out on emulated hosts (lab/hosts.py).

Pure: no root, no processes.  One emulated host per datapath, at exactly the
datapath's ``tunnel_ip`` (addresses in one /24 share an underlay subnet; more
than one /24 brings the underlay router); one VM per node (vif and host
interfaces, as in the Mininet demo), whose veth's host end is the node's
``port`` on that host's br-int.  ``problems`` says what stops a topology from
being built this way; ``lab_names`` turns topology names into the lower-case
names the lab's namespaces and interfaces need.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Dict, Iterable, List

from controller.topology import Interface, Topology
from lab.demo.plan import nodes, port_problems
from lab.hosts import ROUTER_HOST, SUBNET_PREFIXLEN

#: Interfaces every emulated host has already (in its own namespace).
HOST_INTERFACES = ('lo', 'br-int', 'br-phy', 'ul0', 'mgmt0', 'ovs-netdev')
#: The lab's management network (controller <-> hosts) takes a /24 of this.
MGMT_RANGE = ipaddress.IPv4Network('198.19.0.0/16')


def problems(topology: Topology) -> List[str]:
    """What stops the topology from becoming emulated hosts (empty: nothing)."""
    found = [] if nodes(topology) else ['no vif or host interfaces: nothing to build']
    for dp in sorted(topology.datapaths.values(), key=lambda d: d.name):
        where = f'datapaths.{dp.name}'
        if dp.tunnel_ip is None:
            found.append(f'{where}.tunnel_ip: missing; this demo builds one emulated host per datapath, '
                         f'at its tunnel_ip (for a topology on one machine: mininet/vnet_mininet.py --demo)')
        else:
            found += [f'{where}.tunnel_ip: {dp.tunnel_ip} {why}' for why in _underlay_problems(dp.tunnel_ip)]
        if dp.tunnel_port in HOST_INTERFACES:
            found.append(f'{where}.tunnel_port: {dp.tunnel_port!r} is a name every emulated host uses '
                         f'itself ({", ".join(HOST_INTERFACES)})')

    def taken(iface: Interface) -> Dict[str, str]:
        names = {name: 'is a name every emulated host uses itself' for name in HOST_INTERFACES}
        dp = topology.datapaths.get(str(iface.datapath))
        return {**names, dp.tunnel_port: f'is the tunnel port of datapath {dp.name}'} if dp else names

    return found + port_problems(topology, taken, 'an emulated host', per_datapath=True)


def _underlay_problems(ip: ipaddress.IPv4Address) -> List[str]:
    subnet = ipaddress.IPv4Network(f'{ip}/{SUBNET_PREFIXLEN}', strict=False)
    if ip.is_loopback or ip.is_multicast or ip.is_link_local or ip.is_unspecified or ip.is_reserved:
        return ['cannot be an underlay address (loopback, multicast, link-local or reserved)']
    if ip in MGMT_RANGE:
        return [f'is in {MGMT_RANGE}, which the lab keeps for its management network']
    if ip in (subnet.network_address, subnet.broadcast_address):
        return [f'is the network or broadcast address of its underlay subnet {subnet}']
    if ip == subnet.network_address + ROUTER_HOST:
        return [f'is .{ROUTER_HOST} of {subnet}, the underlay router\'s address']
    return []


def underlay_subnets(topology: Topology) -> List[ipaddress.IPv4Network]:
    """The underlay's /24s, in order of first use by the datapaths (sorted by name)."""
    nets = [ipaddress.IPv4Network(f'{dp.tunnel_ip}/{SUBNET_PREFIXLEN}', strict=False)
            for _, dp in sorted(topology.datapaths.items()) if dp.tunnel_ip is not None]
    return list(dict.fromkeys(nets))


def lab_names(names: Iterable[str], limit: int, fallback: str) -> Dict[str, str]:
    """Topology name -> a distinct lab name: ``[a-z][a-z0-9]*``, at most
    ``limit`` characters (the lab's namespace and interface names need it).
    Lower-cased, other characters dropped; ``fallback`` + a number when
    nothing is left or the name is taken."""
    out: Dict[str, str] = {}
    for n, name in enumerate(names, 1):
        base = re.sub(r'[^a-z0-9]', '', name.lower()).lstrip('0123456789')[:limit]
        cand, k = base or f'{fallback}{n}', 1
        while cand in out.values():
            suffix = str(k)
            cand, k = (base or fallback)[:limit - len(suffix)] + suffix, k + 1
        out[name] = cand
    return out
