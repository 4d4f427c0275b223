"""The service port: DHCP and DNS answered through a socket, not packet-ins.

A punt through the OpenFlow channel costs ovs-vswitchd an upcall, a
packet-in and a packet-out (~80 µs of its one main thread per query,
measured), twice what forwarding the same query to dnsmasq costs.  So a
bridge may carry one OVS internal port, named `service_port_name(bridge)`
(`vnetctl setup` and the lab create it); the controller reads and writes
frames on it with a packet socket (controller.services.service_port), and the
frames cross OVS like any forwarded frame.

Both directions carry the vif's OpenFlow port number in the frame itself:
- to the service port, a MAC becomes SERVICE_MAC_PREFIX, the punt's reason,
  and the port the frame came in on.  A flow for one vif port (DHCP) writes
  it over the source MAC, which the classifier has already checked is the
  vif's own, so the controller puts it back from the topology, and the
  destination (broadcast or the server's MAC) stays for the DHCP server to
  check.  A flow that serves every port of a network (DNS, uplinks
  included) writes the destination, copying 16 bits of in_port;
- from it, an 802.1Q tag whose VID holds the low 12 bits of the port to send
  to and whose PCP the next 3: one flow (SERVICE_RETURN_PRIORITY in the
  classifier) pops the tag and outputs to that port.  So ports above
  MAX_SERVICE_PORT (32767) cannot be answered this way, and a datapath with
  one falls back to packet-ins.
A frame from the service port without a tag is dropped: only the controller
writes there, and the kernel's own chatter on the device goes nowhere.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

from controller.pipeline import tables
from controller.pipeline.drops import Drop
from controller.pipeline.flows import OFPP_CONTROLLER, OFPP_LOCAL, Move, Output, OutputReg, PopVlan, SetField, flow
from controller.pipeline.punt import REASON_REG, Reason, to_controller

SERVICE_PORT_SUFFIX = '-svc'
IFNAMSIZ = 15                           # Linux interface names
MAX_SERVICE_PORT = 0x7fff               # VID (12 bits) + PCP (3 bits)
SERVICE_MAC_PREFIX = b'\x0a\x76\x6e'    # locally administered, unicast; "vn"
SERVICE_RETURN_PRIORITY = 1000          # above every classifier flow
PORT_REG = 'reg5'                       # the return flow's scratch register
VLAN_PRESENT = 0x1000


def service_port_name(bridge: str) -> str:
    """The service port of `bridge`: its name, cut to fit, + '-svc'."""
    return bridge[:IFNAMSIZ - len(SERVICE_PORT_SUFFIX)] + SERVICE_PORT_SUFFIX


def bridge_of(ports: Mapping[str, int]) -> str:
    """The bridge's name: its LOCAL port's ('' if the switch did not report it)."""
    return next((name for name, number in ports.items() if number == OFPP_LOCAL), '')


def find_service_port(ports: Mapping[str, int]) -> Optional[int]:
    """The service port's number among a switch's ports (name -> number), if
    the bridge has one and every port number fits the return tag."""
    bridge = bridge_of(ports)
    if not bridge:
        return None
    found = ports.get(service_port_name(bridge))
    if found is None or any(n > MAX_SERVICE_PORT for n in ports.values() if n != OFPP_LOCAL):
        return None
    return found


def without_service_port(ports: Mapping[str, int]) -> Mapping[str, int]:
    """`ports` less the service port: what the pipeline sees while nobody answers on it
    (`ports` itself, not a copy, when the bridge has none: this runs at every compile)."""
    bridge = bridge_of(ports)
    svc = service_port_name(bridge) if bridge else None
    if svc not in ports:
        return ports
    return {name: number for name, number in ports.items() if name != svc}


def service_mac(reason: Reason, ofport: int = 0) -> str:
    """The destination MAC a punted frame carries to the service port."""
    raw = SERVICE_MAC_PREFIX + bytes([int(reason)]) + ofport.to_bytes(2, 'big')
    return ':'.join(f'{b:02x}' for b in raw)


def punt(reason: Reason, target: int, in_port: Optional[int] = None) -> Tuple:
    """The actions that send a frame to its service: to the controller
    (target OFPP_CONTROLLER), or to the service port numbered `target`.
    Without `in_port` (a flow that serves many ports) the switch copies it."""
    if target == OFPP_CONTROLLER:
        return to_controller(reason)
    if in_port is not None:
        return (SetField(REASON_REG, int(reason)), SetField('eth_src', service_mac(reason, in_port)),
                Output(target))
    return (SetField(REASON_REG, int(reason)), SetField('eth_dst', service_mac(reason)),
            Move('in_port', 'eth_dst', 16), Output(target))


def decode_service_mac(frame: bytes) -> Optional[Tuple[int, int, bool]]:
    """(reason, in_port, whether the source MAC carried them) from a frame
    read on the service port, or None."""
    if len(frame) < 14:
        return None
    if frame[:3] == SERVICE_MAC_PREFIX:
        return frame[3], int.from_bytes(frame[4:6], 'big'), False
    if frame[6:9] == SERVICE_MAC_PREFIX:
        return frame[9], int.from_bytes(frame[10:12], 'big'), True
    return None


def return_tag(ofport: int) -> bytes:
    """The 802.1Q tag a frame written to the service port carries to leave by `ofport`."""
    tci = (ofport & 0xfff) | VLAN_PRESENT | (ofport >> 12) << 13
    return b'\x81\x00' + tci.to_bytes(2, 'big')


def tagged(frame: bytes, ofport: int) -> bytes:
    """`frame` with its return tag after the two MACs."""
    return frame[:12] + return_tag(ofport) + frame[12:]


def service_port_flows(view):
    """The classifier's flows for frames from the bridge's service port (a DatapathView's)."""
    service_port = view.service_port
    if service_port is None:
        return
    yield flow(tables.CLASSIFIER, SERVICE_RETURN_PRIORITY,
               (Move('vlan_vid', PORT_REG, 12), Move('vlan_pcp', PORT_REG, 3, 0, 12), PopVlan(),
                OutputReg(PORT_REG, 15)),
               in_port=service_port, vlan_vid=(VLAN_PRESENT, VLAN_PRESENT))
    yield flow(tables.CLASSIFIER, SERVICE_RETURN_PRIORITY - 1, drop=Drop.SERVICE_PORT,
               in_port=service_port)
