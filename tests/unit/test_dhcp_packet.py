"""DHCP frames: parsing real client packets, building replies, never raising."""
import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.packets import dhcp as p
from controller.packets.ethernet import ip_checksum

IP = ipaddress.IPv4Address


def _frame(head, zeros, tail):
    return bytes.fromhex(head) + bytes(zeros) + bytes.fromhex(tail)


# Captured with tcpdump on a veth between two namespaces: udhcpc 1.35 and
# ISC dhclient 4.4.3 (client MAC 52:54:00:12:34:56) against dnsmasq 2.90
# (server 10.9.0.253 at 52:54:00:00:00:fe, static lease 10.9.0.7).
UDHCPC_DISCOVER = _frame(
    'ffffffffffff52540012345608004500014800000000401179a600000000ffffffff004400430134'
    '373a01010600941adc610000000000000000000000000000000000000000525400123456',
    202,
    '638253633501013902024037070103060c0f1c2a0c0570726f62653c0c756468637020312e33352e'
    '303d0701525400123456ff00000000000000000000000000')

UDHCPC_REQUEST = _frame(
    'ffffffffffff52540012345608004500014800000000401179a600000000ffffffff004400430134'
    '16bd01010600941adc610000000000000000000000000000000000000000525400123456',
    202,
    '6382536335010332040a09000736040a0900fd3902024037070103060c0f1c2a0c0570726f62653c'
    '0c756468637020312e33352e303d0701525400123456ff00')

DHCLIENT_DISCOVER = _frame(
    'ffffffffffff525400123456080045100148000000008011399600000000ffffffff004400430134'
    '76fc01010600916624440000000000000000000000000000000000000000525400123456',
    202,
    '638253633501010c02766d370d011c02030f06770c2c2f1a792aff00000000000000000000000000'
    '000000000000000000000000000000000000000000000000')

DHCLIENT_REQUEST = _frame(
    'ffffffffffff525400123456080045100148000000008011399600000000ffffffff004400430134'
    '567f01010600916624440000000000000000000000000000000000000000525400123456',
    202,
    '6382536335010336040a0900fd32040a0900070c02766d370d011c02030f06770c2c2f1a792aff00'
    '000000000000000000000000000000000000000000000000')

DNSMASQ_OFFER = _frame(
    '5254001234565254000000fe080045c00148690000004011facf0a0900fd0a090007004300440134'
    '4b7402010600941adc6100000000000000000a0900070a0900fd00000000525400123456',
    202,
    '6382536335010236040a0900fd330400000e103a04000007083b0400000c4e0104ffffff001c040a'
    '0900ff03040a0900feff0000000000000000000000000000')

CLIENT = '52:54:00:12:34:56'
SERVER_MAC, SERVER_IP = '52:54:00:00:00:fe', IP('10.9.0.253')
REAL_REQUESTS = [UDHCPC_DISCOVER, UDHCPC_REQUEST, DHCLIENT_DISCOVER, DHCLIENT_REQUEST]


def _set_ip_checksum(frame: bytes) -> bytes:
    hdr = bytearray(frame[14:34])
    hdr[10:12] = b'\0\0'
    hdr[10:12] = struct.pack('!H', p.ip_checksum(bytes(hdr)))
    return frame[:14] + bytes(hdr) + frame[34:]


def _offer_for(request):
    return p.build_reply(request, p.OFFER, yiaddr='10.9.0.7', server_mac=SERVER_MAC,
                         server_ip=SERVER_IP, dst_mac=CLIENT, dst_ip='10.9.0.7',
                         options=[(p.OPT_SERVER_ID, SERVER_IP.packed),
                                  (p.OPT_SUBNET_MASK, IP('255.255.255.0').packed),
                                  (p.OPT_LEASE_TIME, struct.pack('!I', 3600))])


# -- real clients ------------------------------------------------------------

def test_a_udhcpc_discover_from_the_wire_parses_with_its_xid_chaddr_and_request_list():
    msg = p.parse(UDHCPC_DISCOVER)
    assert msg is not None
    assert msg.message_type == p.DISCOVER
    assert msg.xid == 0x941adc61
    assert msg.chaddr == CLIENT and msg.eth_src == CLIENT
    assert msg.eth_dst == p.BROADCAST_MAC
    assert msg.ip_src == IP('0.0.0.0') and msg.ip_dst == p.BROADCAST_IP
    assert msg.ciaddr == IP('0.0.0.0')
    assert not msg.broadcast
    assert msg.param_request_list == (1, 3, 6, 12, 15, 28, 42)
    assert msg.client_id == b'\x01' + bytes.fromhex('525400123456')
    assert msg.hostname == 'probe'
    assert msg.max_message_size == 576
    assert msg.requested_ip is None and msg.server_id is None


