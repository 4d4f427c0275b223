"""VXLAN between emulated hosts (lab/hosts.py) by hand: flows, and what the wire carries.

``static_vxlan_flows`` / ``install_static_vxlan``: for labs that run no
controller, and the benchmarks' baseline: one L2 network over VXLAN, each
host's br-int programmed with ``ovs-ofctl``.  ``Capture``: a tcpdump on a
host's underlay (``EmulatedHost.tcpdump_underlay``) and the VNIs it saw.
``lab.hosts`` re-exports all three.
"""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from lab.hosts import EmulatedHost, Vm


class Capture:
    """A tcpdump running on a host's ul0 (see EmulatedHost.tcpdump_underlay)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.text = proc, ''

    def wait(self, timeout: float = 10) -> str:
        """Its output once it has its packets, or what it has after ``timeout``."""
        try:
            self.text, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()        # tcpdump prints what it has on SIGTERM
            self.text, _ = self.proc.communicate(timeout=5)
        return self.text

    def vnis(self) -> list[int]:
        """The VXLAN network identifiers seen (``tcpdump -v``: "vni 100")."""
        return [int(v) for v in re.findall(r'\bvni (\d+)', self.text)]


def static_vxlan_flows(vms: Iterable[Vm], vni: int) -> dict[EmulatedHost, list[str]]:
    """Hand-written flows for one L2 network over VXLAN, per host's br-int.

    From a local VM's port: to a local MAC, output there; to a remote MAC,
    VXLAN ``vni`` to its host's tunnel_ip; broadcast (ARP), to the other
    local VMs and, replicated, to every other host with VMs.  From the
    tunnel: only ``vni`` from a known host (tun_src), to local VMs only (no
    loops).  Several networks: one call per network (their VMs' ports differ)."""
    vms = list(vms)
    hosts = list(dict.fromkeys(v.host for v in vms))
    return {h: _host_flows(h, vms, hosts, vni) for h in hosts}


def _host_flows(h: EmulatedHost, vms: list[Vm], hosts: list[EmulatedHost], vni: int) -> list[str]:
    local = [v for v in vms if v.host is h]
    remote_hosts = [o for o in hosts if o is not h]

    def tunnel(dst: EmulatedHost) -> str:
        return f'set_field:{vni}->tun_id,set_field:{dst.tunnel_ip}->tun_dst,output:{h.tunnel_port}'

    flows = []
    for src in local:
        flood = [f'output:{v.port}' for v in local if v is not src] + \
            [tunnel(o) for o in remote_hosts]
        flows.append(f'priority=90,in_port={src.port},dl_dst=ff:ff:ff:ff:ff:ff,'
                     f'actions={",".join(flood) or "drop"}')
        flows += [f'priority=100,in_port={src.port},dl_dst={v.mac},actions='
                  + (f'output:{v.port}' if v.host is h else tunnel(v.host))
                  for v in vms if v is not src]
    for o in remote_hosts:
        match = f'in_port={h.tunnel_port},tun_id={vni},tun_src={o.tunnel_ip}'
        bcast = ','.join(f'output:{v.port}' for v in local) or 'drop'
        flows.append(f'priority=90,{match},dl_dst=ff:ff:ff:ff:ff:ff,actions={bcast}')
        flows += [f'priority=100,{match},dl_dst={v.mac},actions=output:{v.port}' for v in local]
    return flows


def install_static_vxlan(vms: Iterable[Vm], vni: int) -> dict[EmulatedHost, list[str]]:
    """static_vxlan_flows, added to each br-int in one bundle; returns them."""
    flows = static_vxlan_flows(vms, vni)
    for h, fl in flows.items():
        # ovs-ofctl: "-" reads the flows from stdin; --bundle: all or none
        h.ofctl('add-flows', 'br-int', '--bundle', '-', input='\n'.join(fl) + '\n')
    return flows
