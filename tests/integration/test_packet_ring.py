"""The service port's two ends on real devices: the RX ring it reads
(controller.services.packet_ring) and the vif devices it answers by
(controller.services.port_devices).  Each test works on a veth pair and a
tap made inside a lab namespace, and reads them from a thread that entered
it (in_netns), so nothing here touches the machine's own namespace."""
import socket
import time

import pytest

from controller.packets.ethernet import mac_to_str
from controller.services.packet_ring import SLOT_FRAME, PacketRing
from controller.services.port_devices import PortDevices, device_mac, system_device
from lab import Lab
from lab.netns import in_netns

ETH_P_ALL = 0x0003
TEST_ETHERTYPE = b'\x88\xb5'                    # IEEE local experimental
PEER_MAC = '02:00:00:77:00:02'


class Pair:
    """A namespace holding the veth pair rx0 <-> tx0 (MTU 9000) and the tap tap0."""

    def __init__(self, lab):
        bridge = lab.normal_bridge('rbr')
        self.host = lab.host('ring', bridge, lab.ifname('ring'), '02:00:00:77:00:01', None)
        for argv in (['ip', 'link', 'add', 'rx0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'tx0',
                      'mtu', '9000'],
                     ['ip', 'link', 'set', 'tx0', 'address', PEER_MAC],
                     ['sysctl', '-qw', 'net.ipv6.conf.rx0.disable_ipv6=1'],
                     ['sysctl', '-qw', 'net.ipv6.conf.tx0.disable_ipv6=1'],
                     ['ip', 'link', 'set', 'rx0', 'up'], ['ip', 'link', 'set', 'tx0', 'up'],
                     ['ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']):
            self.host.run(argv)

    def inside(self, fn):
        return in_netns(self.host.ns, fn)


@pytest.fixture(scope='module')
def pair():
    with Lab() as lab:
        yield Pair(lab)


def frame(n: int, size: int = 64) -> bytes:
    body = f'ring-test-{n:06d}'.encode()
    return b'\xff' * 6 + bytes.fromhex(PEER_MAC.replace(':', '')) + TEST_ETHERTYPE + body.ljust(size - 14, b'\0')


def sender() -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(('tx0', 0))
    return sock


def read_all(ring: PacketRing, want: int, seconds: float = 5.0) -> list:
    got: list = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += [f for f, _ in ring.frames(0.2) if f[12:14] == TEST_ETHERTYPE]
    return got


def test_frames_arrive_through_the_ring_in_order_across_many_turns_of_it(pair):
    def run():
        ring, out = PacketRing('rx0'), sender()
        try:
            got = []
            for start in range(0, 3000, 500):          # the ring has 1,024 slots: it wraps
                for n in range(start, start + 500):
                    out.send(frame(n))
                got += read_all(ring, 500)
            return got
        finally:
            ring.close()
            out.close()
    got = pair.inside(run)
    assert got == [frame(n) for n in range(3000)]


def test_each_frame_comes_with_how_long_it_waited_since_the_kernel_took_it(pair):
    def run():
        ring, out = PacketRing('rx0'), sender()
        try:
            out.send(frame(1))
            time.sleep(0.3)
            return [waited for f, waited in ring.frames(1.0) if f[12:14] == TEST_ETHERTYPE]
        finally:
            ring.close()
            out.close()
    [waited] = pair.inside(run)
    assert 0.25 <= waited < 2.0


def test_a_frame_longer_than_a_slot_is_counted_and_the_next_still_arrives(pair):
    def run():
        ring, out = PacketRing('rx0'), sender()
        try:
            out.send(frame(1, SLOT_FRAME + 500))
            out.send(frame(2))
            return read_all(ring, 1), ring.truncated
        finally:
            ring.close()
            out.close()
    got, truncated = pair.inside(run)
    assert got == [frame(2)] and truncated == 1


def test_what_the_ring_sends_it_never_reads_back_and_an_empty_ring_waits_its_timeout(pair):
    def run():
        ring = PacketRing('rx0')
        try:
            ring.send(frame(7))
            start = time.monotonic()
            seen = [f for f, _ in ring.frames(0.3) if f[12:14] == TEST_ETHERTYPE]
            return seen, time.monotonic() - start
        finally:
            ring.close()
    seen, took = pair.inside(run)
    assert seen == [] and 0.25 <= took < 2.0


def test_a_device_that_goes_away_under_the_ring_is_reported_as_an_error(pair):
    pair.host.run(['ip', 'link', 'add', 'gone0', 'type', 'veth', 'peer', 'name', 'gone1'])
    pair.host.run(['ip', 'link', 'set', 'gone0', 'up'])

    def run():
        ring = PacketRing('gone0')
        try:
            pair.host.run(['ip', 'link', 'del', 'gone0'])
            with pytest.raises(OSError):
                ring.frames(2.0)
        finally:
            ring.close()
    pair.inside(run)


def test_a_veth_with_the_switchs_mac_is_a_device_to_answer_by_and_a_tap_or_a_stranger_is_not(pair):
    def run():
        tap_mac = _mac_of('tap0')
        return (system_device('tx0', PEER_MAC), system_device('tx0', '02:00:00:77:00:99'),
                system_device('tap0', tap_mac), system_device('nosuch0', PEER_MAC))
    assert pair.inside(run) == (True, False, False, False)


class _Switch:
    def __init__(self, names, macs):
        self.names, self.macs = names, macs

    def port_name(self, number):
        return self.names.get(number)


def test_an_answer_by_the_ports_device_arrives_on_its_peer_and_a_port_without_one_gets_none(pair):
    def run():
        ring = PacketRing('rx0')
        devices = PortDevices(_Switch({5: 'tx0', 6: 'tap0', 7: 'gone0'},
                                      {'tx0': PEER_MAC, 'tap0': _mac_of('tap0'), 'gone0': PEER_MAC}))
        try:
            sock = devices.socket_for(5)
            sock.send(frame(5))
            got = read_all(ring, 1)
            return got, devices.socket_for(6), devices.socket_for(7)
        finally:
            devices.close()
            ring.close()
    got, tap, gone = pair.inside(run)
    assert got == [frame(5)] and tap is None and gone is None


def test_answers_by_device_can_be_turned_off(pair):
    devices = PortDevices(_Switch({5: 'tx0'}, {'tx0': PEER_MAC}), enabled=False)
    assert pair.inside(lambda: devices.socket_for(5)) is None


def _mac_of(name: str) -> str:
    """A device's MAC as the switch would report it (right for the calling thread's namespace)."""
    found = device_mac(name)
    assert found is not None, f'no device {name} here'
    return mac_to_str(found)
