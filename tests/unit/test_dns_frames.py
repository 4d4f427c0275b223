"""The whole-frame memo of DNS answers (controller.services.dns_frames)."""
import struct

from controller.packets.dhcp import build_frame, checksums_ok
from controller.services.dns_frames import FrameMemo, query_key

CLIENT_MAC, SERVER_MAC = '52:54:00:00:00:01', '52:54:00:00:00:53'


def query(ident: int, ip_id: int, name: bytes = b'\x03vm1\x04test\x00', sport: int = 40000) -> bytes:
    wire = struct.pack('!HHHHHH', ident, 0x0100, 1, 0, 0, 0) + name + b'\x00\x01\x00\x01'
    return build_frame(CLIENT_MAC, SERVER_MAC, '10.0.0.1', '10.0.0.53', sport, 53, wire, ident=ip_id)


def answer(ident: int) -> bytes:
    wire = (struct.pack('!HHHHHH', ident, 0x8580, 1, 1, 0, 0) + b'\x03vm1\x04test\x00\x00\x01\x00\x01'
            + struct.pack('!HHHIH', 0xc00c, 1, 1, 0, 4) + bytes([10, 0, 0, 7]))
    return build_frame(SERVER_MAC, CLIENT_MAC, '10.0.0.53', '10.0.0.1', 53, 40000, wire)


def test_a_repeated_query_gets_the_answer_a_fresh_build_gives_with_its_own_id():
    memo = FrameMemo()
    memo.put('net1', query(7, 100), 'answer', answer(7))
    for ident in (0, 1, 0x1234, 0xfffe, 0xffff):
        kind, frame = memo.get('net1', query(ident, 555))
        assert kind == 'answer'
        assert frame == answer(ident)
        assert checksums_ok(frame)


def test_another_question_port_or_network_is_not_a_repeat():
    memo = FrameMemo()
    memo.put('net1', query(7, 100), 'answer', answer(7))
    assert memo.get('net2', query(7, 100)) is None
    assert memo.get('net1', query(7, 100, name=b'\x03vm2\x04test\x00')) is None
    assert memo.get('net1', query(7, 100, sport=40001)) is None


def test_frames_with_ip_options_are_never_remembered():
    options = bytearray(query(7, 100))
    options[14] = 0x46
    assert query_key(bytes(options)) is None
    memo = FrameMemo()
    memo.put('net1', bytes(options), 'answer', answer(7))
    assert memo.get('net1', bytes(options)) is None