def test_a_udhcpc_request_names_the_offered_address_and_the_chosen_server():
    msg = p.parse(UDHCPC_REQUEST)
    assert msg.message_type == p.REQUEST
    assert msg.requested_ip == IP('10.9.0.7')
    assert msg.server_id == SERVER_IP
    assert msg.xid == 0x941adc61


def test_a_dhclient_discover_and_request_parse_including_the_classless_routes_request():
    discover, request = p.parse(DHCLIENT_DISCOVER), p.parse(DHCLIENT_REQUEST)
    assert discover.message_type == p.DISCOVER and request.message_type == p.REQUEST
    assert 121 in discover.param_request_list
    assert discover.client_id is None and discover.hostname == 'vm'
    assert request.requested_ip == IP('10.9.0.7') and request.server_id == SERVER_IP


def test_a_dnsmasq_offer_parses_as_a_reply_and_not_as_a_request():
    assert p.parse(DNSMASQ_OFFER) is None
    assert 'UDP ports 67->68' in p.parse_reason(DNSMASQ_OFFER)
    offer = p.parse_reply(DNSMASQ_OFFER)
    assert offer.message_type == p.OFFER
    assert offer.yiaddr == IP('10.9.0.7') and offer.server_id == SERVER_IP
    assert offer.options[p.OPT_ROUTER] == IP('10.9.0.254').packed
    assert p.checksums_ok(DNSMASQ_OFFER)


def test_our_reply_to_a_real_udhcpc_discover_matches_the_envelope_dnsmasq_used():
    ours = _offer_for(p.parse(UDHCPC_DISCOVER))
    theirs = p.parse_reply(DNSMASQ_OFFER)
    mine = p.parse_reply(ours)
    assert p.checksums_ok(ours)
    for name in ('xid', 'flags', 'chaddr', 'yiaddr', 'eth_src', 'eth_dst', 'ip_src',
                 'ip_dst', 'server_id', 'message_type'):
        assert getattr(mine, name) == getattr(theirs, name), name
    assert len(ours) == len(DNSMASQ_OFFER)   # both pad BOOTP to 300 bytes


def test_ethernet_padding_after_the_ip_packet_is_ignored():
    assert p.parse(UDHCPC_DISCOVER + bytes(20)).xid == 0x941adc61


def test_a_request_with_the_broadcast_flag_reports_it():
    msg = p.parse(p.build_request(p.DISCOVER, 7, CLIENT, broadcast=True))
    assert msg.broadcast and msg.flags == p.FLAG_BROADCAST


# -- building ----------------------------------------------------------------

def test_a_built_reply_has_correct_ipv4_header_and_udp_checksums():
    frame = _offer_for(p.parse(DHCLIENT_DISCOVER))
    assert p.checksums_ok(frame)
    assert p.ip_checksum(frame[14:34]) == 0
    broken = frame[:-1] + bytes((frame[-1] ^ 0xff,))
    assert not p.checksums_ok(broken)


def test_a_built_reply_copies_xid_flags_and_chaddr_and_puts_message_type_first():
    request = p.parse(p.build_request(p.DISCOVER, 0xdeadbeef, CLIENT, broadcast=True))
    frame = p.build_reply(request, p.ACK, yiaddr='10.0.0.5', ciaddr='10.0.0.5',
                          server_mac=SERVER_MAC, server_ip=SERVER_IP,
                          dst_mac=p.BROADCAST_MAC, dst_ip=p.BROADCAST_IP,
                          options=[(p.OPT_SERVER_ID, SERVER_IP.packed), (p.OPT_DNS, b'\x01' * 8)])
    reply = p.parse_reply(frame)
    assert (reply.xid, reply.flags, reply.chaddr) == (0xdeadbeef, p.FLAG_BROADCAST, CLIENT)
    assert reply.yiaddr == reply.ciaddr == IP('10.0.0.5')
    assert reply.eth_src == SERVER_MAC and reply.eth_dst == p.BROADCAST_MAC
    assert reply.ip_src == SERVER_IP and reply.ip_dst == p.BROADCAST_IP
    assert list(reply.options) == [p.OPT_MESSAGE_TYPE, p.OPT_SERVER_ID, p.OPT_DNS]
    udp = frame[34:42]
    assert struct.unpack('!HH', udp[:4]) == (67, 68)


def test_a_reply_is_padded_to_the_300_byte_bootp_minimum():
    frame = _offer_for(p.parse(UDHCPC_DISCOVER))
    assert len(frame) - 14 - 20 - 8 == 300


