"""The simulated DHCP server's answers, from the topology and the request alone."""
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.packets import dhcp as p
from controller.services.dhcp import NetworkPlans, Reply, respond
from controller.topology import SIMULATED, VIF, Datapath, Interface, Network, Route, RouteLink, Topology
from tests.unit.test_dhcp_packet import (
    DHCLIENT_DISCOVER,
    DHCLIENT_REQUEST,
    DNSMASQ_OFFER,
    REAL_REQUESTS,
    UDHCPC_DISCOVER,
    UDHCPC_REQUEST,
)

IP = ipaddress.IPv4Address
NET = ipaddress.IPv4Network

VM1_MAC, VM2_MAC, NOIP_MAC = '52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:09'
DHCP_MAC, DHCP_IP = '52:54:00:74:00:01', IP('172.16.1.253')
GW_MAC, GW_IP = '52:54:00:74:00:00', IP('172.16.1.254')
LEASE = 3600


# -- topologies built from the model ----------------------------------------------

def network(name, cidr, vni, **kw):
    return Network(name=name, ipv4=NET(cidr), vni=vni, **kw)


def vif(name, net, mac, ip):
    return Interface(name=name, network=net, mac=mac, ipv4=IP(ip) if ip else None,
                     mode=VIF, datapath='br0', port=f'p-{name}')


def sim(name, net, mac, ip, *services):
    return Interface(name=name, network=net, mac=mac, ipv4=IP(ip), mode=SIMULATED,
                     services=tuple(services))


def route(interface, cidr, gateway=None):
    return Route(interface=interface, ipv4=NET(cidr), gateway=IP(gateway) if gateway else None)


def topology(networks, interfaces, route_links=()):
    return Topology(source='test.yml', datapaths={'br0': Datapath('br0', 1)},
                    networks={n.name: n for n in networks},
                    interfaces={i.name: i for i in interfaces},
                    route_links={l.name: l for l in route_links})


def lab(**net1_options):
    """net1 with two vifs, one vif without an address, a gateway and a DHCP
    server; net2 behind the gateway; net9 without a DHCP server."""
    opts = dict(dns_servers=(IP('172.16.1.10'), IP('8.8.8.8')),
                domain_name='example.internal', lease_time=LEASE)
    opts.update(net1_options)
    return topology(
        [network('net1', '172.16.1.0/24', 1, **opts), network('net2', '10.0.2.0/24', 2),
         network('net9', '192.168.9.0/24', 9)],
        [vif('vm1', 'net1', VM1_MAC, '172.16.1.1'),
         vif('vm2', 'net1', VM2_MAC, '172.16.1.2'),
         vif('noip', 'net1', NOIP_MAC, None),
         sim('net1-gw', 'net1', GW_MAC, str(GW_IP), 'router'),
         sim('net1-dhcp', 'net1', DHCP_MAC, str(DHCP_IP), 'dhcp'),
         vif('vm5', 'net2', '52:54:00:00:00:05', '10.0.2.5'),
         sim('net2-gw', 'net2', '52:54:00:74:02:00', '10.0.2.254', 'router'),
         vif('vm9', 'net9', '52:54:00:00:00:99', '192.168.9.9')],
        [RouteLink('rl1', (route('net1-gw', '172.16.1.0/24'), route('net2-gw', '10.0.2.0/24')))])


def two_routers():
    """net1 has a second router, net1-r2, leading to net3 and a physical LAN."""
    base = lab()
    extra = [sim('net1-r2', 'net1', '52:54:00:74:00:02', '172.16.1.252', 'router'),
             sim('net3-gw', 'net3', '52:54:00:74:03:00', '10.0.3.254', 'router'),
             sim('lan-gw', 'lan', '52:54:00:74:0a:00', '10.0.10.1', 'router')]
    return topology(
        list(base.networks.values()) + [network('net3', '10.0.3.0/24', 3),
                                        network('lan', '10.0.10.0/24', 10, mode='physical')],
        list(base.interfaces.values()) + extra,
        list(base.route_links.values()) + [
            RouteLink('rl2', (route('net1-r2', '172.16.1.0/24'),
                              route('net3-gw', '10.0.3.0/24'),
                              route('lan-gw', '0.0.0.0/0', gateway='10.0.10.254')))])


