"""The dns service's answers (names, PTR, NXDOMAIN, REFUSED, malformed), its
frames, its punt in the pipeline, and forwarding with a timeout."""
import ipaddress
import logging
import os
import random
import socket
import threading
import time
import types

import dns.flags
import dns.message
import dns.rcode
import pytest

from controller.openflow.ofsim import FakeSwitch
from controller.packets import dhcp as dhcp_packet
from controller.packets.dhcp import build_frame
from controller.packets.udp import parse_udp
from controller.pipeline import compile_datapath
from controller.pipeline.dns import dns_meter
from controller.pipeline.flows import OFPP_CONTROLLER
from controller.pipeline.punt import REASON_REG, Reason
from controller.services import PacketIn, build_registry
from controller.services.actions import SendFrame
from controller.services.dhcp_plan import NetworkPlans
from controller.services.dns import DnsService
from controller.services.dns_forward import Forwarder
from controller.services.dns_zone import Zones, answer
from controller.topology import validate_text

LOG = logging.getLogger('test-dns')
TOPOLOGY = """\
datapaths:
  br0: {dpid: 1}
networks:
  net1:
    ipv4: 172.16.1.0/24
    domain_name: net1.internal
    dns_records:
      www: 172.16.1.80
      api.v2: [172.16.1.81, 192.0.2.7]
  net2:
    ipv4: 172.16.2.0/24
    domain_name: net2.internal
interfaces:
  vm1: {network: net1, mac: "52:54:00:00:00:01", ipv4: 172.16.1.1, datapath: br0, port: p1}
  vm2: {network: net2, mac: "52:54:00:00:00:02", ipv4: 172.16.2.1, datapath: br0, port: p2}
  dns1: {network: net1, mode: simulated, mac: "52:54:00:00:00:53", ipv4: 172.16.1.53, services: [dns, dhcp]}
  dns2: {network: net2, mode: simulated, mac: "52:54:00:00:02:53", ipv4: 172.16.2.53, services: [dns]}
"""
WITH_UPSTREAM = TOPOLOGY.replace('    domain_name: net2.internal\n',
                                 '    domain_name: net2.internal\n    dns_upstream: [127.0.0.1]\n')


def zone(text=TOPOLOGY, network='net1'):
    return Zones(validate_text(text, 't.yml')).get(network)


def ask(z, name, rdtype='A'):
    result = answer(z, dns.message.make_query(name, rdtype).to_wire())
    return result.kind, (dns.message.from_wire(result.wire) if result.wire else None)


def rdata(response):
    return sorted(r.to_text() for rrset in response.answer for r in rrset)


# -- the zone ----------------------------------------------------------------------

def test_an_interface_is_answered_as_its_name_in_the_network_domain_case_insensitively():
    for name in ('vm1.net1.internal', 'VM1.Net1.Internal.'):
        kind, response = ask(zone(), name)
        assert (kind, response.rcode(), rdata(response)) == ('answer', dns.rcode.NOERROR, ['172.16.1.1'])
        assert response.flags & dns.flags.AA and response.answer[0].ttl == 0


def test_declared_records_are_answered_with_all_their_addresses():
    assert rdata(ask(zone(), 'www.net1.internal')[1]) == ['172.16.1.80']
    assert rdata(ask(zone(), 'api.v2.net1.internal')[1]) == ['172.16.1.81', '192.0.2.7']


def test_ptr_names_the_interface_of_an_address_and_a_record_when_no_interface_has_it():
    assert rdata(ask(zone(), '1.1.16.172.in-addr.arpa', 'PTR')[1]) == ['vm1.net1.internal.']
    assert rdata(ask(zone(), '80.1.16.172.in-addr.arpa', 'PTR')[1]) == ['www.net1.internal.']


def test_unknown_names_in_the_domain_and_unknown_addresses_of_the_prefix_are_nxdomain():
    for name, rdtype in (('nope.net1.internal', 'A'), ('vm2.net1.internal', 'A'),
                         ('9.1.16.172.in-addr.arpa', 'PTR')):
        kind, response = ask(zone(), name, rdtype)
        assert (kind, response.rcode()) == ('nxdomain', dns.rcode.NXDOMAIN)
        assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_another_type_of_an_existing_name_and_an_empty_parent_are_nodata_not_nxdomain():
    for name, rdtype in (('vm1.net1.internal', 'AAAA'), ('v2.net1.internal', 'A'), ('net1.internal', 'A')):
        kind, response = ask(zone(), name, rdtype)
        assert (kind, response.rcode(), response.answer) == ('nodata', dns.rcode.NOERROR, [])


