"""A switch session: read back, then sync with bundles that commit all or nothing."""
import logging
import struct

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.openflow.session import MAX_REREADS, State, SwitchSession
from tests.unit.factories import overlapping


class Port:
    def __init__(self, no, name):
        self.port_no, self.name = no, name.encode()


class RecordingDatapath:
    ofproto, ofproto_parser, id = ofp, parser, 1

    def __init__(self):
        self.sent, self.xid = [], 0
        self.ports = {i: Port(i, f'p-vm{i}') for i in range(1, 5)}

    def set_xid(self, msg):
        self.xid += 1
        msg.set_xid(self.xid)

    def send_msg(self, msg):
        if msg.xid is None:
            self.set_xid(msg)
        self.sent.append(msg)

    def send(self, buf):
        """One write of many messages: decode their headers to see what was sent."""
        at = 0
        while at < len(buf):
            msg_type, length, xid = struct.unpack_from('!xBHI', buf, at)
            self.sent.append(Sent(_name(buf, at, msg_type), xid))
            at += length


class Sent:
    def __init__(self, name, xid):
        self.name, self.xid = name, xid


_TYPES = {14: 'OFPFlowMod', 15: 'OFPGroupMod', 29: 'OFPMeterMod', 20: 'OFPBarrierRequest'}


def _name(buf, at, msg_type):
    if msg_type == ofp.OFPT_EXPERIMENTER:
        exp_type = struct.unpack_from('!I', buf, at + 12)[0]
        if exp_type == ofp.ONF_ET_BUNDLE_CONTROL:
            return f'ONFBundleCtrlMsg:{struct.unpack_from("!H", buf, at + 20)[0]}'
        return 'ONFBundleAddMsg'
    return _TYPES.get(msg_type, str(msg_type))


class Reply:
    def __init__(self, xid):
        self.xid = xid


def ready_session():
    dp = RecordingDatapath()
    session = SwitchSession(dp, 'br0', logging.getLogger('test'))
    session.state = State.READY
    return dp, session


def kinds(msgs):
    return [getattr(m, "name", type(m).__name__) for m in msgs]


def test_a_change_is_committed_only_after_the_switch_accepted_every_part():
    dp, session = ready_session()
    session.sync(overlapping(), 'connected')
    staged = kinds(dp.sent)
    assert staged[0] == f'ONFBundleCtrlMsg:{ofp.ONF_BCT_OPEN_REQUEST}'
    assert staged[-1] == 'OFPBarrierRequest'
    assert f'ONFBundleCtrlMsg:{ofp.ONF_BCT_COMMIT_REQUEST}' not in staged
    check = dp.sent[-1].xid
    dp.sent.clear()
    session.on_barrier(Reply(check))
    assert kinds(dp.sent) == [f'ONFBundleCtrlMsg:{ofp.ONF_BCT_COMMIT_REQUEST}', 'OFPBarrierRequest']


def test_a_refused_part_discards_the_whole_change():
    dp, session = ready_session()
    session.sync(overlapping(), 'connected')
    adds = [m for m in dp.sent if m.name == 'ONFBundleAddMsg']
    check = dp.sent[-1].xid
    session.on_error(Reply(adds[3].xid))
    dp.sent.clear()
    session.on_barrier(Reply(check))
    assert kinds(dp.sent)[0] == f'ONFBundleCtrlMsg:{ofp.ONF_BCT_DISCARD_REQUEST}'
    assert f'ONFBundleCtrlMsg:{ofp.ONF_BCT_COMMIT_REQUEST}' not in kinds(dp.sent)


def refuse_one_change(dp, session):
    """Sync from nothing, have the switch refuse a part, and confirm."""
    session.installed = type(session.installed)()
    dp.sent.clear()
    session.sync(overlapping(), 'connected')
    adds = [m for m in dp.sent if m.name == 'ONFBundleAddMsg']
    session.on_error(Reply(adds[0].xid))
    session.on_barrier(Reply(dp.sent[-1].xid))


def test_after_a_refused_change_the_session_re_reads_the_switch():
    dp, session = ready_session()
    refuse_one_change(dp, session)
    assert session.state is State.READING
    assert kinds(dp.sent)[-3:] == ['OFPFlowStatsRequest', 'OFPGroupDescStatsRequest',
                                   'OFPMeterConfigStatsRequest']


