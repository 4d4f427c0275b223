"""ARP and ICMP time exceeded frames, and the resolver's back-off."""
import ipaddress
import struct

from controller.packets.arp import Arp, arp_request, parse_arp
from controller.packets.ethernet import ip_checksum
from controller.packets.ipv4 import parse_ipv4, time_exceeded
from controller.services.resolver import MAX_RETRY, Resolver


def ipv4_frame(src='172.16.1.1', dst='172.16.2.1', ttl=1, payload=b'12345678abcdef'):
    header = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, 0, ttl, 17, 0,
                                   ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed))
    struct.pack_into('!H', header, 10, ip_checksum(bytes(header)))
    eth = bytes.fromhex('52540000fe01' '525400000101' '0800')
    return eth + bytes(header) + payload


def test_an_arp_request_parses_back_to_what_was_asked():
    frame = arp_request('52:54:00:00:10:fe', '10.0.10.1', '10.0.10.254')
    assert parse_arp(frame) == Arp(1, '52:54:00:00:10:fe', ipaddress.IPv4Address('10.0.10.1'),
                                   '00:00:00:00:00:00', ipaddress.IPv4Address('10.0.10.254'))
    assert frame[:6] == b'\xff' * 6


def test_anything_but_an_ethernet_ipv4_arp_is_not_parsed():
    assert parse_arp(b'') is None
    assert parse_arp(ipv4_frame()) is None
    assert parse_ipv4(b'\x00' * 20) is None


def test_time_exceeded_quotes_the_header_and_8_bytes_and_has_valid_checksums():
    original = ipv4_frame()
    reply = time_exceeded(original, '52:54:00:00:01:fe', '172.16.1.254')
    ip, icmp = reply[14:34], reply[34:]
    assert reply[:6] == bytes.fromhex('525400000101') and reply[6:12] == bytes.fromhex('52540000 01fe'.replace(' ', ''))
    assert ip_checksum(ip) == 0 and ip_checksum(icmp) == 0
    assert ip[12:16] == ipaddress.IPv4Address('172.16.1.254').packed
    assert ip[16:20] == ipaddress.IPv4Address('172.16.1.1').packed
    assert icmp[0] == 11 and icmp[1] == 0
    assert icmp[8:] == original[14:14 + 20 + 8]


def test_no_time_exceeded_is_sent_to_an_unspecified_source():
    assert time_exceeded(ipv4_frame(src='0.0.0.0'), '52:54:00:00:01:fe', '172.16.1.254') is None


def test_an_address_is_asked_once_per_interval_and_the_interval_doubles_to_a_cap():
    r, key = Resolver(), ('br0', 110, '10.0.10.254')
    assert r.should_ask(key, 0.0)
    assert not r.should_ask(key, 0.5)
    assert r.should_ask(key, 1.0)
    assert not r.should_ask(key, 2.5)
    assert r.should_ask(key, 3.0)
    t = 3.0
    for _ in range(10):
        t += MAX_RETRY
        assert r.should_ask(key, t)
    assert not r.should_ask(key, t + MAX_RETRY - 0.1)


def test_an_answer_resets_the_back_off():
    r, key = Resolver(), 'k'
    r.should_ask(key, 0.0)
    r.answered(key)
    assert r.should_ask(key, 0.1)
