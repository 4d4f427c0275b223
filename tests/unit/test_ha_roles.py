"""Failover roles: generation ids, one connection's role, and the keeper that
sets roles on the switches as the election decides."""
import logging

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller.ha.keeper import RoleKeeper
from controller.ha.roles import UNDECIDED, Outcome, SessionRole, is_newer
from controller.openflow.role import Role, role_request
from controller.openflow.session import State, SwitchSession
from tests.unit.factories import overlapping
from tests.unit.test_switch_session import RecordingDatapath, kinds

LEAD = Outcome('me', 7, mine=True)
FOLLOW = Outcome('other', 7)


def test_a_higher_generation_is_newer_and_ids_may_wrap_around_64_bits():
    assert is_newer(8, 7) and not is_newer(7, 8) and not is_newer(7, 7)
    assert is_newer(2, (1 << 64) - 3)         # the switch reads the difference as signed


def test_the_leader_asks_for_master_and_a_follower_for_slave_with_the_leaders_generation():
    assert SessionRole().want(LEAD) == (Role.MASTER, 7)
    assert SessionRole().want(FOLLOW) == (Role.SLAVE, 7)


def test_nothing_is_asked_before_any_leader_is_known_and_nothing_is_asked_twice():
    role = SessionRole()
    assert role.want(UNDECIDED) is None
    assert role.want(LEAD) == (Role.MASTER, 7)
    assert role.want(LEAD) is None
    assert role.want(Outcome(None, 7)) == (Role.SLAVE, 7)    # stepping down


def test_only_a_confirmed_master_may_write():
    role = SessionRole()
    role.want(LEAD)
    assert not role.writable
    assert role.confirm(Role.MASTER, 7) is True
    assert role.writable
    role.want(Outcome(None, 7))                      # stepped down: no writes even before the reply
    assert not role.writable


def test_a_reply_to_a_request_since_replaced_is_ignored():
    role = SessionRole()
    role.want(LEAD)
    role.want(Outcome('newer', 9))
    assert role.confirm(Role.MASTER, 7) is False
    assert not role.writable


def test_a_refused_request_leaves_the_connection_read_only_and_is_asked_again_next_time():
    role = SessionRole()
    role.want(LEAD)
    role.confirm(Role.MASTER, 7)
    role.refused()
    assert not role.writable
    assert role.want(LEAD) == (Role.MASTER, 7)


def test_the_role_request_carries_the_role_and_generation_on_the_wire():
    dp = RecordingDatapath()
    msg = role_request(dp, Role.MASTER, 42)
    msg.serialize()
    assert (msg.role, msg.generation_id) == (ofp.OFPCR_ROLE_MASTER, 42)
    assert bytes(msg.buf)[1] == ofp.OFPT_ROLE_REQUEST and len(msg.buf) == 24


# -- the keeper over a session ------------------------------------------------

def keeper_and_session():
    dp = RecordingDatapath()
    session = SwitchSession(dp, 'br0', logging.getLogger('test'))
    keeper = RoleKeeper(logging.getLogger('test'))
    keeper.adopt(session)
    session.state = State.READY
    return keeper, session, dp


def reply(dp, role, generation):
    return parser.OFPRoleReply(dp, role=role.value, generation_id=generation)


def error(dp, err_type, code):
    return parser.OFPErrorMsg(dp, type_=err_type, code=code)


def test_a_session_sends_nothing_until_the_switch_confirms_us_as_master():
    keeper, session, dp = keeper_and_session()
    assert not session.sync(overlapping(), 'connected')
    assert dp.sent == []
    keeper.leadership(LEAD, [session])
    assert kinds(dp.sent) == ['OFPRoleRequest']
    assert (dp.sent[0].role, dp.sent[0].generation_id) == (ofp.OFPCR_ROLE_MASTER, 7)
    dp.sent.clear()
    assert not session.sync(overlapping(), 'asked, not yet confirmed')
    assert dp.sent == []


def test_once_master_is_confirmed_the_session_re_reads_the_switch_before_reconciling():
    keeper, session, dp = keeper_and_session()
    keeper.leadership(LEAD, [session])
    dp.sent.clear()
    assert keeper.on_reply(session, reply(dp, Role.MASTER, 7)) is True
    assert session.writable and session.state is State.READING
    assert session.read_reason == 'became master'
    assert kinds(dp.sent) == ['OFPFlowStatsRequest', 'OFPGroupDescStatsRequest',
                              'OFPMeterConfigStatsRequest']


def test_stepping_down_stops_every_write_at_once_and_tells_the_switch():
    keeper, session, dp = keeper_and_session()
    keeper.leadership(LEAD, [session])
    keeper.on_reply(session, reply(dp, Role.MASTER, 7))
    session.state = State.READY
    dp.sent.clear()
    keeper.leadership(Outcome(None, 7), [session])
    assert not session.writable
    assert kinds(dp.sent) == ['OFPRoleRequest'] and dp.sent[0].role == ofp.OFPCR_ROLE_SLAVE
    dp.sent.clear()
    session.sync(overlapping(), 'topology change')
    assert dp.sent == []


def test_a_stale_refusal_is_handled_as_a_newer_leader_and_never_counted_against_a_change():
    keeper, session, dp = keeper_and_session()
    keeper.leadership(LEAD, [session])
    handled = keeper.on_error(session, error(dp, ofp.OFPET_ROLE_REQUEST_FAILED, ofp.OFPRRFC_STALE))
    assert handled and keeper.refusals == 1
    keeper.on_reply(session, reply(dp, Role.MASTER, 7))      # a late reply changes nothing
    assert not session.writable


def test_a_write_refused_as_from_a_slave_makes_the_session_read_only():
    keeper, session, dp = keeper_and_session()
    keeper.leadership(LEAD, [session])
    keeper.on_reply(session, reply(dp, Role.MASTER, 7))
    assert keeper.on_error(session, error(dp, ofp.OFPET_BAD_REQUEST, ofp.OFPBRC_IS_SLAVE))
    assert not session.writable


def test_other_errors_are_left_to_the_session():
    keeper, session, dp = keeper_and_session()
    assert not keeper.on_error(session, error(dp, ofp.OFPET_FLOW_MOD_FAILED, 0))


def test_without_an_election_a_session_writes_as_before():
    dp = RecordingDatapath()
    session = SwitchSession(dp, 'br0', logging.getLogger('test'))
    session.state = State.READY
    assert session.writable
    session.sync(overlapping(), 'connected')
    assert 'OFPRoleRequest' not in kinds(dp.sent) and len(dp.sent) > 3
