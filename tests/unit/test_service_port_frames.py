"""The service port: its naming, the frames' port codes, and the thread's handling
(controller.pipeline.service_port, controller.services.service_port)."""
import logging

from controller.packets.dhcp import build_frame
from controller.pipeline.flows import OFPP_CONTROLLER, OFPP_LOCAL, Move, Output, SetField
from controller.pipeline.punt import REASON_REG, Reason
from controller.pipeline.service_port import (
    decode_service_mac,
    find_service_port,
    punt,
    return_tag,
    service_mac,
    service_port_name,
    tagged,
    without_service_port,
)
from controller.services.actions import SendFrame
from controller.services.registry import Registry
from controller.services.service_port import ServicePort

LOG = logging.getLogger('test')


def test_the_service_port_is_named_after_its_bridge_within_fifteen_characters():
    assert service_port_name('br-int') == 'br-int-svc'
    assert len(service_port_name('a-very-long-bridge')) == 15


def test_a_bridge_has_a_service_port_only_when_its_local_port_names_it_and_ports_fit_the_tag():
    ports = {'br0': OFPP_LOCAL, 'br0-svc': 7, 'vm1': 1}
    assert find_service_port(ports) == 7
    assert find_service_port({'br0-svc': 7, 'vm1': 1}) is None          # no LOCAL port: no bridge name
    assert find_service_port({'br0': OFPP_LOCAL, 'vm1': 1}) is None
    assert find_service_port(dict(ports, big=0x8000)) is None            # 15 bits cannot name port 32768
    assert without_service_port(ports) == {'br0': OFPP_LOCAL, 'vm1': 1}


def test_a_punt_goes_to_the_controller_or_carries_its_port_to_the_service_port():
    assert punt(Reason.DNS_QUERY, OFPP_CONTROLLER)[-1] == Output(OFPP_CONTROLLER)
    one_port = punt(Reason.DHCP_REQUEST, 9, in_port=300)
    assert one_port == (SetField(REASON_REG, 1), SetField('eth_src', '0a:76:6e:01:01:2c'), Output(9))
    shared = punt(Reason.DNS_QUERY, 9)
    assert Move('in_port', 'eth_dst', 16) in shared and shared[-1] == Output(9)


def test_the_port_codes_read_back_from_either_mac():
    frame = bytes.fromhex(service_mac(Reason.DNS_QUERY, 513).replace(':', '')) + bytes(6) + b'\x08\x00'
    assert decode_service_mac(frame) == (5, 513, False)
    frame = bytes(6) + bytes.fromhex(service_mac(Reason.DHCP_REQUEST, 4).replace(':', '')) + b'\x08\x00'
    assert decode_service_mac(frame) == (1, 4, True)
    assert decode_service_mac(bytes(14)) is None and decode_service_mac(b'\x0a\x76') is None


def test_the_return_tag_puts_the_low_twelve_bits_in_the_vid_and_the_next_three_in_the_pcp():
    assert return_tag(5) == b'\x81\x00\x10\x05'
    assert return_tag(5 + (2 << 12)) == b'\x81\x00\x50\x05'
    assert tagged(b'D' * 6 + b'S' * 6 + b'\x08\x00rest', 5) == b'D' * 6 + b'S' * 6 + b'\x81\x00\x10\x05\x08\x00rest'


class _Iface:
    def __init__(self, name, mac, network):
        self.name, self.mac, self.network = name, mac, network


class _Topology:
    networks = {'net1': 'NET1'}


class _Switch:
    label, dpid, service_port_open = 'br0', 1, True

    def __init__(self, ports, writable):
        self.ports, self.writable, self.macs = ports, writable, {}

    def interface_at(self, topology, ofport):
        return self.ports.get(ofport)

    def port_name(self, number):
        iface = self.ports.get(number)
        return iface.name if iface is not None else None

    def host_ports(self, topology, network):
        return []


class _Sock:
    def __init__(self, fails=False):
        self.sent, self.fails = [], fails

    def send(self, frame):
        if self.fails:
            raise OSError(19, 'No such device')
        self.sent.append(frame)


class _Devices:
    """Port number -> the socket on its device (absent: no device here)."""
    def __init__(self, sockets=None):
        self.sockets, self.failures = dict(sockets or {}), []

    def socket_for(self, port):
        return self.sockets.get(port)

    def failed(self, port):
        self.failures.append(port)
        self.sockets.pop(port, None)


def _port(ports, handler, writable=True, devices=None):
    registry = Registry(LOG)
    registry.register(Reason.DHCP_REQUEST, handler)
    later = []
    port = ServicePort('br0-svc', _Switch(ports, writable), lambda: _Topology(), registry,
                       later.append, LOG)
    port._ring = _Sock()
    port.devices = devices or _Devices()
    return port, later


def _dhcp_frame(src_code_port):
    frame = build_frame('52:54:00:00:00:01', 'ff:ff:ff:ff:ff:ff', '0.0.0.0', '255.255.255.255', 68, 67,
                        b'x' * 20)
    return frame[:6] + bytes.fromhex(service_mac(Reason.DHCP_REQUEST, src_code_port).replace(':', '')) + frame[12:]