# -- requests --------------------------------------------------------------------

def discover(mac=VM1_MAC, **kw):
    return p.build_request(p.DISCOVER, 0x1234, mac, **kw)


def request(mac=VM1_MAC, **kw):
    return p.build_request(p.REQUEST, 0x1234, mac, **kw)


def answer(reply: Reply) -> p.DhcpMessage:
    assert reply.frame is not None, reply.note
    assert p.checksums_ok(reply.frame)
    msg = p.parse_reply(reply.frame)
    assert msg is not None
    return msg


def u32(raw):
    return struct.unpack('!I', raw)[0]


def ips(raw):
    return [IP(raw[i:i + 4]) for i in range(0, len(raw), 4)]


def decode_classless(raw):
    routes, i = [], 0
    while i < len(raw):
        width = raw[i]
        n = (width + 7) // 8
        dest = raw[i + 1:i + 1 + n].ljust(4, b'\0')
        routes.append((NET(f'{IP(dest)}/{width}'), IP(raw[i + 1 + n:i + 5 + n])))
        i += 5 + n
    return routes


# -- DISCOVER -> OFFER ---------------------------------------------------------------

def test_a_discover_from_a_known_mac_is_offered_its_registered_address():
    reply = respond(lab(), 'net1', discover())
    offer = answer(reply)
    assert offer.message_type == p.OFFER and reply.kind == 'OFFER'
    assert offer.yiaddr == IP('172.16.1.1')
    assert offer.xid == 0x1234 and offer.chaddr == VM1_MAC
    assert reply.client == 'vm1'
    assert 'OFFER 172.16.1.1' in reply.note and 'vm1' in reply.note


def test_the_offer_comes_from_the_dhcp_interface_and_goes_to_the_client_by_unicast():
    offer = answer(respond(lab(), 'net1', discover()))
    assert offer.eth_src == DHCP_MAC and offer.ip_src == DHCP_IP
    assert offer.eth_dst == VM1_MAC and offer.ip_dst == IP('172.16.1.1')
    frame = respond(lab(), 'net1', discover()).frame
    assert struct.unpack('!HH', frame[34:38]) == (67, 68)


def test_a_client_asking_for_broadcast_replies_gets_them_broadcast():
    offer = answer(respond(lab(), 'net1', discover(broadcast=True)))
    assert offer.eth_dst == p.BROADCAST_MAC and offer.ip_dst == p.BROADCAST_IP
    assert offer.broadcast


def test_the_offer_carries_mask_router_dns_domain_lease_server_id_and_timers():
    offer = answer(respond(lab(), 'net1', discover(param_request_list=())))
    o = offer.options
    assert IP(o[p.OPT_SUBNET_MASK]) == IP('255.255.255.0')
    assert ips(o[p.OPT_ROUTER]) == [GW_IP]
    assert ips(o[p.OPT_DNS]) == [IP('172.16.1.10'), IP('8.8.8.8')]
    assert o[p.OPT_DOMAIN_NAME] == b'example.internal'
    assert u32(o[p.OPT_LEASE_TIME]) == LEASE
    assert IP(o[p.OPT_SERVER_ID]) == DHCP_IP == offer.server_id
    assert u32(o[p.OPT_RENEWAL_TIME]) == LEASE // 2
    assert u32(o[p.OPT_REBINDING_TIME]) == LEASE * 7 // 8
    assert p.OPT_CLASSLESS_ROUTES not in o     # one router: option 3 says it all


def test_the_parameter_request_list_orders_the_options_but_never_removes_any():
    offer = answer(respond(lab(), 'net1', discover(param_request_list=(15, 6, 3))))
    codes = list(offer.options)
    assert codes[0] == p.OPT_MESSAGE_TYPE
    assert codes[1:4] == [15, 6, 3]
    assert set(codes) >= {1, 3, 6, 15, 51, 54, 58, 59}


