"""Next hops on physical networks that the topology does not list.

A packet routed towards an unknown address comes here: the router
interface asks for it by ARP out of the network's host ports (with
back-off, see resolver.py).  The answer comes back as an ARP reply to the
router, and becomes an idle-expiring next-hop flow of its own cookie tag.
"""
from __future__ import annotations

import logging
from typing import List

from controller.packets.arp import arp_request, parse_arp
from controller.packets.constants import ARP_REPLY
from controller.packets.ipv4 import parse_ipv4
from controller.pipeline.flows import LEARNED_COOKIE_TAG
from controller.pipeline.nexthop import LEARNED_IDLE_SECONDS, learned_next_hop
from controller.services.actions import Action, InstallFlow, SendFrame
from controller.services.registry import PacketIn, worth_logging
from controller.services.resolver import Resolver
from controller.topology import routing


class NextHopService:
    def __init__(self, log: logging.Logger):
        self.log = log
        self.resolver = Resolver()
        self.refused = 0            # ARP replies not learned (poisoning attempts, stale answers)

    def resolve(self, packet: PacketIn) -> List[Action]:
        """An unknown next hop: ARP for it from the router interface."""
        network, topology = packet.network, packet.topology
        info = parse_ipv4(packet.frame)
        if network is None or info is None:
            return []
        found = routing.route_for_destination(topology, network.name, info.dst)
        if not found:
            return []
        router, hop = found
        if not self.resolver.should_ask((packet.switch.dpid, network.vni, hop), packet.now):
            return []
        self.log.info('%s: resolving %s in %s by ARP from %s', packet.switch.label, hop,
                      network.name, router.name)
        request = arp_request(router.mac, router.ipv4, hop)
        return [SendFrame(port, request) for port in packet.switch.host_ports(topology, network.name)]

    def learn(self, packet: PacketIn) -> List[Action]:
        """An ARP reply to a router interface: a next hop to install, if it
        answers a question we are still waiting on, names a unicast MAC, and
        came in from the LAN (a host port of the network)."""
        network = packet.network
        arp = parse_arp(packet.frame)
        if network is None or arp is None or arp.op != ARP_REPLY or arp.spa not in network.ipv4:
            return []
        router = routing.router_by_mac(packet.topology, network.name, arp.tha)
        if router is None or router.ipv4 != arp.tpa:
            return []
        key = (packet.switch.dpid, network.vni, arp.spa)
        why_not = self._suspicious(packet, arp, key)
        if why_not:
            self.refused += 1
            if worth_logging(self.refused):
                self.log.warning('%s: not learning %s is-at %s in %s: %s (#%d)', packet.switch.label,
                                 arp.spa, arp.sha, network.name, why_not, self.refused)
            return []
        self.resolver.answered(key)
        self.log.info('%s: learned %s is-at %s in %s', packet.switch.label, arp.spa, arp.sha,
                      network.name)
        flow = learned_next_hop(network.vni, arp.spa, arp.sha)
        return [InstallFlow(flow, LEARNED_COOKIE_TAG | int(arp.spa), LEARNED_IDLE_SECONDS)]

    def _suspicious(self, packet: PacketIn, arp, key) -> str:
        """Why an ARP reply must not become a next hop ('' if it may)."""
        first = int(arp.sha.split(':')[0], 16)
        if first & 1 or arp.sha == '00:00:00:00:00:00':
            return 'not a unicast MAC'
        if not self.resolver.is_waiting(key, packet.now):
            return 'nobody asked (an unsolicited reply)'
        assert packet.network is not None       # checked by the caller
        if packet.in_port not in packet.switch.host_ports(packet.topology, packet.network.name):
            return f'it came from port {packet.in_port}, not from the LAN'
        return ''