def test_a_network_sees_only_its_own_interfaces():
    assert ask(zone(network='net2'), 'vm2.net2.internal')[0] == 'answer'
    assert ask(zone(network='net2'), 'vm1.net2.internal')[0] == 'nxdomain'


def test_names_outside_the_zone_are_refused_without_upstreams_and_forwarded_with_them():
    kind, response = ask(zone(), 'example.com')
    assert (kind, response.rcode()) == ('refused', dns.rcode.REFUSED)
    assert not response.flags & dns.flags.RA
    assert ask(zone(WITH_UPSTREAM, 'net2'), 'example.com') == ('forward', None)
    assert ask(zone(WITH_UPSTREAM, 'net2'), '1.1.16.172.in-addr.arpa', 'PTR')[0] == 'forward'


def test_malformed_queries_are_counted_never_raise_and_get_formerr_when_the_header_reads():
    z = zone()
    rng = random.Random(14)
    for _ in range(300):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        result = answer(z, junk)
        assert result.kind in ('malformed', 'formerr', 'notimp', 'refused', 'answer', 'nxdomain',
                               'nodata'), result
    assert answer(z, b'\x12').kind == 'malformed'
    query = dns.message.make_query('vm1.net1.internal', 'A').to_wire()
    result = answer(z, query[:-3])                      # the question cut short
    assert result.kind == 'malformed'
    assert dns.message.from_wire(result.wire).rcode() == dns.rcode.FORMERR
    response = bytearray(query)
    response[2] |= 0x80                                 # a response sent to the server: ignored
    ignored = answer(z, bytes(response))
    assert (ignored.kind, ignored.wire) == ('malformed', None)


def test_other_opcodes_are_notimp():
    query = dns.message.make_query('vm1.net1.internal', 'A')
    query.set_opcode(dns.opcode.STATUS)
    assert answer(zone(), query.to_wire()).kind == 'notimp'


# -- the service: frames, live edits, counters --------------------------------------

class Port:
    label, dpid = 'br0 (dpid 0x1)', 1


def packet(topology, payload, network='net1', src=('52:54:00:00:00:01', '172.16.1.1'), sport=40000,
           dst='172.16.1.53', waited=0.0):
    frame = build_frame(src[0], '52:54:00:00:00:53', src[1], dst, sport, 53, payload)
    return PacketIn(topology, Port(), 1, topology.networks[network], frame, time.monotonic(), waited)


def test_the_answer_goes_back_out_of_the_port_from_the_dns_interface_to_the_client():
    topology = validate_text(TOPOLOGY, 't.yml')
    query = dns.message.make_query('www.net1.internal', 'A')
    [action] = DnsService(LOG)(packet(topology, query.to_wire()))
    assert isinstance(action, SendFrame) and action.port == 1
    reply = parse_udp(action.frame)
    assert (reply.src_mac, str(reply.src), reply.sport) == ('52:54:00:00:00:53', '172.16.1.53', 53)
    assert (str(reply.dst), reply.dport) == ('172.16.1.1', 40000)
    assert dhcp_packet.checksums_ok(action.frame)
    response = dns.message.from_wire(reply.payload)
    assert response.id == query.id and rdata(response) == ['172.16.1.80']


def test_answers_follow_a_live_edit_at_once_though_the_same_question_was_remembered():
    service = DnsService(LOG)
    query = dns.message.make_query('vm3.net1.internal', 'A').to_wire()
    before = validate_text(TOPOLOGY, 't.yml')
    for _ in range(2):
        [action] = service(packet(before, query))
        assert dns.message.from_wire(parse_udp(action.frame).payload).rcode() == dns.rcode.NXDOMAIN
    vm3 = '  vm3: {network: net1, mac: "52:54:00:00:00:03", ipv4: 172.16.1.3, datapath: br0, port: p3}\n'
    after = validate_text(TOPOLOGY + vm3, 't.yml')
    [action] = service(packet(after, query))
    assert rdata(dns.message.from_wire(parse_udp(action.frame).payload)) == ['172.16.1.3']
    assert service.counts == {'nxdomain': 2, 'answer': 1}


def test_a_repeated_question_with_a_new_id_gets_its_own_id_back():
    service = DnsService(LOG)
    topology = validate_text(TOPOLOGY, 't.yml')
    for ident in (1, 2, 0xbeef):
        query = dns.message.make_query('vm1.net1.internal', 'A', id=ident)
        [action] = service(packet(topology, query.to_wire()))
        assert dns.message.from_wire(parse_udp(action.frame).payload).id == ident