def test_an_option_longer_than_255_bytes_is_split_and_parsed_back_whole():
    value = bytes(range(256)) * 2
    encoded = p.encode_options([(p.OPT_DNS, value)])
    assert encoded[0] == p.OPT_DNS and encoded[1] == 255
    assert encoded.count(bytes((p.OPT_DNS,))) >= 3
    frame = p.build_request(p.DISCOVER, 1, CLIENT, extra_options=[(200, value)])
    assert p.parse(frame).options[200] == value


@pytest.mark.parametrize('cidr, router, encoded', [
    # the examples of RFC 3442 section 5
    ('0.0.0.0/0', '10.0.0.1', '00' '0a000001'),
    ('10.0.0.0/8', '10.0.0.1', '080a' '0a000001'),
    ('10.17.0.0/16', '10.0.0.1', '100a11' '0a000001'),
    ('10.27.129.0/24', '10.0.0.1', '180a1b81' '0a000001'),
    ('10.229.0.128/25', '10.0.0.1', '190ae50080' '0a000001'),
    ('10.198.122.47/32', '10.0.0.1', '200ac67a2f' '0a000001'),
])
def test_classless_static_routes_are_encoded_as_rfc_3442_shows(cidr, router, encoded):
    value = p.encode_classless_routes([(ipaddress.IPv4Network(cidr), IP(router))])
    assert value.hex() == encoded


def test_a_client_request_built_here_is_what_parse_reads():
    frame = p.build_request(p.REQUEST, 42, CLIENT, requested_ip='10.0.0.9',
                            server_id='10.0.0.1', client_id=b'\x01abc', hostname='h')
    msg = p.parse(frame)
    assert (msg.xid, msg.requested_ip, msg.server_id, msg.client_id, msg.hostname) == \
        (42, IP('10.0.0.9'), IP('10.0.0.1'), b'\x01abc', 'h')
    assert p.checksums_ok(frame)


# -- refusing garbage, with a reason ---------------------------------------------

def _edit(frame, offset, new):
    return frame[:offset] + new + frame[offset + len(new):]


OPTIONS_AT = 14 + 20 + 8 + 240


def _with_options(raw_options: bytes) -> bytes:
    """UDHCPC_DISCOVER with its options replaced by `raw_options` (lengths fixed)."""
    bootp = UDHCPC_DISCOVER[42:42 + 240] + raw_options
    udp = struct.pack('!HHHH', 68, 67, 8 + len(bootp), 0) + bootp
    ip = bytearray(UDHCPC_DISCOVER[14:34])
    ip[2:4] = struct.pack('!H', 20 + len(udp))
    return _set_ip_checksum(UDHCPC_DISCOVER[:14] + bytes(ip) + udp)


@pytest.mark.parametrize('frame, reason', [
    (b'', 'too short'),
    (UDHCPC_DISCOVER[:40], 'too short'),
    (UDHCPC_DISCOVER[:200], 'does not fit'),
    (UDHCPC_DISCOVER + bytes(1500), 'too long'),
    (_edit(UDHCPC_DISCOVER, 12, b'\x81\x00'), 'not IPv4'),
    (_edit(UDHCPC_DISCOVER, 12, b'\x86\xdd'), 'not IPv4'),
    (_set_ip_checksum(_edit(UDHCPC_DISCOVER, 14, b'\x46')), 'options are not accepted'),
    (_set_ip_checksum(_edit(UDHCPC_DISCOVER, 14, b'\x65')), 'IP version 6'),
    (_set_ip_checksum(_edit(UDHCPC_DISCOVER, 14 + 9, b'\x06')), 'not UDP'),
    (_set_ip_checksum(_edit(UDHCPC_DISCOVER, 14 + 6, b'\x20\x00')), 'fragment'),
    (_set_ip_checksum(_edit(UDHCPC_DISCOVER, 14 + 6, b'\x00\x10')), 'fragment'),
    (_edit(UDHCPC_DISCOVER, 14 + 8, b'\x3f'), 'checksum'),
    (_edit(UDHCPC_DISCOVER, 34, b'\x00\x44\x00\x44'), 'UDP ports'),
    (_edit(UDHCPC_DISCOVER, 34, b'\x00\x43\x00\x43'), 'UDP ports'),
    (_edit(UDHCPC_DISCOVER, 38, b'\x02\x00'), 'UDP length'),
    (_edit(UDHCPC_DISCOVER, 38, b'\x00\x04'), 'UDP length'),
    (_edit(UDHCPC_DISCOVER, 42, b'\x02'), 'op 2'),
    (_edit(UDHCPC_DISCOVER, 43, b'\x06'), 'not Ethernet'),
    (_edit(UDHCPC_DISCOVER, 44, b'\x10'), 'not Ethernet'),
    (_edit(UDHCPC_DISCOVER, 42 + 236, b'\x63\x82\x53\x64'), 'magic cookie'),
    (_with_options(b'\x35\x01\x01\x0c\x09abc'), 'runs past the end'),
    (_with_options(b'\x35\x01\x01\x0c'), 'no length byte'),
    (_with_options(b'\x0c\x02hi\xff'), 'no DHCP message type'),
    (_with_options(b'\x35\x02\x01\x01\xff'), 'option 53 has length 2'),
    (_with_options(b'\x35\x01\x03\x32\x03\x0a\x00\x00\xff'), 'option 50 has length 3'),
    (_with_options(b'\x35\x01\x03\x36\x05\x0a\x00\x00\x01\x02\xff'), 'option 54 has length 5'),
    (_with_options(b'\x35\x01\x01\x39\x01\x02\xff'), 'option 57 has length 1'),
], ids=lambda v: v if isinstance(v, str) else '')
def test_a_malformed_frame_is_refused_with_a_reason(frame, reason):
    assert p.parse(frame) is None
    assert reason in p.parse_reason(frame)
    msg, why = p.try_parse(frame)
    assert msg is None and reason in why


