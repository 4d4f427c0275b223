"""Bringing one attachment to its spec: the veth, both ends, the OVS port.

`converge` reads what is there, refuses (before changing anything) when a
name it needs is taken by something else, then changes only what differs
and returns a line per change: run twice, the second run returns [].

On the userspace datapath, TX checksum offload must be off on both veth
ends, or TCP and UDP between namespaces silently fail (ping works either
way; DESIGN.md).
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Dict, List, Optional

from controller.cli import system
from controller.cli.attach_plan import ATTACH, INTERFACE, PID_START, AttachError, AttachSpec, external_ids, lease_config
from controller.cli.system import Netns, run, vsctl

STALE_WAIT = 3.0        # seconds for a veth of a dead namespace to go

#: udhcpc's script: print what it was given on `bound`, configure nothing
#: itself (its stock script would rewrite the machine's /etc/resolv.conf).
UDHCPC_SCRIPT = '''#!/bin/sh
[ "$1" = bound ] || exit 0
for v in ip mask subnet router mtu staticroutes dns; do eval "echo vnet-$v=\\$$v"; done
'''


def _paired(outer: Optional[dict], inner: Optional[dict]) -> bool:
    """Are `outer` (this namespace) and `inner` the two ends of one veth?"""
    return bool(outer and inner and outer.get('linkinfo', {}).get('info_kind') == 'veth'
                and outer.get('link_index') == inner.get('ifindex')
                and inner.get('link_index') == outer.get('ifindex'))


def check(spec: AttachSpec, ns: Netns, bridge: str, ids: Dict[str, str]) -> bool:
    """AttachError when the port or the namespace end is taken by something else.
    True when the port is our own veth from the target's previous namespace (a
    restarted container, a namespace deleted and re-created: the kernel tears the
    old one down asynchronously, so its veth may still be here a moment)."""
    outer, inner = system.link(spec.port), system.link(spec.ifname, ns)
    stale = bool(outer) and not _paired(outer, inner) and _recorded(spec.port, ids)
    if outer and not _paired(outer, inner) and not stale:
        raise AttachError(f'{spec.interface}: interface {spec.port} exists already and is not the '
                          f'peer of {spec.ifname} in {ns.label}; if it was attached elsewhere, '
                          f'run vnetctl detach {spec.interface} first')
    if inner and (stale or not outer):
        raise AttachError(f'{spec.interface}: {ns.label} already has an interface {spec.ifname}; '
                          'choose another name with --ifname')
    held_by = system.port_bridge(spec.port)
    if held_by not in (None, bridge):
        raise AttachError(f'{spec.interface}: port {spec.port} is on bridge {held_by}, but '
                          f'datapath {spec.datapath} is bridge {bridge}; vnetctl detach '
                          f'{spec.interface} first')
    return stale


def _recorded(port: str, ids: Dict[str, str]) -> bool:
    """Does OVS record `port` as attached to this very target, for this interface?"""
    rows = system.find('Interface', ('name', 'external_ids'), f'name={port}')
    have = external_ids(rows[0]) if rows else {}
    return all(have.get(k) == ids.get(k) for k in (ATTACH, INTERFACE, PID_START))


def _remove_stale(port: str) -> None:
    system.run(['ip', 'link', 'del', 'dev', port], check=False)   # may be going by itself
    deadline = time.monotonic() + STALE_WAIT
    while system.link(port) is not None:
        if time.monotonic() > deadline:
            raise AttachError(f'{port}, left from a previous namespace, is still there after '
                              f'{STALE_WAIT:g} s')
        time.sleep(0.05)


def converge(spec: AttachSpec, ns: Netns, bridge: str, userspace: bool,
             ids: Dict[str, str]) -> List[str]:
    done: List[str] = []
    if check(spec, ns, bridge, ids):
        _remove_stale(spec.port)
        done.append(f'removed {spec.port}, left from the previous namespace of {ns.label}')
    if system.link(spec.port) is None:
        run(['ip', 'link', 'add', spec.port, 'mtu', str(spec.mtu), 'type', 'veth', 'peer',
             'name', spec.ifname, 'mtu', str(spec.mtu), 'netns', ns.ip_arg])
        # the bridge end carries no addresses: no IPv6 chatter from it
        run(['sysctl', '-qw', f'net.ipv6.conf.{spec.port}.disable_ipv6=1'], check=False)
        done.append(f'created veth {spec.port} <-> {spec.ifname} in {ns.label}')
        if system.port_bridge(spec.port) is not None:
            # the port outlived its device (a reboot, a deleted namespace): on the
            # userspace datapath OVS keeps sending to the old device, so plug anew
            vsctl('--if-exists', 'del-port', spec.port)
    done += _links(spec, ns, userspace)
    if not spec.dhcp:
        done += _addresses(spec.ifname, ns, [spec.cidr] if spec.cidr else [], spec.routes)
    done += _plug(spec, bridge, ids)
    if spec.dhcp and not system.addresses(spec.ifname, ns):
        done += _dhcp(spec, ns)
    return done


def _links(spec: AttachSpec, ns: Netns, userspace: bool) -> List[str]:
    """MAC, MTU, TX checksum offload and link state of both ends."""
    done = []
    inner, outer = system.link(spec.ifname, ns) or {}, system.link(spec.port) or {}
    if inner.get('address', '').lower() != spec.mac:
        run(ns.argv(['ip', 'link', 'set', 'dev', spec.ifname, 'address', spec.mac]))
        done.append(f'{spec.ifname}: MAC {spec.mac}')
    for end, info, where in ((spec.ifname, inner, ns), (spec.port, outer, None)):
        if info.get('mtu') != spec.mtu:
            run(system.in_netns(where, ['ip', 'link', 'set', 'dev', end, 'mtu', str(spec.mtu)]))
            done.append(f'{end}: MTU {spec.mtu}')
        if userspace and system.tx_checksum_on(end, where):
            run(system.in_netns(where, ['ethtool', '-K', end, 'tx', 'off']))
            done.append(f'{end}: TX checksum offload off (userspace datapath)')
        if 'UP' not in info.get('flags', []):
            run(system.in_netns(where, ['ip', 'link', 'set', 'dev', end, 'up']))
            done.append(f'{end}: up')
    return done


def _addresses(ifname: str, ns: Netns, want: List[str], routes) -> List[str]:
    """Exactly the wanted IPv4 addresses on `ifname`, and the routes."""
    done = []
    have = system.addresses(ifname, ns)
    for cidr in have:
        if cidr not in want:
            run(ns.argv(['ip', 'addr', 'del', cidr, 'dev', ifname]))
            done.append(f'{ifname}: removed {cidr}')
    for cidr in want:
        if cidr not in have:
            run(ns.argv(['ip', 'addr', 'add', cidr, 'dev', ifname]))
            done.append(f'{ifname}: address {cidr}')
    present = system.routes(ifname, ns)
    for route in routes:
        if route not in present:
            run(ns.argv(['ip', 'route', 'replace', *route.split(), 'dev', ifname]))
            done.append(f'{ifname}: route {route}')
    return done


def _plug(spec: AttachSpec, bridge: str, ids: Dict[str, str]) -> List[str]:
    """The port on the bridge, carrying the ownership record."""
    sets = [f'external_ids:{k}={v}' for k, v in ids.items()]
    if system.port_bridge(spec.port) is None:
        vsctl('--may-exist', 'add-port', bridge, spec.port, '--', 'set', 'Interface', spec.port, *sets)
        return [f'plugged {spec.port} into bridge {bridge}']
    rows = system.find('Interface', ('name', 'external_ids'), f'name={spec.port}')
    have = external_ids(rows[0]) if rows else {}
    if any(have.get(k) != v for k, v in ids.items()):
        vsctl('set', 'Interface', spec.port, *sets)
        return [f'{spec.port}: recorded {ids["vnet-attach"]}']
    return []


def _dhcp(spec: AttachSpec, ns: Netns) -> List[str]:
    """Ask the network's DHCP server (udhcpc inside), then configure its answer."""
    fd, script = tempfile.mkstemp(prefix='vnetctl-udhcpc-', suffix='.sh')
    try:
        os.write(fd, UDHCPC_SCRIPT.encode())
        os.close(fd)
        os.chmod(script, 0o700)
        cp = run(ns.argv(['udhcpc', '-i', spec.ifname, '-f', '-n', '-q', '-t', '4', '-T', '1',
                          '-A', '1', '-s', script]), check=False, timeout=20)
    finally:
        os.unlink(script)
    env = dict(line[len('vnet-'):].split('=', 1) for line in cp.stdout.splitlines()
               if line.startswith('vnet-') and '=' in line)
    cidr, routes, _ = lease_config(env, spec.mtu)   # its MTU is the topology's: set already
    if cidr is None:
        raise AttachError(f'{spec.interface}: no DHCP answer on {spec.ifname} in {ns.label} '
                          '(is the controller running, with a dhcp interface in the network?)')
    done = [f'{spec.ifname}: DHCP lease {cidr}' + (f', DNS {env["dns"]}' if env.get('dns') else '')]
    return done + _addresses(spec.ifname, ns, [cidr], routes)