def test_a_repeat_is_answered_from_memory_as_the_handler_would_until_the_topology_changes():
    service = DnsService(LOG)
    topology = validate_text(TOPOLOGY, 't.yml')
    net1 = topology.networks['net1']
    first = packet(topology, dns.message.make_query('vm1.net1.internal', 'A', id=1).to_wire())
    assert service.repeat(topology, net1, first.frame, 0.0) is None      # never answered yet
    [action] = service(first)
    again = packet(topology, dns.message.make_query('vm1.net1.internal', 'A', id=2).to_wire())
    remembered = service.repeat(topology, net1, again.frame, 0.0)
    assert remembered is not None and dhcp_packet.checksums_ok(remembered)
    [fresh] = DnsService(LOG)(again)
    assert remembered == fresh.frame
    assert service.counts == {'answer': 2}
    # stale, another network, or a topology it was not built on: the full path decides
    assert service.repeat(topology, net1, again.frame, 3.0) is None
    assert service.repeat(topology, topology.networks['net2'], again.frame, 0.0) is None
    edited = validate_text(TOPOLOGY, 't.yml')
    assert service.repeat(edited, edited.networks['net1'], again.frame, 0.0) is None
    assert service.counts == {'answer': 2}


def test_the_registry_counts_an_answer_from_memory_as_a_punt_of_its_reason():
    registry = build_registry(LOG)
    topology = validate_text(TOPOLOGY, 't.yml')
    query = packet(topology, dns.message.make_query('vm1.net1.internal', 'A').to_wire())
    registry.dispatch(Reason.DNS_QUERY, query)
    reply = registry.repeat(Reason.DNS_QUERY, topology, query.network, query.frame, 0.0)
    assert reply is not None and registry.counts == {'DNS_QUERY': 2}
    assert registry.repeat(Reason.DHCP_REQUEST, topology, query.network, query.frame, 0.0) is None
    assert registry.counts == {'DNS_QUERY': 2}


def test_random_bytes_to_port_53_are_counted_as_malformed_and_the_service_keeps_answering():
    service = DnsService(LOG)
    topology = validate_text(TOPOLOGY, 't.yml')
    for n in range(200):
        service(packet(topology, os.urandom(n % 60)))
    counts = service.counts
    assert counts.get('malformed', 0) + counts.get('formerr', 0) >= 150
    assert service(packet(topology, dns.message.make_query('vm1.net1.internal', 'A').to_wire()))
    not_udp = PacketIn(topology, Port(), 1, topology.networks['net1'], os.urandom(30), 0.0)
    assert service(not_udp) == [] and service.counts['malformed'] == counts.get('malformed', 0) + 1


def test_a_query_that_waited_too_long_in_the_controller_is_dropped_as_stale():
    service = DnsService(LOG)
    topology = validate_text(TOPOLOGY, 't.yml')
    assert service(packet(topology, dns.message.make_query('vm1.net1.internal', 'A').to_wire(),
                          waited=3.0)) == []
    assert service.counts == {'stale': 1}


def test_the_registry_sends_dns_query_punts_to_the_dns_service():
    registry = build_registry(LOG)
    assert isinstance(registry.handler(Reason.DNS_QUERY), DnsService)


# -- DHCP hands out the dns interface -------------------------------------------------

def test_dhcp_hands_out_the_dns_interface_and_the_domain_unless_dns_servers_says_otherwise():
    options = NetworkPlans(validate_text(TOPOLOGY, 't.yml')).get('net1').options
    assert options[dhcp_packet.OPT_DNS] == ipaddress.IPv4Address('172.16.1.53').packed
    assert options[dhcp_packet.OPT_DOMAIN_NAME] == b'net1.internal'
    explicit = TOPOLOGY.replace('    domain_name: net1.internal\n',
                                '    domain_name: net1.internal\n    dns_servers: [9.9.9.9]\n')
    options = NetworkPlans(validate_text(explicit, 't.yml')).get('net1').options
    assert options[dhcp_packet.OPT_DNS] == ipaddress.IPv4Address('9.9.9.9').packed


# -- the punt ----------------------------------------------------------------------

def test_a_query_to_the_dns_interface_goes_to_the_controller_through_the_networks_meter():
    topology = validate_text(TOPOLOGY, 't.yml')
    state = compile_datapath(topology, 'br0', {'p1': 1, 'p2': 2})
    switch = FakeSwitch.from_state(state)
    query = dict(in_port=1, eth_src='52:54:00:00:00:01', eth_dst='52:54:00:00:00:53', eth_type=0x0800,
                 ipv4_src='172.16.1.1', ipv4_dst='172.16.1.53', ip_proto=17, udp_src=40000, udp_dst=53)
    [(port, out)] = switch.run(query)
    assert port == OFPP_CONTROLLER and out[REASON_REG] == Reason.DNS_QUERY
    net1 = topology.networks['net1'].vni
    punts = [f for f in state.flows.values() if f.meter == dns_meter(net1)]
    assert len(punts) == 1 and dns_meter(net1) in state.meters
    # another network's dns address is not punted from net1 (isolation), nor other ports
    assert all(p != OFPP_CONTROLLER for p, _ in switch.run(dict(query, ipv4_dst='172.16.2.53')))
    assert all(p != OFPP_CONTROLLER for p, _ in switch.run(dict(query, udp_dst=5353)))