def test_a_dhcp_request_gets_its_vifs_mac_back_and_the_answer_leaves_tagged_for_its_port():
    seen = []

    def handler(packet):
        seen.append(packet)
        return [SendFrame(packet.in_port, b'R' * 12 + b'\x08\x00answer')]
    port, later = _port({3: _Iface('vm1', '52:54:00:00:00:01', 'net1')}, handler)
    port.handle(_dhcp_frame(3))
    [packet] = seen
    assert packet.frame[6:12] == bytes.fromhex('525400000001') and packet.frame[:6] == b'\xff' * 6
    assert packet.in_port == 3 and packet.network == 'NET1'
    assert port._ring.sent == [b'R' * 12 + return_tag(3) + b'\x08\x00answer'] and later == []


def test_frames_without_a_code_or_from_an_unknown_port_are_counted_and_never_answered():
    calls = []
    port, later = _port({}, lambda p: calls.append(p) or [])
    port.handle(b'\x00' * 60)
    port.handle(_dhcp_frame(3))                # port 3 is no interface
    assert calls == [] and port._ring.sent == [] and port.counts['foreign'] == 2


def test_an_answer_leaves_by_the_ports_own_device_untagged_and_by_the_switch_once_that_fails():
    vm1 = _Iface('vm1', '52:54:00:00:00:01', 'net1')
    device = _Sock()
    port, later = _port({3: vm1}, lambda p: [SendFrame(3, b'R' * 12 + b'\x08\x00answer')],
                        devices=_Devices({3: device}))
    port.handle(_dhcp_frame(3))
    assert device.sent == [b'R' * 12 + b'\x08\x00answer'] and port._ring.sent == []
    assert port.counts['answered'] == port.counts['answered_by_device'] == 1
    port.devices.sockets[3] = _Sock(fails=True)          # the device went away
    port.handle(_dhcp_frame(3))
    assert port.devices.failures == [3]
    assert port._ring.sent == [b'R' * 12 + return_tag(3) + b'\x08\x00answer']
    assert port.counts['answered'] == 2 and port.counts['answered_by_device'] == 1
    assert later == []


def test_a_repeated_query_is_answered_from_the_services_memory_without_its_handler():
    calls = []
    vm1 = _Iface('vm1', '52:54:00:00:00:01', 'net1')
    registry = Registry(LOG)
    remembered = {b'again': b'R' * 12 + b'\x08\x00remembered'}
    registry.register(Reason.DNS_QUERY, lambda p: calls.append(p) or [],
                      repeat=lambda topology, network, frame, waited: remembered.get(frame[14:]))
    port = ServicePort('br0-svc', _Switch({3: vm1}, True), lambda: _Topology(), registry,
                       lambda a: None, LOG)
    port._ring, port.devices = _Sock(), _Devices()
    query = bytes.fromhex(service_mac(Reason.DNS_QUERY, 3).replace(':', '')) + bytes(6) + b'\x08\x00'
    port.handle(query + b'again')
    assert calls == [] and port._ring.sent == [b'R' * 12 + return_tag(3) + b'\x08\x00remembered']
    assert registry.counts == {'DNS_QUERY': 1}
    port.handle(query + b'first')
    assert len(calls) == 1 and registry.counts == {'DNS_QUERY': 2}


def test_only_a_writable_session_answers_and_an_answer_the_tag_cannot_carry_goes_to_the_event_thread():
    port, later = _port({3: _Iface('vm1', '52:54:00:00:00:01', 'net1')},
                        lambda p: [SendFrame(40000, b'R' * 14)], writable=False)
    port.handle(_dhcp_frame(3))
    assert port._ring.sent == [] and later == []
    port.switch.writable = True
    port.handle(_dhcp_frame(3))
    assert port._ring.sent == [] and later == [SendFrame(40000, b'R' * 14)]


class _Session:
    label, dpid, name, writable = 'br0', 1, 'br0', True
    service_port_open = None

    def __init__(self, ports):
        self.ports, self.macs = ports, {}

    def interface_at(self, topology, ofport):
        return None


def test_a_service_port_that_cannot_be_opened_here_is_not_used_by_the_pipeline(caplog):
    from controller.services.service_port import ServicePorts
    ports = ServicePorts(Registry(LOG), lambda: None, lambda dpid, action: None, LOG)
    session = _Session({'br0': OFPP_LOCAL, 'vm1': 1})
    ports.update(session)
    assert session.service_port_open is False and ports.open == {}
    session.ports['nosuchbr0-svc'] = 2                 # not this bridge's name: not its service port
    ports.update(session)
    assert session.service_port_open is False
    session.ports['br0-svc'] = 3                       # the bridge has one, but no such device here
    with caplog.at_level(logging.WARNING):
        ports.update(session)
    assert session.service_port_open is False and ports.open == {}
    assert 'cannot be opened here' in caplog.text and 'packet-ins' in caplog.text


def test_a_device_is_opened_only_when_its_mac_is_the_switch_ports():
    import pytest

    from controller.services.service_port import device_for
    assert device_for('lo', '00:00:00:00:00:00') == 'lo' and device_for('lo') == 'lo'
    with pytest.raises(OSError, match="another switch's port"):
        device_for('lo', '52:54:00:00:00:01')
    with pytest.raises(OSError, match='no device'):
        device_for('no-such-dev0')