def test_options_without_a_value_are_left_out():
    topo = lab(dns_servers=(), domain_name=None)
    topo = topology(topo.networks.values(),
                    [i for i in topo.interfaces.values() if i.name != 'net1-gw'])
    o = answer(respond(topo, 'net1', discover())).options
    assert p.OPT_DNS not in o and p.OPT_DOMAIN_NAME not in o and p.OPT_ROUTER not in o
    assert {1, 51, 54, 58, 59} <= set(o)


def test_the_client_identifier_is_echoed_back():
    o = answer(respond(lab(), 'net1', discover(client_id=b'\x01\x52\x54'))).options
    assert o[p.OPT_CLIENT_ID] == b'\x01\x52\x54'


def test_with_several_routers_option_3_is_the_first_by_name():
    topo = lab()
    topo = topology(topo.networks.values(), list(topo.interfaces.values()) + [
        sim('net1-a-gw', 'net1', '52:54:00:74:00:0a', '172.16.1.250', 'router')])
    o = answer(respond(topo, 'net1', discover())).options
    assert ips(o[p.OPT_ROUTER]) == [IP('172.16.1.250')]


# -- REQUEST -> ACK / NAK / silence ----------------------------------------------------

def test_a_request_selecting_our_offer_is_acknowledged():
    reply = respond(lab(), 'net1', request(requested_ip='172.16.1.1', server_id=DHCP_IP))
    ack = answer(reply)
    assert ack.message_type == p.ACK and reply.kind == 'ACK'
    assert ack.yiaddr == IP('172.16.1.1') and ack.ciaddr == IP('0.0.0.0')
    assert u32(ack.options[p.OPT_LEASE_TIME]) == LEASE
    assert ack.eth_dst == VM1_MAC and ack.ip_dst == IP('172.16.1.1')


def test_a_request_for_another_address_is_refused_with_a_broadcast_nak():
    reply = respond(lab(), 'net1', request(requested_ip='172.16.1.77', server_id=DHCP_IP))
    nak = answer(reply)
    assert nak.message_type == p.NAK and reply.kind == 'NAK'
    assert nak.yiaddr == IP('0.0.0.0')
    assert nak.eth_dst == p.BROADCAST_MAC and nak.ip_dst == p.BROADCAST_IP
    assert nak.server_id == DHCP_IP
    assert set(nak.options) <= {p.OPT_MESSAGE_TYPE, p.OPT_SERVER_ID, p.OPT_CLIENT_ID}
    assert '172.16.1.77' in reply.note and '172.16.1.1' in reply.note


def test_a_request_for_another_server_gets_no_reply():
    reply = respond(lab(), 'net1', request(requested_ip='172.16.1.1', server_id='172.16.1.99'))
    assert reply.frame is None
    assert 'chose server 172.16.1.99' in reply.note


def test_an_init_reboot_request_is_judged_on_the_address_it_names():
    ok = respond(lab(), 'net1', request(requested_ip='172.16.1.1'))
    wrong = respond(lab(), 'net1', request(requested_ip='10.1.1.1'))
    assert answer(ok).message_type == p.ACK
    assert answer(wrong).message_type == p.NAK


def renewal(ciaddr, mac=VM1_MAC):
    return p.build_request(p.REQUEST, 0x77, mac, ciaddr=ciaddr, ip_src=ciaddr,
                           ip_dst=DHCP_IP, eth_dst=DHCP_MAC)


def test_a_renewal_is_acknowledged_by_unicast_to_the_address_being_renewed():
    ack = answer(respond(lab(), 'net1', renewal('172.16.1.1')))
    assert ack.message_type == p.ACK
    assert ack.ciaddr == ack.yiaddr == IP('172.16.1.1')
    assert ack.ip_dst == IP('172.16.1.1') and ack.eth_dst == VM1_MAC


def test_a_renewal_of_an_address_that_is_not_registered_is_refused():
    nak = answer(respond(lab(), 'net1', renewal('172.16.1.50')))
    assert nak.message_type == p.NAK


def test_a_rebinding_broadcast_is_acknowledged():
    frame = p.build_request(p.REQUEST, 0x78, VM1_MAC, ciaddr='172.16.1.1',
                            ip_src='172.16.1.1')
    assert answer(respond(lab(), 'net1', frame)).message_type == p.ACK