def test_options_without_an_end_marker_are_accepted_up_to_the_end_of_the_packet():
    msg = p.parse(_with_options(b'\x35\x01\x01\x0c\x02hi'))
    assert msg.message_type == p.DISCOVER and msg.hostname == 'hi'


def test_options_after_the_end_marker_are_ignored():
    msg = p.parse(_with_options(b'\x35\x01\x01\xff\x0c\x02hi'))
    assert msg.hostname is None


def test_things_that_are_not_bytes_are_refused_not_raised_on():
    for thing in (None, 'a string', 42, [1, 2]):
        assert p.parse(thing) is None
        assert p.parse_reason(thing)


def test_a_valid_request_has_no_parse_reason():
    assert p.parse_reason(UDHCPC_DISCOVER) is None


# -- never raising -------------------------------------------------------------

@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_random_bytes(data):
    assert p.parse(data) is None or isinstance(p.parse(data), p.DhcpMessage)
    p.parse_reply(data)
    p.parse_reason(data)


@settings(max_examples=1000)
@given(st.sampled_from(REAL_REQUESTS + [DNSMASQ_OFFER]),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=8),
       st.integers(0, 400), st.booleans())
def test_parse_never_raises_on_mutated_real_packets(frame, flips, cut, fix_checksum):
    data = bytearray(frame)
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    data = bytes(data[:len(data) - cut])
    if fix_checksum and len(data) >= 34:
        data = _set_ip_checksum(data)
    for fn in (p.parse, p.parse_reply):
        result = fn(data)
        assert result is None or isinstance(result, p.DhcpMessage)


@settings(max_examples=1000)
@given(st.binary(max_size=400))
def test_parse_never_raises_on_arbitrary_options_behind_a_valid_header(raw_options):
    msg, why = p.try_parse(_with_options(raw_options))
    assert (msg is None) != (why == '')


@settings(max_examples=300)
@given(st.integers(0, 2 ** 32 - 1), st.binary(min_size=6, max_size=6),
       st.sampled_from([p.DISCOVER, p.REQUEST, p.INFORM, p.RELEASE, p.DECLINE]),
       st.booleans(), st.lists(st.integers(1, 254), max_size=40))
def test_every_request_built_here_parses_back(xid, mac, mtype, broadcast, prl):
    chaddr = p.mac_to_str(mac)
    frame = p.build_request(mtype, xid, chaddr, broadcast=broadcast,
                            param_request_list=prl)
    msg = p.parse(frame)
    assert (msg.xid, msg.chaddr, msg.message_type, msg.broadcast) == \
        (xid, chaddr, mtype, broadcast)
    assert msg.param_request_list == tuple(prl)
    assert p.checksums_ok(frame)


def _checksum_by_words(data: bytes) -> int:
    """RFC 1071 as written: sum the 16-bit words, fold the carries, complement."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def test_the_internet_checksum_equals_the_word_by_word_sum_for_every_length_and_edge():
    import random
    rng = random.Random(1071)
    edges = [b'', b'\0\0', b'\xff\xff', b'\xff\xff' * 10, b'\0\x01\xff\xfe', b'\x80']
    samples = edges + [rng.randbytes(n) for n in list(range(64)) * 50 + [1500] * 20]
    assert all(ip_checksum(d) == _checksum_by_words(d) for d in samples)
