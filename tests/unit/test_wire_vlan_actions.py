"""The service port's return actions: a reg_move with bit offsets, pop_vlan
and output to a register.

They are encoded byte for byte as os-ken's NXActionRegMove / OFPActionPopVlan
/ NXActionOutputReg, Open vSwitch's own parser reads them as we mean them,
the table simulator executes them as OVS does (checked against a real
ofproto/trace, whose text `vnetctl trace --switch` reads) and refuses what
OVS refuses.
"""
import subprocess

import pytest
from os_ken.ofproto import nicira_ext
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.explain.live import parse_trace
from controller.openflow import wire
from controller.openflow.ofsim import FakeSwitch, PrerequisiteError
from controller.pipeline.flows import Move, Output, OutputReg, PopVlan, SetField, flow
from tests import osken_reference as ref


class FakeDatapath:
    ofproto, ofproto_parser, id = ofp, parser, 1


DP = FakeDatapath()
PRESENT = 0x1000
SERVICE_PORT = 9
# what the lead's classifier installs for frames from the service port
RETURN = (Move('vlan_vid', 'reg5', 12), Move('vlan_pcp', 'reg5', 3, 0, 12), PopVlan(),
          OutputReg('reg5', 15))
RETURN_FLOW = flow(0, 1000, RETURN, in_port=SERVICE_PORT, vlan_vid=(PRESENT, PRESENT))


def osken_bytes(action) -> bytes:
    buf = bytearray()
    action.serialize(buf, 0)
    return bytes(buf)


def osken(msg, xid=0x42):
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


# -- wire ----------------------------------------------------------------------

@pytest.mark.parametrize('ours, theirs', [
    (Move('vlan_vid', 'reg5', 12), parser.NXActionRegMove(src_field='vlan_vid', dst_field='reg5', n_bits=12)),
    (Move('vlan_pcp', 'reg5', 3, 0, 12),
     parser.NXActionRegMove(src_field='vlan_pcp', dst_field='reg5', n_bits=3, src_ofs=0, dst_ofs=12)),
    (Move('reg5', 'eth_dst', 8, 4, 40),
     parser.NXActionRegMove(src_field='reg5', dst_field='eth_dst', n_bits=8, src_ofs=4, dst_ofs=40)),
    (PopVlan(), parser.OFPActionPopVlan()),
    (OutputReg('reg5', 15),
     parser.NXActionOutputReg(ofs_nbits=nicira_ext.ofs_nbits(0, 14), src='reg5', max_len=0xffff)),
    (OutputReg('reg3', 32),
     parser.NXActionOutputReg(ofs_nbits=nicira_ext.ofs_nbits(0, 31), src='reg3', max_len=0xffff)),
], ids=repr)
def test_each_new_action_is_os_kens_bytes(ours, theirs):
    assert wire.actions_bytes([ours]) == osken_bytes(theirs)


def test_an_output_to_a_register_is_24_bytes_with_the_nicira_layout():
    raw = wire.actions_bytes([OutputReg('reg5', 15)])
    assert raw.hex() == ('ffff' '0018' '00002320' '000f' '000e' '00010a04' 'ffff' '000000000000')


def test_the_service_return_flow_is_byte_identical_to_os_ken():
    assert wire.flow_add(RETURN_FLOW, 0x42) == osken(ref.flow_add(DP, RETURN_FLOW))
    per_network = flow(10, 120, (SetField('eth_dst', '0a:76:6e:01:00:00'), Move('in_port', 'eth_dst', 16),
                                 Output(SERVICE_PORT)), metadata=0x2ceb8c)
    assert wire.flow_add(per_network, 0x42) == osken(ref.flow_add(DP, per_network))


@pytest.mark.parametrize('bad', [OutputReg('reg5', 0), OutputReg('reg5', 33), OutputReg('reg99', 4)],
                         ids=repr)
def test_an_output_to_a_register_we_cannot_encode_is_a_clear_wire_error(bad):
    with pytest.raises(wire.WireError, match='reg'):
        wire.actions_bytes([bad])


