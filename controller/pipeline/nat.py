"""Tables NAT_IN (25, 26) and NAT_OUT (32, 33): NAT at the edge of a route link.

A route link's `nat` rules (controller.topology.nat) translate between
inside addresses and outside addresses on a physical network, the edge,
where a router interface E of the link sits.

Both kinds go through conntrack in the route link's zone, so ICMP errors
about a connection (port unreachable, time exceeded from beyond) are
translated, outer and inner headers, as OVS's userspace conntrack does for
related packets.

Before routing, for packets from the LAN to E's MAC (tables 25, 26):
  every outside address: ct(zone, nat) un-translates packets of known
           connections; table 26 lets established and related ones on to L3.
  1:1      a new connection to a floating IP is committed with
           nat(dst=inside), then L3 routes it inside like any packet.
  anything else is dropped (NAT_NO_CONNECTION: to a source-NAT address
           that nobody inside connected from, or invalid).
  TTL <= 1 goes to L3 untranslated, which punts it: the time exceeded the
           router sends quotes the packet the sender sent.
After routing, for packets L3 sends out of E (tables 32, 33):
  ct(commit, zone, nat(src=outside)): a new connection from inside takes
           the rule's outside address (1:1: its own; many:1: shared, ports
           as needed); replies of a floating IP's inbound connections get
           their source translated back.  Table 33 lets on only what the
           tracker translated (NAT_UNTRANSLATED otherwise: an inside address
           never leaves on the LAN).
NAT happens only on datapaths with an uplink of the edge's LAN, where the
LAN's answers come in and so the connection's state must be: elsewhere a
packet that needs NAT is dropped (NAT_NO_UPLINK) instead of leaving with
state nobody will find.
The longest inside prefix wins, so a 1:1 rule beats the many:1 rule of its
network.  OVS rewrites the TCP/UDP checksums with the addresses.  Each
route link has its own conntrack zone (0x8000-0xffff, from its name), so
overlapping inside networks behind one edge (one route link each) keep
their connections apart; E's MAC tells the links apart on the LAN, since
the router answers ARP for each outside address with its own link's E.
"""
from __future__ import annotations

from typing import Iterator, List, Set, Tuple

from controller.packets.constants import ETH_TYPE_IP
from controller.pipeline import tables
from controller.pipeline.conntrack import Ct, Nat, state
from controller.pipeline.context import DatapathView
from controller.pipeline.drops import Drop
from controller.pipeline.flows import CtClear, Flow, flow
from controller.topology.model import HOST, Interface
from controller.topology.model import Nat as NatRule
from controller.topology.nat import edge_rules, nat_zone

TTL_PRIORITY, RULE_BASE_PRIORITY, PASS_PRIORITY, NEW_PRIORITY = 300, 100, 100, 200


def nat_links(view: DatapathView) -> List[str]:
    """Route links with NAT rules that route on this datapath."""
    return [link for link in view.local_links if view.topology.route_links[link].nat]


def nat_in_here(view: DatapathView) -> bool:
    """Whether a NAT edge's LAN has an uplink here (its packets to outside addresses enter here)."""
    rules = list(_rules_here(view))          # none on most datapaths: skip the port scan
    return bool(rules) and bool({edge.network for _, _, edge in rules} & uplink_networks(view))


def services_goto(view: DatapathView) -> int:
    """Where the services stage hands packets on: through NAT_IN only where it has work."""
    return tables.NAT_IN if nat_in_here(view) else tables.L3


def routed_goto(view: DatapathView, link: str, out: Interface) -> int:
    """Where L3 hands a packet routed out of `out`: NAT_OUT if `out` is a NAT edge."""
    if any(edge == out for _, edge in edge_rules(view.topology, link)):
        return tables.NAT_OUT
    return tables.NEXTHOP


def _rules_here(view: DatapathView) -> Iterator[Tuple[str, NatRule, Interface]]:
    for link in nat_links(view):
        for rule, edge in edge_rules(view.topology, link):
            yield link, rule, edge


# -- before routing ------------------------------------------------------------