def test_a_request_naming_no_address_at_all_is_refused():
    reply = respond(lab(), 'net1', request())
    assert answer(reply).message_type == p.NAK
    assert 'no address' in reply.note


def test_a_unicast_request_to_another_server_is_not_ours_to_answer():
    frame = p.build_request(p.REQUEST, 0x79, VM1_MAC, ciaddr='172.16.1.1',
                            ip_src='172.16.1.1', ip_dst='172.16.1.99',
                            eth_dst='52:54:00:99:99:99')
    reply = respond(lab(), 'net1', frame)
    assert reply.frame is None and 'not to this server' in reply.note


# -- INFORM, RELEASE, DECLINE ------------------------------------------------------------

def test_an_inform_is_acknowledged_without_an_address_or_lease():
    frame = p.build_request(p.INFORM, 5, VM1_MAC, ciaddr='172.16.1.1', ip_src='172.16.1.1')
    reply = respond(lab(), 'net1', frame)
    ack = answer(reply)
    assert ack.message_type == p.ACK
    assert ack.yiaddr == IP('0.0.0.0') and ack.ciaddr == IP('172.16.1.1')
    assert ack.ip_dst == IP('172.16.1.1')
    assert not {51, 58, 59} & set(ack.options)
    assert {1, 3, 6, 15, 54} <= set(ack.options)


@pytest.mark.parametrize('mtype, word', [(p.RELEASE, 'released'), (p.DECLINE, 'declined')])
def test_release_and_decline_get_no_reply_but_a_note_for_the_log(mtype, word):
    frame = p.build_request(mtype, 5, VM1_MAC, ciaddr='172.16.1.1', requested_ip='172.16.1.1',
                            server_id=DHCP_IP)
    reply = respond(lab(), 'net1', frame)
    assert reply.frame is None and reply.kind == ''
    assert word in reply.note and 'vm1' in reply.note and '172.16.1.1' in reply.note


@pytest.mark.parametrize('mtype', [p.OFFER, p.ACK, p.NAK, 13, 200])
def test_server_message_types_from_a_client_are_ignored(mtype):
    reply = respond(lab(), 'net1', p.build_request(mtype, 5, VM1_MAC))
    assert reply.frame is None and 'no reply' in reply.note


# -- who gets nothing -----------------------------------------------------------------------

def test_an_unknown_mac_gets_no_reply():
    reply = respond(lab(), 'net1', discover(mac='52:54:00:de:ad:00'))
    assert reply.frame is None and 'not an interface of network net1' in reply.note


def test_a_mac_registered_in_another_network_gets_no_reply_here():
    reply = respond(lab(), 'net1', discover(mac='52:54:00:00:00:05'))
    assert reply.frame is None


def test_an_interface_without_a_registered_address_gets_no_reply():
    reply = respond(lab(), 'net1', discover(mac=NOIP_MAC))
    assert reply.frame is None and 'no registered ipv4' in reply.note


def test_a_network_without_a_dhcp_interface_gets_no_reply():
    reply = respond(lab(), 'net9', discover(mac='52:54:00:00:00:99'))
    assert reply.frame is None and 'no interface with the dhcp service' in reply.note


def test_an_unknown_network_gets_no_reply():
    assert respond(lab(), 'nope', discover()).frame is None


def test_the_mac_of_a_simulated_interface_gets_no_reply():
    reply = respond(lab(), 'net1', discover(mac=GW_MAC))
    assert reply.frame is None and 'simulated' in reply.note


def test_a_port_asking_on_behalf_of_another_mac_gets_no_reply():
    frame = bytearray(discover(mac=VM2_MAC))
    frame[6:12] = p.mac_to_bytes(VM1_MAC)          # sent by vm1, chaddr vm2
    reply = respond(lab(), 'net1', bytes(frame))
    assert reply.frame is None and 'differs from the Ethernet source' in reply.note


def test_a_relayed_request_gets_no_reply():
    frame = bytearray(discover())
    frame[42 + 24:42 + 28] = IP('10.0.0.1').packed        # giaddr
    frame = bytes(frame)
    assert p.parse(frame).giaddr == IP('10.0.0.1')
    assert respond(lab(), 'net1', frame).frame is None


