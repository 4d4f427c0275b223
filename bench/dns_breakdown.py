"""Where one DNS query's controller time goes, measured in-process (no switch):
os-ken parsing the packet-in, our PacketIn and dispatch, the dns service
(memo hit and cold), os-ken building and serialising the packet-out.

    .venv/bin/python -m bench.dns_breakdown [--count N]
"""
from __future__ import annotations

import argparse
import logging
import struct
import time
from typing import Callable

import dns.message
from os_ken.ofproto import ofproto_parser
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.packets.dhcp import build_frame
from controller.pipeline.punt import REASON_REG, Reason
from controller.services import PacketIn, build_registry
from controller.services.dns import DnsService
from controller.services.dns_zone import Zones, answer
from controller.topology import validate_text

TOPOLOGY = """\
datapaths: {br0: {dpid: 1}}
networks:
  net1: {ipv4: 172.16.1.0/24, domain_name: net1.internal}
interfaces:
  vm1: {network: net1, mac: "52:54:00:00:00:01", ipv4: 172.16.1.1, datapath: br0, port: p1}
  dns1: {network: net1, mode: simulated, mac: "52:54:00:00:00:53", ipv4: 172.16.1.53, services: [dns]}
"""


class _Datapath:
    ofproto, ofproto_parser, id = ofp, parser, 1

    def set_xid(self, msg):
        msg.set_xid(1)


class _Switch:
    label, dpid = 'br0', 1

    def interface_at(self, topology, ofport):
        return None

    def host_ports(self, topology, network):
        return ()


def packet_in_bytes(frame: bytes, vni: int) -> bytes:
    match = bytearray()
    parser.OFPMatch(in_port=1, metadata=vni, **{REASON_REG: int(Reason.DNS_QUERY)}).serialize(match, 0)
    body = struct.pack('!IHBBQ', ofp.OFP_NO_BUFFER, len(frame), ofp.OFPR_ACTION, 20, 0) + bytes(match) \
        + b'\0\0' + frame
    return struct.pack('!BBHI', ofp.OFP_VERSION, ofp.OFPT_PACKET_IN, 8 + len(body), 7) + body


def timed(count: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count * 1e6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m bench.dns_breakdown', description=__doc__.split('\n')[0])
    ap.add_argument('--count', type=int, default=5000)
    n = ap.parse_args(argv).count
    log = logging.getLogger('bench.dns_breakdown')
    topology = validate_text(TOPOLOGY, 'breakdown.yml')
    vni = topology.networks['net1'].vni
    query = dns.message.make_query('vm1.net1.internal', 'A').to_wire()
    frame = build_frame('52:54:00:00:00:01', '52:54:00:00:00:53', '172.16.1.1', '172.16.1.53', 40000,
                        53, query)
    dp, buf = _Datapath(), packet_in_bytes(frame, vni)
    header = ofproto_parser.header(buf)
    msg = ofproto_parser.msg(dp, *header, buf)
    registry = build_registry(log)
    zone = Zones(topology).get('net1')
    assert zone is not None

    def dispatch():
        m = msg.match
        packet = PacketIn(topology, _Switch(), m.get('in_port'), topology.network_by_vni(m.get('metadata', 0)),
                          bytes(msg.data), time.monotonic())
        return registry.dispatch(m.get(REASON_REG, 0), packet)
    frame_out = dispatch()[0].frame
    service = DnsService(log)
    packet = PacketIn(topology, _Switch(), 1, topology.networks['net1'], frame, time.monotonic())

    def packet_out():
        out = parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                  actions=[parser.OFPActionOutput(1, 0)], data=frame_out)
        dp.set_xid(out)
        out.serialize()
    rows = [('os-ken parses the packet-in', timed(n, lambda: ofproto_parser.msg(dp, *header, buf))),
            ('PacketIn + registry + dns service (memo hit)', timed(n, dispatch)),
            ('the dns service alone (memo hit)', timed(n, lambda: service(packet))),
            ('the answer through dnspython (no memo)', timed(max(1, n // 5), lambda: answer(zone, query))),
            ('os-ken builds and serialises the packet-out', timed(n, packet_out))]
    for label, us in rows:
        print(f'{label:<48} {us:7.1f} us')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
