"""The dns service's policy: one query in, what to answer.  Pure: no I/O, no
clock, never raises (dnspython parses and builds the messages).

A network with a dns interface is a zone: its `domain_name`, each of its
interfaces with an address as NAME.DOMAIN, the declared `dns_records`, and
the reverse names (PTR) of its own prefix.  `answer(zone, wire)`:

* a name in the domain: A (and ANY) from the interfaces and records; other
  types of a name that exists get no data (NOERROR, the SOA in authority);
  an unknown name gets NXDOMAIN.  Answers are authoritative (AA), TTL 0:
  they follow live edits, so nobody should cache them.
* a PTR name of an address in the network's prefix: the interface's name
  (else the first record with that address), NXDOMAIN for the others.
* anything else: `forward` when the network has dns_upstream, else REFUSED.
* not a query (a response, a short header), or bytes dnspython cannot
  parse: `malformed` (a FORMERR when the header can be answered); an
  opcode other than QUERY: NOTIMP; other than one question: FORMERR.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Tuple

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from controller.topology import DNS, SIMULATED, Interface, Topology

TTL = 0
OUR_PAYLOAD = 1232                  # the EDNS size we offer (the DNS flag day's advice)
CLASSIC_SIZE = 512                  # without EDNS
_HEADER = struct.Struct('!HHHHHH')
_QR, _OPCODE, _RD = 0x8000, 0x7800, 0x0100
_REVERSE = dns.name.from_text('in-addr.arpa.')

# What `answer` decided; the service counts them by these names.
ANSWER, NODATA, NXDOMAIN, REFUSED, FORWARD = 'answer', 'nodata', 'nxdomain', 'refused', 'forward'
FORMERR, NOTIMP, MALFORMED = 'formerr', 'notimp', 'malformed'


@dataclass(frozen=True)
class Zone:
    """What the dns interface of one network answers."""
    network: str
    server: Interface
    origin: dns.name.Name
    addresses: Dict[dns.name.Name, Tuple[str, ...]]     # absolute name -> A records
    nonterminals: FrozenSet[dns.name.Name]             # names that exist only as parents
    pointers: Dict[ipaddress.IPv4Address, dns.name.Name]
    prefix: ipaddress.IPv4Network
    upstreams: Tuple[ipaddress.IPv4Address, ...]
    soa: dns.rrset.RRset


@dataclass(frozen=True)
class Result:
    kind: str
    wire: Optional[bytes]           # the response to send, or None (nothing, or forward)


def build_zone(topology: Topology, network: str) -> Optional[Zone]:
    """The zone of `network`, or None when it has no dns interface (or no domain)."""
    net = topology.networks.get(network)
    members = sorted(topology.interfaces_of(network), key=lambda i: i.name)
    servers = [i for i in members if i.mode == SIMULATED and DNS in i.services and i.ipv4 is not None]
    if net is None or not servers or not net.domain_name:
        return None
    origin = dns.name.from_text(net.domain_name)
    addresses: Dict[dns.name.Name, Tuple[str, ...]] = {}
    pointers: Dict[ipaddress.IPv4Address, dns.name.Name] = {}
    for iface in members:
        name = _name(iface.name, origin)
        if name is not None and iface.ipv4 is not None:
            addresses[name] = (str(iface.ipv4),)
            pointers.setdefault(iface.ipv4, name)
    for record, ips in sorted(net.dns_records):
        name = _name(record, origin)
        if name is None or name in addresses:
            continue
        addresses[name] = tuple(str(ip) for ip in ips)
        for ip in ips:
            if ip in net.ipv4:
                pointers.setdefault(ip, name)
    nonterminals = frozenset(parent for name in addresses for parent in _parents(name, origin))
    soa = dns.rrset.from_text(origin, TTL, 'IN', 'SOA',
                              f'{_name(servers[0].name, origin) or origin} hostmaster.{origin} '
                              f'1 3600 600 86400 {TTL}')
    return Zone(network, servers[0], origin, addresses, nonterminals - set(addresses), pointers,
                net.ipv4, net.dns_upstream, soa)


def _name(label: str, origin: dns.name.Name) -> Optional[dns.name.Name]:
    try:
        return dns.name.from_text(label, origin)
    except dns.exception.DNSException:      # a label over 63 characters: no DNS name for it
        return None


def _parents(name: dns.name.Name, origin: dns.name.Name):
    parent = name.parent()
    while parent != origin and parent.is_subdomain(origin):
        yield parent
        parent = parent.parent()


# -- answering ---------------------------------------------------------------------

def answer(zone: Zone, wire: bytes) -> Result:
    if len(wire) < _HEADER.size or _HEADER.unpack_from(wire)[1] & _QR:
        return Result(MALFORMED, None)          # too short to answer, or a response: ignore
    try:
        query = dns.message.from_wire(wire)
    except Exception:                           # dnspython's errors, and anything else
        return Result(MALFORMED, _formerr(wire))
    if query.opcode() != dns.opcode.QUERY:
        return _reply(query, zone, dns.rcode.NOTIMP, NOTIMP)
    if len(query.question) != 1:
        return _reply(query, zone, dns.rcode.FORMERR, FORMERR)
    question = query.question[0]
    qname, qtype = question.name, question.rdtype
    if question.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
        return _reply(query, zone, dns.rcode.REFUSED, REFUSED)
    if qname.is_subdomain(zone.origin):
        return _forward_zone(query, zone, qname, qtype)
    address = _reverse_address(qname)
    if address is not None and address in zone.prefix:
        return _reverse_zone(query, zone, qname, qtype, address)
    if zone.upstreams:
        return Result(FORWARD, None)
    return _reply(query, zone, dns.rcode.REFUSED, REFUSED)


def _forward_zone(query, zone: Zone, qname, qtype) -> Result:
    found = zone.addresses.get(qname)
    if found is not None and qtype in (dns.rdatatype.A, dns.rdatatype.ANY):
        rrset = dns.rrset.from_text_list(qname, TTL, 'IN', 'A', found)
        return _reply(query, zone, dns.rcode.NOERROR, ANSWER, answer=rrset)
    if qname == zone.origin and qtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
        return _reply(query, zone, dns.rcode.NOERROR, ANSWER, answer=zone.soa)
    if found is not None or qname == zone.origin or qname in zone.nonterminals:
        return _reply(query, zone, dns.rcode.NOERROR, NODATA, authority=zone.soa)
    return _reply(query, zone, dns.rcode.NXDOMAIN, NXDOMAIN, authority=zone.soa)


def _reverse_zone(query, zone: Zone, qname, qtype, address) -> Result:
    target = zone.pointers.get(address)
    if target is None:
        return _reply(query, zone, dns.rcode.NXDOMAIN, NXDOMAIN, authority=zone.soa)
    if qtype not in (dns.rdatatype.PTR, dns.rdatatype.ANY):
        return _reply(query, zone, dns.rcode.NOERROR, NODATA, authority=zone.soa)
    rrset = dns.rrset.from_text(qname, TTL, 'IN', 'PTR', target.to_text())
    return _reply(query, zone, dns.rcode.NOERROR, ANSWER, answer=rrset)


def _reverse_address(qname: dns.name.Name) -> Optional[ipaddress.IPv4Address]:
    """The address of d.c.b.a.in-addr.arpa., or None for any other name."""
    if len(qname.labels) != 7 or not qname.is_subdomain(_REVERSE):
        return None
    try:
        octets = [int(label) for label in reversed(qname.labels[:4])]
    except ValueError:
        return None
    if not all(0 <= o <= 255 for o in octets) or \
            any(str(o).encode() != label for o, label in zip(octets, reversed(qname.labels[:4]))):
        return None
    return ipaddress.IPv4Address('.'.join(map(str, octets)))


def _reply(query, zone: Zone, rcode: dns.rcode.Rcode, kind: str, answer=None, authority=None) -> Result:
    response = dns.message.make_response(query, recursion_available=bool(zone.upstreams),
                                         our_payload=OUR_PAYLOAD)
    response.set_rcode(rcode)
    if kind in (ANSWER, NODATA, NXDOMAIN):
        response.flags |= dns.flags.AA
    if answer is not None:
        response.answer.append(answer)
    if authority is not None:
        response.authority.append(authority)
    limit = max(query.payload, CLASSIC_SIZE) if query.edns >= 0 else CLASSIC_SIZE
    try:
        return Result(kind, response.to_wire(max_size=limit))
    except dns.exception.TooBig:                # many addresses: truncated, as RFC 1035 says
        response.answer.clear()
        response.authority.clear()
        response.flags |= dns.flags.TC
        return Result(kind, response.to_wire(max_size=limit))


def _formerr(wire: bytes) -> bytes:
    """FORMERR for a query whose header reads but whose body does not: the
    header alone, with the query's id, opcode and RD."""
    ident, flags = _HEADER.unpack_from(wire)[:2]
    flags = _QR | (flags & (_OPCODE | _RD)) | dns.rcode.FORMERR
    return _HEADER.pack(ident, flags, 0, 0, 0, 0)


def servfail(wire: bytes) -> bytes:
    """SERVFAIL for a forwarded query no upstream answered in time (its
    question echoed when it parses, which it did when it was forwarded)."""
    try:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query, recursion_available=True,
                                             our_payload=OUR_PAYLOAD)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()
    except Exception:
        ident, flags = _HEADER.unpack_from(wire)[:2]
        return _HEADER.pack(ident, _QR | (flags & (_OPCODE | _RD)) | 0x80 | dns.rcode.SERVFAIL,
                            0, 0, 0, 0)


class Zones:
    """The zones of one (immutable) topology, each built on first use."""

    def __init__(self, topology: Topology):
        self.topology = topology
        self._zones: Dict[str, Optional[Zone]] = {}

    def get(self, network: str) -> Optional[Zone]:
        if network not in self._zones:
            self._zones[network] = build_zone(self.topology, network)
        return self._zones[network]