def test_garbage_gets_no_reply_and_says_why():
    reply = respond(lab(), 'net1', b'\x00' * 30)
    assert reply.frame is None and 'not a DHCP request' in reply.note


def test_a_parsed_message_is_answered_like_its_frame():
    by_frame = respond(lab(), 'net1', discover())
    by_msg = respond(lab(), 'net1', p.parse(discover()))
    assert by_frame == by_msg


# -- option 121 ------------------------------------------------------------------------------

def test_a_second_router_adds_classless_routes_with_the_default_via_the_option_3_router():
    o = answer(respond(two_routers(), 'net1', discover())).options
    assert ips(o[p.OPT_ROUTER]) == [GW_IP]
    assert decode_classless(o[p.OPT_CLASSLESS_ROUTES]) == [
        (NET('10.0.3.0/24'), IP('172.16.1.252')),
        (NET('0.0.0.0/0'), GW_IP),
    ]


def test_classless_routes_are_sent_as_249_too_when_the_client_asks_for_it():
    o = answer(respond(two_routers(), 'net1', discover(param_request_list=(1, 3, 249)))).options
    assert o[p.OPT_MS_CLASSLESS_ROUTES] == o[p.OPT_CLASSLESS_ROUTES]


def test_prefixes_behind_the_default_router_inside_a_wider_route_are_listed_too():
    topo = two_routers()
    links = dict(topo.route_links)
    links['rl2'] = RouteLink('rl2', (route('net1-r2', '172.16.1.0/24'),
                                     route('net3-gw', '10.0.0.0/8')))
    topo = topology(topo.networks.values(), topo.interfaces.values(), links.values())
    o = answer(respond(topo, 'net1', discover())).options
    assert decode_classless(o[p.OPT_CLASSLESS_ROUTES]) == [
        (NET('10.0.2.0/24'), GW_IP),             # net2 via net1-gw stays there
        (NET('10.0.0.0/8'), IP('172.16.1.252')),
        (NET('0.0.0.0/0'), GW_IP),
    ]


def test_the_networks_own_prefix_is_never_a_classless_route():
    topo = two_routers()
    links = dict(topo.route_links)
    links['rl2'] = RouteLink('rl2', (route('net1-r2', '172.16.1.0/24'),
                                     route('net3-gw', '172.16.1.128/25')))
    topo = topology(topo.networks.values(), topo.interfaces.values(), links.values())
    o = answer(respond(topo, 'net1', discover())).options
    assert p.OPT_CLASSLESS_ROUTES not in o


def test_a_second_router_on_no_route_link_adds_no_classless_routes():
    topo = lab()
    topo = topology(topo.networks.values(), list(topo.interfaces.values()) + [
        sim('net1-r2', 'net1', '52:54:00:74:00:02', '172.16.1.252', 'router')],
        topo.route_links.values())
    assert p.OPT_CLASSLESS_ROUTES not in answer(respond(topo, 'net1', discover())).options


def test_options_that_do_not_fit_the_clients_message_size_are_left_out_and_noted():
    many = tuple(IP(f'10.1.{i // 250}.{i % 250 + 1}') for i in range(200))
    reply = respond(lab(dns_servers=many), 'net1', discover())
    o = answer(reply).options
    assert p.OPT_DNS not in o and 'too big' in reply.note
    assert {1, 3, 51, 54} <= set(o)
    assert len(reply.frame) - 14 <= 576


def test_the_plan_of_a_network_is_computed_once_per_topology():
    topo = lab()
    plans = NetworkPlans(topo)
    assert plans.get('net1') is plans.get('net1')
    assert NetworkPlans(lab()).get('net1') is not plans.get('net1')
    assert plans.get('nope') is None


def test_a_reply_with_kept_plans_equals_one_computed_afresh():
    topo = lab()
    plans = NetworkPlans(topo)
    assert respond(topo, 'net1', discover(), plans) == respond(topo, 'net1', discover())


# -- real clients --------------------------------------------------------------------------