# -- forwarding -------------------------------------------------------------------

def serve_udp(address='127.0.0.1', port=0):
    """A UDP server that answers every query with one A record (or stays silent)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.2)
    state = types.SimpleNamespace(port=sock.getsockname()[1], silent=False, seen=[], stop=False)

    def serve():
        while not state.stop:
            try:
                data, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            query = dns.message.from_wire(data)
            state.seen.append(query.id)
            if not state.silent:
                response = dns.message.make_response(query)
                response.answer.append(dns.rrset.from_text(query.question[0].name, 60, 'IN', 'A',
                                                           '93.184.216.34'))
                sock.sendto(response.to_wire(), peer)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop():
        state.stop = True
        thread.join()
        sock.close()
    state.close = stop
    return state


@pytest.fixture
def upstream():
    state = serve_udp()
    yield state
    state.close()


def forwarding_service(upstream, timeout=1.0):
    delivered = []
    done = threading.Event()

    def deliver(dpid, port, frame):
        delivered.append((dpid, port, frame))
        done.set()
    forwarder = Forwarder(LOG, deliver, port=upstream.port, timeout=timeout)
    return DnsService(LOG, forwarder=forwarder), delivered, done


def test_a_name_outside_the_zone_is_forwarded_and_the_answer_reaches_the_client_with_its_id(upstream):
    service, delivered, done = forwarding_service(upstream)
    topology = validate_text(WITH_UPSTREAM, 't.yml')
    query = dns.message.make_query('example.com', 'A', id=4242)
    started = time.monotonic()
    assert service(packet(topology, query.to_wire(), 'net2', ('52:54:00:00:00:02', '172.16.2.1'),
                          dst='172.16.2.53')) == []
    assert time.monotonic() - started < 0.1          # the event thread does not wait
    assert done.wait(5)
    [(dpid, port, frame)] = delivered
    reply = parse_udp(frame)
    assert (dpid, port, str(reply.src), str(reply.dst)) == (1, 1, '172.16.2.53', '172.16.2.1')
    response = dns.message.from_wire(reply.payload)
    assert response.id == 4242 and rdata(response) == ['93.184.216.34']
    assert len(upstream.seen) == 1                   # asked once, under an id of the forwarder's
    assert service.counts == {'forwarded': 1}
    service.forwarder.close()


def test_an_upstream_that_does_not_answer_in_time_gets_the_client_servfail(upstream):
    upstream.silent = True
    service, delivered, done = forwarding_service(upstream, timeout=0.3)
    topology = validate_text(WITH_UPSTREAM, 't.yml')
    query = dns.message.make_query('example.com', 'A', id=77)
    service(packet(topology, query.to_wire(), 'net2', ('52:54:00:00:00:02', '172.16.2.1'),
                   dst='172.16.2.53'))
    assert done.wait(5)
    response = dns.message.from_wire(parse_udp(delivered[0][2]).payload)
    assert (response.id, response.rcode()) == (77, dns.rcode.SERVFAIL)
    assert service.counts == {'servfail': 1}
    service.forwarder.close()


def test_a_silent_upstream_is_passed_over_for_the_next_one_after_its_timeout():
    answering = serve_udp('127.0.0.1')
    silent = serve_udp('127.0.0.2', answering.port)      # the same port: the forwarder asks port N of each
    silent.silent = True
    try:
        service, delivered, done = forwarding_service(answering, timeout=0.3)
        topology = validate_text(WITH_UPSTREAM.replace('dns_upstream: [127.0.0.1]',
                                                       'dns_upstream: [127.0.0.2, 127.0.0.1]'), 't.yml')
        query = dns.message.make_query('example.com', 'A', id=99)
        service(packet(topology, query.to_wire(), 'net2', ('52:54:00:00:00:02', '172.16.2.1'),
                       dst='172.16.2.53'))
        assert done.wait(5)
        response = dns.message.from_wire(parse_udp(delivered[0][2]).payload)
        assert (response.id, rdata(response)) == (99, ['93.184.216.34'])
        assert (len(silent.seen), len(answering.seen)) == (1, 1)
        service.forwarder.close()
    finally:
        answering.close()
        silent.close()