def nat_in_flows(view: DatapathView) -> Iterator[Flow]:
    # Every table ends in a flow that matches everything, used or not.
    yield flow(tables.NAT_IN, 0, goto=tables.L3)
    yield flow(tables.NAT_IN_CT, 0, drop=Drop.NAT_NO_CONNECTION)
    yield flow(tables.NAT_IN_DNAT, 0, goto=tables.L3)
    if not nat_in_here(view):
        return
    # est, rel; and new+dnat: a floating IP's connection, committed, before its first reply
    for ct_bits in (state(trk=1, est=1), state(trk=1, rel=1), state(trk=1, new=1, dnat=1)):
        yield flow(tables.NAT_IN_CT, PASS_PRIORITY, goto=tables.L3, eth_type=ETH_TYPE_IP,
                   ct_state=ct_bits)
    edges, uplinks = set(), uplink_networks(view)
    for link, rule, edge in _rules_here(view):
        if edge.network not in uplinks:
            continue
        to_outside = dict(metadata=view.vni(edge.network), eth_dst=edge.mac, eth_type=ETH_TYPE_IP,
                          ipv4_dst=str(rule.outside))
        yield flow(tables.NAT_IN, RULE_BASE_PRIORITY,
                   (CtClear(), Ct(zone=nat_zone(link), table=tables.NAT_IN_CT, nat=Nat())),
                   **to_outside)
        if rule.one_to_one:     # a new connection to a floating IP: destination NAT, committed
            # recirculated: flows after a ct() without a table see the packet untranslated
            dnat = Ct(commit=True, zone=nat_zone(link), table=tables.NAT_IN_DNAT,
                      nat=Nat('dst', str(rule.inside.network_address)))
            yield flow(tables.NAT_IN_CT, NEW_PRIORITY, (dnat,), ct_state=state(trk=1, new=1),
                       **to_outside)
        edges.add(edge)
    for edge in sorted(edges, key=lambda e: e.name):
        for ttl in (0, 1):
            yield flow(tables.NAT_IN, TTL_PRIORITY, goto=tables.L3, metadata=view.vni(edge.network),
                       eth_dst=edge.mac, eth_type=ETH_TYPE_IP, nw_ttl=ttl)


# -- after routing -------------------------------------------------------------

def nat_out_flows(view: DatapathView) -> Iterator[Flow]:
    yield flow(tables.NAT_OUT, 0, goto=tables.NEXTHOP)
    yield flow(tables.NAT_OUT_CT, 0, drop=Drop.NAT_UNTRANSLATED)
    rules = list(_rules_here(view))
    if not rules:
        return
    uplinks = uplink_networks(view)
    for translated in (state(trk=1, snat=1), state(trk=1, dnat=1)):   # dnat: a floating IP's replies
        yield flow(tables.NAT_OUT_CT, PASS_PRIORITY, goto=tables.NEXTHOP, eth_type=ETH_TYPE_IP,
                   ct_state=translated)
    for link, rule, edge in rules:
        inside = rule.inside
        from_inside = dict(metadata=view.vni(edge.network), eth_src=edge.mac, eth_type=ETH_TYPE_IP,
                           ipv4_src=(str(inside.network_address), str(inside.netmask)))
        if rule.one_to_one:
            from_inside['ipv4_src'] = str(inside.network_address)
        if edge.network not in uplinks:
            yield flow(tables.NAT_OUT, RULE_BASE_PRIORITY + inside.prefixlen, drop=Drop.NAT_NO_UPLINK,
                       **from_inside)
            continue
        snat = Ct(commit=True, zone=nat_zone(link), table=tables.NAT_OUT_CT,
                  nat=Nat('src', str(rule.outside)))
        yield flow(tables.NAT_OUT, RULE_BASE_PRIORITY + inside.prefixlen, (CtClear(), snat),
                   **from_inside)


def uplink_networks(view: DatapathView) -> Set[str]:
    """Physical networks with a host port (an uplink) on this datapath.  NAT
    runs only there: conntrack state lives in one datapath, and the LAN's
    packets come in through an uplink."""
    return {view.interface(name).network for name in view.local if view.interface(name).mode == HOST}


# -- ARP for outside addresses -----------------------------------------------------

def outside_arp(view: DatapathView) -> Iterator[Tuple[int, str, str]]:
    """(VNI, MAC, address) for each outside address whose physical network
    has an uplink here: the services stage answers ARP for it with the MAC of
    its link's edge interface, in the datapath."""
    rules = list(_rules_here(view))
    uplinks = uplink_networks(view) if rules else set()
    for _, rule, edge in rules:
        if edge.network in uplinks:
            yield view.vni(edge.network), edge.mac, str(rule.outside)