def _ofp_print(msg: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(['ovs-ofctl', 'ofp-print', msg.hex()], capture_output=True, text=True,
                          check=True)


def test_open_vswitch_reads_the_return_flow_as_we_mean_it():
    text = _ofp_print(wire.flow_add(RETURN_FLOW)).stdout
    assert 'in_port=9,vlan_tci=0x1000/0x1000' in text
    assert ('actions=move:OXM_OF_VLAN_VID[]->NXM_NX_REG5[0..11],'
            'move:OXM_OF_VLAN_PCP[]->NXM_NX_REG5[12..14],pop_vlan,output:NXM_NX_REG5[0..14]') in text
    text = _ofp_print(wire.flow_add(flow(10, 1, (Move('in_port', 'eth_dst', 16),)))).stdout
    assert 'actions=move:OXM_OF_IN_PORT[0..15]->NXM_OF_ETH_DST[0..15]' in text


def test_open_vswitch_refuses_a_pcp_move_without_a_tag_in_the_match_and_so_does_the_simulator():
    untagged = flow(0, 1000, RETURN, in_port=SERVICE_PORT)
    done = _ofp_print(wire.flow_add(untagged))
    assert 'OFPBAC_MATCH_INCONSISTENT' in done.stdout
    with pytest.raises(PrerequisiteError, match='vlan_pcp'):
        FakeSwitch([untagged])


def test_describe_spells_the_new_actions_like_ovs_ofctl():
    assert RETURN_FLOW.describe().endswith(
        '-> move:vlan_vid->reg5,move:vlan_pcp[0..2]->reg5[12..14],pop_vlan,output:reg5[0..14]')


# -- the simulator ---------------------------------------------------------------

def tagged_frame(vid, pcp, **fields):
    return dict(in_port=SERVICE_PORT, eth_src='52:54:00:00:00:09', eth_dst='52:54:00:00:00:01',
                eth_type=0x0800, vlan_vid=PRESENT | vid, vlan_pcp=pcp, **fields)


def test_a_tagged_frame_from_the_service_port_leaves_untagged_by_the_port_its_tag_names():
    switch = FakeSwitch([RETURN_FLOW])
    [(port, pkt)] = switch.run(tagged_frame(5, 2))
    assert port == 5 + (2 << 12) == 8197
    assert 'vlan_vid' not in pkt and 'vlan_pcp' not in pkt
    assert pkt['reg5'] == 8197
    assert pkt['eth_dst'] == '52:54:00:00:00:01'


def test_after_pop_vlan_the_frame_matches_as_untagged():
    # table 1 tells a tagged frame from an untagged one, as the classifier does
    flows = [flow(0, 10, (PopVlan(),), goto=1, in_port=SERVICE_PORT),
             flow(1, 20, (Output(1),), vlan_vid=0),
             flow(1, 10, (Output(2),), vlan_vid=(PRESENT, PRESENT))]
    [(port, pkt)] = FakeSwitch(flows).run(tagged_frame(7, 1))
    assert port == 1
    # without the pop the same frame is tagged
    flows[0] = flow(0, 10, (), goto=1, in_port=SERVICE_PORT)
    assert [port for port, _ in FakeSwitch(flows).run(tagged_frame(7, 1))] == [2]


def test_an_output_to_a_register_reads_only_its_low_bits_and_never_hairpins():
    flows = [flow(0, 10, (SetField('reg3', 0xabc0000 | 4), OutputReg('reg3', 16)), in_port=1),
             flow(0, 10, (SetField('reg3', 2), OutputReg('reg3', 16)), in_port=2)]
    switch = FakeSwitch(flows)
    assert [port for port, _ in switch.run({'in_port': 1})] == [4]
    assert switch.run({'in_port': 2}) == []          # the port it came in by


def test_a_move_with_offsets_replaces_only_the_bits_it_names():
    flows = [flow(0, 10, (SetField('reg5', 0xffffffff), Move('reg4', 'reg5', 8, 4, 12),
                          Output(3)), in_port=1)]
    [(_, pkt)] = FakeSwitch(flows).run({'in_port': 1, 'reg4': 0xa5f})
    assert pkt['reg5'] == 0xfffa5fff


def test_a_move_into_a_mac_writes_its_low_bits_and_keeps_it_a_mac():
    flows = [flow(0, 10, (SetField('eth_dst', '0a:76:6e:01:00:00'), Move('in_port', 'eth_dst', 16),
                          Output(9)), in_port=0x1234)]
    [(_, pkt)] = FakeSwitch(flows).run({'in_port': 0x1234, 'eth_dst': 'ff:ff:ff:ff:ff:ff'})
    assert pkt['eth_dst'] == '0a:76:6e:01:12:34'


def test_whole_field_moves_keep_the_spelling_of_addresses():
    flows = [flow(0, 10, (Move('eth_src', 'eth_dst', 48), Move('ipv4_src', 'ipv4_dst', 32),
                          Move('ipv4_dst', 'reg0', 32), Output(2)), in_port=1, eth_type=0x0800)]
    [(_, pkt)] = FakeSwitch(flows).run({'in_port': 1, 'eth_type': 0x0800, 'eth_src': '52:54:00:00:00:0a',
                                        'eth_dst': '52:54:00:00:00:0b', 'ipv4_src': '10.0.0.1',
                                        'ipv4_dst': '10.0.0.2'})
    assert (pkt['eth_dst'], pkt['ipv4_dst'], pkt['reg0']) == ('52:54:00:00:00:0a', '10.0.0.1', 0x0a000001)


@pytest.mark.parametrize('bad', [Move('vlan_vid', 'reg5', 13), Move('reg5', 'reg4', 8, 28, 0),
                                 Move('reg5', 'reg4', 8, 0, 25), OutputReg('reg5', 33),
                                 OutputReg('vlan_pcp', 4)], ids=repr)
def test_a_move_or_output_past_a_fields_width_is_refused_as_ovs_refuses_it(bad):
    with pytest.raises(PrerequisiteError, match='addresses bits'):
        FakeSwitch([flow(0, 1, (bad,), in_port=1, vlan_vid=(PRESENT, PRESENT))])


# -- vnetctl trace --switch: ofproto/trace of the same flow on Open vSwitch 3.1
# (captured from `ovs-ofctl add-flow` of it on a lab bridge; TRACE_OUT with the
# service port number and RETURN_FLOW's cookie written in) ----

TRACE_OUT = '''Flow: in_port=9,dl_vlan=5,dl_vlan_pcp=2,vlan_tci1=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0000

bridge("nla3ftr")
-----------------
 0. in_port=9,vlan_tci=0x1000/0x1000, priority 1000, cookie 0x766e0a017e325c42
    move:OXM_OF_VLAN_VID[]->NXM_NX_REG5[0..11]
     -> NXM_NX_REG5[0..11] is now 0x5
    move:OXM_OF_VLAN_PCP[]->NXM_NX_REG5[12..14]
     -> NXM_NX_REG5[12..14] is now 0x2
    pop_vlan
    output:NXM_NX_REG5[0..14]
     -> output port is 8197

Final flow: reg5=0x2005,in_port=9,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0000
Megaflow: recirc_id=0,eth,in_port=9,dl_vlan=5,dl_vlan_pcp=2,dl_type=0x0000
Datapath actions: pop_vlan,3
'''

TRACE_HAIRPIN = '''bridge("nle7btr")
-----------------
 0. in_port=1,vlan_tci=0x1000/0x1000, priority 1000
    move:OXM_OF_VLAN_VID[]->NXM_NX_REG5[0..11]
     -> NXM_NX_REG5[0..11] is now 0x1
    move:OXM_OF_VLAN_PCP[]->NXM_NX_REG5[12..14]
     -> NXM_NX_REG5[12..14] is now 0
    pop_vlan
    output:NXM_NX_REG5[0..14]
     -> output port is 1
     >> skipping output to input port

Final flow: reg5=0x1,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0000
Datapath actions: drop
'''


def test_a_switch_trace_of_an_output_to_a_register_leaves_by_the_port_ovs_names():
    parsed = parse_trace(TRACE_OUT)
    assert [(s.table, s.cookie) for s in parsed.steps] == [(0, RETURN_FLOW.cookie)]
    assert [port for port, _ in parsed.outputs] == [8197]
    # and the simulator agrees with Open vSwitch
    assert [port for port, _ in FakeSwitch([RETURN_FLOW]).run(tagged_frame(5, 2))] == [8197]


def test_a_switch_trace_of_an_output_to_a_register_naming_the_input_port_leaves_nowhere():
    assert parse_trace(TRACE_HAIRPIN).outputs == []


# -- vnetctl trace offline: a bridge with a service port ---------------------------

SERVICE_PORT_NUMBER = 99


def trace_with_service_port(path, request):
    """An offline trace where every bridge has its LOCAL port and a service port."""
    from controller.explain.packet import build
    from controller.explain.ports import numbered
    from controller.explain.source import load_located
    from controller.explain.walk import Walker
    from controller.pipeline.flows import OFPP_LOCAL
    from controller.pipeline.service_port import service_port_name

    loc = load_located(str(path))

    def ports_of(datapath):
        ports = numbered(datapath, loc.topology)
        ports.update({datapath: OFPP_LOCAL, service_port_name(datapath): SERVICE_PORT_NUMBER})
        return ports
    probe = build(loc.topology, request)
    walker = Walker(loc, ports_of)
    trace = walker.trace(probe)
    switch, ports, _ = walker.switch(probe.datapath)
    outputs = switch.run(dict(probe.fields, in_port=ports[probe.port]))
    return trace, outputs, ports[probe.port]


def test_an_offline_trace_of_dhcp_through_the_service_port_is_a_punt_with_its_reason():
    from controller.explain.packet import Request
    from tests.unit.cli_run import REPO
    t, [(port, pkt)], in_port = trace_with_service_port(REPO / 'topologies' / 'weave3.yml',
                                                        Request('red1', kind='dhcp'))
    assert t.verdict.kind == 'controller'
    [end] = t.endings
    assert end.what == 'service port host1-svc, punt reason DHCP_REQUEST (1)'
    assert port == SERVICE_PORT_NUMBER
    assert pkt['eth_src'] == '0a:76:6e:01:' + in_port.to_bytes(2, 'big').hex(':')   # the vif's MAC: put back by the controller


def test_a_dns_query_punted_by_the_shared_flow_carries_its_in_port_in_the_service_mac(tmp_path):
    from controller.explain.packet import Request
    from tests.unit.test_dns_service import TOPOLOGY
    path = tmp_path / 't.yml'
    path.write_text(TOPOLOGY)
    t, [(port, pkt)], in_port = trace_with_service_port(path, Request('vm1', kind='dns'))
    assert t.verdict.kind == 'controller' and 'DNS_QUERY (5)' in t.verdict.text
    # the one flow for every port moved in_port into the low 16 bits of the MAC
    assert any(isinstance(a, Move) and a.src == 'in_port' for s in t.steps if s.flow for a in s.flow.actions)
    assert port == SERVICE_PORT_NUMBER
    assert pkt['eth_dst'] == '0a:76:6e:05:' + in_port.to_bytes(2, 'big').hex(':')