def test_a_session_whose_changes_keep_being_refused_gives_up_re_reading():
    dp, session = ready_session()
    for _ in range(MAX_REREADS + 1):
        session.state = State.READY
        refuse_one_change(dp, session)
    assert session.state is State.GAVE_UP
    assert 'OFPFlowStatsRequest' not in kinds(dp.sent)


def test_a_session_that_gave_up_is_ready_again_after_a_change_succeeds():
    dp, session = ready_session()
    session.state, session.rereads = State.GAVE_UP, MAX_REREADS + 1
    session.sync(overlapping(), 'connected')
    session.on_barrier(Reply(dp.sent[-1].xid))                 # the check: commit
    session.on_barrier(Reply(dp.sent[-1].xid))                 # the commit's barrier
    assert (session.state, session.rereads) == (State.READY, 0)


def test_a_retired_datapath_stays_until_the_removal_of_our_flows_is_committed():
    dp, session = ready_session()
    session.sync(overlapping(), 'connected')
    session.on_barrier(Reply(dp.sent[-1].xid))
    session.on_barrier(Reply(dp.sent[-1].xid))
    dp.sent.clear()
    session.retire('topology change')
    assert session.state is State.RETIRING
    assert f'ONFBundleCtrlMsg:{ofp.ONF_BCT_OPEN_REQUEST}' in kinds(dp.sent)
    session.on_barrier(Reply(dp.sent[-1].xid))
    assert kinds(dp.sent)[-2] == f'ONFBundleCtrlMsg:{ofp.ONF_BCT_COMMIT_REQUEST}'
    assert session.state is State.RETIRING
    session.on_barrier(Reply(dp.sent[-1].xid))
    assert session.state is State.RETIRED
    assert session.installed.flows == {}


def test_meters_are_sent_before_the_bundle_because_ovs_cannot_bundle_them():
    from tests.unit.test_pipeline_port_security import with_dhcp
    dp, session = ready_session()
    session.sync(with_dhcp(), 'connected')
    names = kinds(dp.sent)
    assert names.index('OFPMeterMod') < names.index(f'ONFBundleCtrlMsg:{ofp.ONF_BCT_OPEN_REQUEST}')


def test_without_bundles_the_messages_go_straight_out_in_a_safe_order():
    dp, session = ready_session()
    session.use_bundles = False
    session.sync(overlapping(), 'connected')
    names = kinds(dp.sent)
    assert 'ONFBundleAddMsg' not in names
    assert names.index('OFPGroupMod') < names.index('OFPFlowMod')
    assert names[-1] == 'OFPBarrierRequest'


def test_a_second_sync_with_nothing_new_sends_nothing():
    dp, session = ready_session()
    session.sync(overlapping(), 'connected')
    dp.sent.clear()
    session.sync(overlapping(), 'port modified')
    assert dp.sent == []


def test_the_interface_behind_a_port_number_follows_ports_being_replugged():
    dp, session = ready_session()
    topo = overlapping()
    assert session.interface_at(topo, 2).name == 'vm2'
    session.port_changed(Port(2, 'p-vm2'), deleted=True)
    assert session.interface_at(topo, 2) is None
    session.port_changed(Port(7, 'p-vm2'), deleted=False)
    assert session.interface_at(topo, 7).name == 'vm2'
    assert session.interface_at(topo, 99) is None


def test_a_missing_tunnel_port_is_logged_once_with_the_command_that_adds_it(caplog):
    from tests.unit.test_pipeline_tunnels import three_hosts
    dp = RecordingDatapath()
    dp.ports = {1: Port(1, 'p-r1'), 0xfffffffe: Port(0xfffffffe, 'br-int')}
    session = SwitchSession(dp, 'host1', logging.getLogger('test'))
    session.state = State.READY
    with caplog.at_level(logging.INFO, logger='test'):
        session.sync(three_hosts(), 'connected')
        session.sync(three_hosts(), 'port added')
        session.port_changed(Port(10, 'vxlan0'), deleted=False)
        session.sync(three_hosts(), 'port added')
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert ('ovs-vsctl add-port br-int vxlan0 -- set interface vxlan0 type=vxlan options:remote_ip=flow '
            'options:key=flow options:local_ip=198.18.1.1') in warnings[0]
    assert any('tunnel port vxlan0 found' in r.getMessage() for r in caplog.records)