def captured_lab():
    """The topology the captured udhcpc/dhclient packets belong to."""
    return topology(
        [network('net', '10.9.0.0/24', 1, lease_time=3600)],
        [vif('vm', 'net', '52:54:00:12:34:56', '10.9.0.7'),
         sim('gw', 'net', '52:54:00:00:00:fd', '10.9.0.254', 'router'),
         sim('dhcp', 'net', '52:54:00:00:00:fe', '10.9.0.253', 'dhcp')])


@pytest.mark.parametrize('frame', [UDHCPC_DISCOVER, DHCLIENT_DISCOVER], ids=['udhcpc', 'dhclient'])
def test_a_real_clients_discover_gets_the_offer_dnsmasq_gave_it(frame):
    ours = answer(respond(captured_lab(), 'net', frame))
    theirs = p.parse_reply(DNSMASQ_OFFER)
    for name in ('message_type', 'yiaddr', 'chaddr', 'server_id', 'eth_src', 'eth_dst',
                 'ip_src', 'ip_dst'):
        assert getattr(ours, name) == getattr(theirs, name), name
    for code in (p.OPT_SUBNET_MASK, p.OPT_ROUTER, p.OPT_LEASE_TIME, p.OPT_RENEWAL_TIME,
                 p.OPT_REBINDING_TIME):
        assert ours.options[code] == theirs.options[code], code


@pytest.mark.parametrize('frame', [UDHCPC_REQUEST, DHCLIENT_REQUEST], ids=['udhcpc', 'dhclient'])
def test_a_real_clients_request_is_acknowledged(frame):
    ack = answer(respond(captured_lab(), 'net', frame))
    assert ack.message_type == p.ACK and ack.yiaddr == IP('10.9.0.7')


# -- never raising ---------------------------------------------------------------------------

TOPOLOGIES = [lab(), two_routers(), captured_lab(), topology([], [])]
MACS = [VM1_MAC, VM2_MAC, NOIP_MAC, GW_MAC, '52:54:00:12:34:56', '52:54:00:de:ad:00']
ADDRS = st.one_of(st.none(), st.sampled_from(['172.16.1.1', '172.16.1.253', '10.9.0.7',
                                              '0.0.0.0', '255.255.255.255']),
                  st.integers(0, 2 ** 32 - 1).map(lambda n: str(IP(n))))


def _assert_sane(reply):
    assert isinstance(reply, Reply)
    assert not reply.note.startswith('internal error'), reply.note
    if reply.frame is not None:
        assert p.checksums_ok(reply.frame)
        assert p.parse_reply(reply.frame) is not None


@settings(max_examples=400)
@given(st.sampled_from(TOPOLOGIES), st.sampled_from(['net1', 'net', 'net9', 'x']),
       st.integers(0, 255), st.sampled_from(MACS), ADDRS, ADDRS, ADDRS, st.booleans(),
       st.one_of(st.none(), st.binary(max_size=300)), st.lists(st.integers(0, 255), max_size=60))
def test_respond_never_raises_on_any_well_formed_request(topo, net, mtype, mac, requested,
                                                         server, ciaddr, broadcast, client_id,
                                                         prl):
    frame = p.build_request(mtype, 1, mac, requested_ip=requested, server_id=server,
                            ciaddr=ciaddr, broadcast=broadcast, client_id=client_id,
                            param_request_list=prl)
    _assert_sane(respond(topo, net, frame))


@settings(max_examples=400)
@given(st.sampled_from(TOPOLOGIES), st.sampled_from(['net1', 'net']),
       st.sampled_from(REAL_REQUESTS + [discover(), renewal('172.16.1.1')]),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6))
def test_respond_never_raises_on_mutated_requests(topo, net, frame, flips):
    data = bytearray(frame)
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    _assert_sane(respond(topo, net, bytes(data)))


@settings(max_examples=200)
@given(st.binary(max_size=700))
def test_respond_never_raises_on_random_bytes(data):
    _assert_sane(respond(lab(), 'net1', data))


def test_the_lease_carries_the_networks_mtu_so_vms_leave_room_for_vxlan():
    o = answer(respond(lab(), 'net1', discover())).options
    assert int.from_bytes(o[26], 'big') == 1450
